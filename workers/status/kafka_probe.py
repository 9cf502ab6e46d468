"""Kafka's part of `marketplace status`: the brokers, the bridge's group and its lag, and the
dead-letter topic, all asked through one admin client."""

from __future__ import annotations

import socket
import time

from kafka import KafkaAdminClient, TopicPartition
from kafka.admin import OffsetSpec

from marketplace.events import topics
from workers.kafka_clients import connection_config
from workers.settings import Settings
from workers.status.check import TIMEOUT_MS, Check, guarded, short

DEAD_LETTER_WINDOW_SECONDS = 3600


def kafka_checks(settings: Settings) -> list[Check]:
    if not settings.kafka_enabled:
        return [Check("kafka", True, "disabled (KAFKA_ENABLED=false): no bridge, nothing sent")]
    if not any(_listening(server) for server in settings.bootstrap_servers):
        # Asked first: kafka-python's bootstrap would wait its timeout and leak its sockets.
        where = settings.kafka_bootstrap_servers
        return [Check("kafka", False, f"unreachable: no broker accepts connections at {where}")]
    try:
        admin = KafkaAdminClient(
            **connection_config(settings),
            request_timeout_ms=TIMEOUT_MS,
            bootstrap_timeout_ms=TIMEOUT_MS,
        )
    except Exception as error:
        where = settings.kafka_bootstrap_servers
        return [Check("kafka", False, f"unreachable at {where}: {short(error)}")]
    try:
        brokers = admin.describe_cluster()["brokers"]
        checks = [Check("kafka", True, f"{len(brokers)} brokers", {"brokers": len(brokers)})]
        checks += guarded("lag", lambda: [_lag(admin, settings)])
        checks += guarded("bridge", lambda: [_bridge(admin, settings)])
        checks += guarded("dead letters", lambda: [_dead_letters(admin, settings)])
        checks += guarded("topics", lambda: [_records(admin, settings)])
        return checks
    except Exception as error:
        return [Check("kafka", False, f"unreachable: {short(error)}")]
    finally:
        admin.close()


def _listening(server: str) -> bool:
    host, _, port = server.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=TIMEOUT_MS / 1000):
            return True
    except OSError:
        return False


def _partitions(
    admin: KafkaAdminClient, names: list[str]
) -> tuple[list[TopicPartition], list[str]]:
    found, missing = [], []
    for topic in admin.describe_topics(names):
        if topic["error_code"]:
            missing.append(topic["name"])
            continue
        found += [TopicPartition(topic["name"], p["partition_index"]) for p in topic["partitions"]]
    return found, missing


def _lag(admin: KafkaAdminClient, settings: Settings) -> Check:
    """Records on the consumed topics the bridge's group has not committed yet."""
    group = settings.kafka_consumer_group
    partitions, missing = _partitions(admin, [topic.name for topic in topics.CONSUMED])
    ends = admin.list_partition_offsets(dict.fromkeys(partitions, OffsetSpec.LATEST))
    starts = admin.list_partition_offsets(dict.fromkeys(partitions, OffsetSpec.EARLIEST))
    committed = admin.list_group_offsets({group: partitions}).get(group, {})
    lag: dict[str, int] = {}
    for tp in partitions:
        done = committed.get(tp)
        position = done.offset if done is not None and done.offset >= 0 else starts[tp].offset
        lag[tp.topic] = lag.get(tp.topic, 0) + max(ends[tp].offset - position, 0)
    total = sum(lag.values())
    if missing:
        summary = f"topics missing: {', '.join(sorted(missing))} (`marketplace topics create`)"
    else:
        summary = f"{total} records behind on {len(lag)} topics (group {group})"
    return Check("lag", not missing, summary, {"group": group, "topics": lag, "missing": missing})


def _records(admin: KafkaAdminClient, settings: Settings) -> Check:
    """Records ever written to each catalog topic (its partitions' end offsets): their rate is
    the pipeline's throughput in and out."""
    names = [topic.name for topic in topics.ALL]
    partitions, missing = _partitions(admin, names)
    ends = admin.list_partition_offsets(dict.fromkeys(partitions, OffsetSpec.LATEST))
    records = dict.fromkeys(sorted(set(names) - set(missing)), 0)
    for tp in partitions:
        records[tp.topic] += ends[tp].offset
    inbound = sum(records.get(topic.name, 0) for topic in topics.CONSUMED)
    outbound = sum(records.get(topic.name, 0) for topic in topics.PRODUCED)
    summary = f"{inbound} records written to the consumed topics, {outbound} to the produced"
    if missing:
        summary += f"; missing: {', '.join(sorted(missing))}"
    return Check("topics", not missing, summary, {"records": records, "missing": missing})


def _bridge(admin: KafkaAdminClient, settings: Settings) -> Check:
    group = settings.kafka_consumer_group
    described = admin.describe_groups([group]).get(group, {})
    members = len(described.get("members") or [])
    state = described.get("group_state") or "unknown"
    details = {"group": group, "members": members, "state": state}
    if members:
        return Check("bridge", True, f"{members} members of group {group} ({state})", details)
    return Check("bridge", False, f"no member in group {group} ({state}): is it running?", details)


def _dead_letters(admin: KafkaAdminClient, settings: Settings) -> Check:
    topic = settings.kafka_dlq_topic
    partitions, missing = _partitions(admin, [topic])
    if missing:
        return Check(
            "dead letters", False, f"topic {topic} is missing (`marketplace topics create`)"
        )
    hour_ago_ms = int((time.time() - DEAD_LETTER_WINDOW_SECONDS) * 1000)
    ends = admin.list_partition_offsets(dict.fromkeys(partitions, OffsetSpec.LATEST))
    starts = admin.list_partition_offsets(dict.fromkeys(partitions, OffsetSpec.EARLIEST))
    since = admin.list_partition_offsets(dict.fromkeys(partitions, hour_ago_ms))
    total = sum(ends[tp].offset - starts[tp].offset for tp in partitions)
    recent = sum(ends[tp].offset - since[tp].offset for tp in partitions if since[tp].offset >= 0)
    summary = f"{recent} in the last hour, {total} kept on {topic}"
    return Check(
        "dead letters", True, summary, {"topic": topic, "last_hour": recent, "kept": total}
    )
