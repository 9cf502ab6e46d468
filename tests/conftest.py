import pytest

from tests import services


@pytest.fixture
def kafka() -> str:
    services.require(services.KAFKA)
    return "127.0.0.1:9092"


@pytest.fixture
def redis_url() -> str:
    services.require(services.REDIS)
    return "redis://127.0.0.1:6379/12"  # a database no pipeline of the integration tests uses
