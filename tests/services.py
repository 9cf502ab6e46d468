"""Which real services a test needs, and what happens when one is missing.

Locally a missing service skips the test with the command that starts it; under `CI=true`
it fails, so a broken provisioning step can never pass as a green, mostly-skipped run.
"""

from __future__ import annotations

import os
import socket

import pytest

# Another stack (a second checkout's private services) is chosen with these variables.
KAFKA = ("Kafka", "127.0.0.1", int(os.environ.get("TEST_KAFKA_PORT", "9092")))
REDIS = ("Redis", "127.0.0.1", int(os.environ.get("TEST_REDIS_PORT", "6379")))
POSTGRES = ("PostgreSQL", "127.0.0.1", int(os.environ.get("TEST_POSTGRES_PORT", "5432")))
KAFKA_BOOTSTRAP = f"{KAFKA[1]}:{KAFKA[2]}"

REDIS_DATABASES = {
    "pipeline": int(os.environ.get("IT_REDIS_DB", "15")),  # sessions at once: pick another
    "kafka-outage": 14,
    "scale-out": 13,
    "unit": 12,
    "kafka-off": 11,
    "crashes": 10,
    "broker-transport": 9,
    "dead-letters": 8,
    "bench-pipeline": 7,
    "bench-enqueue": 6,
    "tracing": 5,
}
"""Every Redis database a test or benchmark uses, one each, so none empties another's."""


def redis_url(purpose: str) -> str:
    return f"redis://{REDIS[1]}:{REDIS[2]}/{REDIS_DATABASES[purpose]}"


POSTGRES_TEST_URL = os.environ.get(
    "TEST_POSTGRES_URL",
    f"postgresql+psycopg://marketplace:marketplace@127.0.0.1:{POSTGRES[2]}/marketplace_test",
)


def is_listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def require(service: tuple[str, str, int]) -> None:
    name, host, port = service
    if is_listening(host, port):
        return
    message = f"{name} is not reachable on {host}:{port}; start it with `make services`"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)
