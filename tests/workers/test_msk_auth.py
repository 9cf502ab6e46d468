"""The MSK IAM token provider signs once, reuses the token and signs again before it expires."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from kafka.net.sasl.oauth import AbstractTokenProvider, SaslMechanismOAuth

from workers.msk_auth import MskIamTokenProvider

LIFETIME_SECONDS = 900
START = 1_800_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


class Signer:
    """Stands in for `MSKAuthTokenProvider.generate_auth_token`: numbered 15-minute tokens."""

    def __init__(self, clock: Clock, *, delay: float = 0.0) -> None:
        self.clock = clock
        self.delay = delay
        self.regions: list[str] = []
        self.failure: Exception | None = None

    def __call__(self, region: str) -> tuple[str, int]:
        time.sleep(self.delay)
        if self.failure is not None:
            raise self.failure
        self.regions.append(region)
        expiry_ms = int((self.clock.now + LIFETIME_SECONDS) * 1000)
        return f"token-{len(self.regions)}", expiry_ms


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def signer(clock: Clock) -> Signer:
    return Signer(clock)


@pytest.fixture
def provider(signer: Signer, clock: Clock) -> Callable[..., MskIamTokenProvider]:
    """`provider(region=..., refresh_margin_seconds=...)` signing with the fake signer and clock."""

    def make(region: str = "us-east-1", **options: float) -> MskIamTokenProvider:
        return MskIamTokenProvider(region, signer=signer, clock=clock, **options)

    return make


def test_the_provider_is_a_kafka_python_token_provider(provider):
    assert isinstance(provider(), AbstractTokenProvider)


def test_kafka_python_accepts_the_provider_and_sends_its_token(provider):
    mechanism = SaslMechanismOAuth(sasl_oauth_token_provider=provider())

    assert mechanism.auth_bytes() == b"n,,\x01auth=Bearer token-1\x01\x01"


def test_the_first_token_is_signed_for_the_region(provider, signer):
    assert provider("eu-west-1").token() == "token-1"
    assert signer.regions == ["eu-west-1"]


def test_the_token_is_reused_while_it_is_fresh(provider, signer, clock):
    tokens = provider(refresh_margin_seconds=120)

    first = tokens.token()
    clock.now += LIFETIME_SECONDS - 120 - 1
    second = tokens.token()

    assert first == second == "token-1"
    assert len(signer.regions) == 1


def test_a_new_token_is_signed_within_the_margin_before_expiry(provider, signer, clock):
    tokens = provider(refresh_margin_seconds=120)
    tokens.token()

    clock.now += LIFETIME_SECONDS - 120
    renewed = tokens.token()

    assert renewed == "token-2"
    assert len(signer.regions) == 2


def test_the_renewed_token_is_reused_in_its_turn(provider, signer, clock):
    tokens = provider(refresh_margin_seconds=120)
    tokens.token()
    clock.now += LIFETIME_SECONDS
    tokens.token()

    clock.now += 60

    assert tokens.token() == "token-2"
    assert len(signer.regions) == 2


def test_an_expired_token_is_never_handed_out(provider, clock):
    tokens = provider(refresh_margin_seconds=0)
    tokens.token()

    clock.now += LIFETIME_SECONDS + 3600

    assert tokens.token() == "token-2"


def test_a_failed_signing_is_raised_and_retried_on_the_next_call(provider, signer):
    tokens = provider()
    signer.failure = RuntimeError("no AWS credentials")

    with pytest.raises(RuntimeError, match="no AWS credentials"):
        tokens.token()
    signer.failure = None

    assert tokens.token() == "token-1"


def test_connections_opening_at_once_share_one_signing(clock):
    slow_signer = Signer(clock, delay=0.05)
    tokens = MskIamTokenProvider("us-east-1", signer=slow_signer, clock=clock)
    barrier = threading.Barrier(8)
    seen: list[str] = []

    def connect() -> None:
        barrier.wait()
        seen.append(tokens.token())

    threads = [threading.Thread(target=connect) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=5)

    assert seen == ["token-1"] * 8
    assert len(slow_signer.regions) == 1


def test_the_provider_sends_no_sasl_extensions(provider):
    assert provider().extensions() == {}
