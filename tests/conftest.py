import pytest

from tests import services


@pytest.fixture
def kafka() -> str:
    services.require(services.KAFKA)
    return services.KAFKA_BOOTSTRAP


@pytest.fixture
def redis_url() -> str:
    services.require(services.REDIS)
    return services.redis_url("unit")
