"""Kafka clients from the settings: plain locally, MSK IAM in production, an idempotent producer."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, KafkaProducer
from kafka.net.sasl.oauth import AbstractTokenProvider, SaslMechanismOAuth

from marketplace.consumer import dead_letter
from workers import kafka_clients
from workers.msk_auth import MskIamTokenProvider
from workers.settings import Settings, load_settings

MSK_BROKER = "boot-gpm4u49z.c2.kafka-serverless.us-east-1.amazonaws.com:9098"


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Callable[..., Settings]:
    """`settings(**values)`: local PLAINTEXT settings, changed; no developer `.env` leaks in."""
    monkeypatch.chdir(tmp_path)

    def make(**values: Any) -> Settings:
        defaults: dict[str, Any] = {
            "kafka_bootstrap_servers": "127.0.0.1:9092",
            "kafka_security_protocol": "PLAINTEXT",
            "kafka_sasl_mechanism": None,
        }
        return load_settings(**{**defaults, **values})

    return make


@pytest.fixture
def msk(settings: Callable[..., Settings]) -> Settings:
    return settings(
        kafka_bootstrap_servers=MSK_BROKER,
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="OAUTHBEARER",
        aws_region="us-east-1",
    )


@pytest.fixture
def clients() -> Iterator[Callable[[Any], Any]]:
    """`clients(client)`: closes `client` at the end of the test."""
    opened: list[Any] = []

    def keep(client: Any) -> Any:
        opened.append(client)
        return client

    yield keep
    for client in opened:
        client.close()


def test_a_plaintext_connection_has_no_sasl(settings):
    config = kafka_clients.connection_config(settings(kafka_bootstrap_servers="a:9092,b:9092"))

    assert config == {
        "bootstrap_servers": ["a:9092", "b:9092"],
        "security_protocol": "PLAINTEXT",
        "client_id": "marketplace-svc",
        "reconnect_backoff_max_ms": kafka_clients.RECONNECT_BACKOFF_MAX_MS,
    }


def test_an_msk_connection_authenticates_with_an_iam_token_provider(msk):
    config = kafka_clients.connection_config(msk)

    assert config["bootstrap_servers"] == [MSK_BROKER]
    assert config["security_protocol"] == "SASL_SSL"
    assert config["sasl_mechanism"] == "OAUTHBEARER"
    provider = config["sasl_oauth_token_provider"]
    assert isinstance(provider, MskIamTokenProvider)
    assert isinstance(provider, AbstractTokenProvider)


def test_the_msk_token_is_signed_for_the_configured_region(settings, monkeypatch):
    regions: list[str] = []

    def signer(region: str) -> tuple[str, int]:
        regions.append(region)
        return "signed-token", 4_102_444_800_000

    def provider(region: str) -> MskIamTokenProvider:
        return MskIamTokenProvider(region, signer=signer)

    monkeypatch.setattr(kafka_clients, "MskIamTokenProvider", provider)
    eu = settings(
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="OAUTHBEARER",
        aws_region="eu-central-1",
    )

    mechanism = SaslMechanismOAuth(**kafka_clients.connection_config(eu))

    assert b"auth=Bearer signed-token" in mechanism.auth_bytes()
    assert regions == ["eu-central-1"]


@pytest.mark.kafka
def test_the_producer_waits_for_all_replicas_and_is_idempotent(kafka, settings, clients):
    producer: KafkaProducer = clients(
        kafka_clients.make_producer(settings(kafka_bootstrap_servers=kafka))
    )

    assert producer.config["acks"] == -1
    assert producer.config["enable_idempotence"] is True
    assert producer.config["bootstrap_servers"] == [kafka]
    assert producer.config["client_id"] == "marketplace-svc"


@pytest.mark.kafka
def test_the_producer_takes_a_record_of_the_limit_with_its_dead_letter_headers(
    kafka, settings, clients
):
    limit = 4 * 1024 * 1024
    producer = clients(
        kafka_clients.make_producer(
            settings(kafka_bootstrap_servers=kafka, kafka_max_record_bytes=limit)
        )
    )

    assert producer.config["max_request_size"] == limit + dead_letter.METADATA_ALLOWANCE_BYTES


@pytest.mark.kafka
def test_a_producer_option_can_be_overridden(kafka, settings, clients):
    producer = clients(
        kafka_clients.make_producer(settings(kafka_bootstrap_servers=kafka), linger_ms=0)
    )

    assert producer.config["linger_ms"] == 0
    assert producer.config["enable_idempotence"] is True


@pytest.mark.kafka
def test_the_consumer_never_commits_on_its_own_and_fetches_a_whole_record(kafka, settings, clients):
    consumer: KafkaConsumer = clients(
        kafka_clients.make_consumer(
            settings(
                kafka_bootstrap_servers=kafka,
                kafka_consumer_group="marketplace-svc-test",
                kafka_max_record_bytes=4 * 1024 * 1024,
            )
        )
    )

    assert consumer.config["group_id"] == "marketplace-svc-test"
    assert consumer.config["enable_auto_commit"] is False
    assert consumer.config["auto_offset_reset"] == "earliest"
    assert consumer.config["max_partition_fetch_bytes"] >= 4 * 1024 * 1024


@pytest.mark.kafka
def test_the_admin_client_reaches_the_broker(kafka, settings, clients):
    admin = clients(kafka_clients.make_admin(settings(kafka_bootstrap_servers=kafka)))

    assert admin.describe_cluster()["brokers"]
