"""Settings: the documented defaults, read from the environment, all bad variables named at once."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from marketplace.errors import PermanentError
from workers import constants
from workers.settings import (
    SaslMechanism,
    SecurityProtocol,
    Settings,
    SettingsError,
    TracesExporter,
    load_settings,
)

VARIABLES = [name.upper() for name in Settings.model_fields]


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Callable[..., Settings]:
    """`environment(KAFKA_ENABLED="true", ...)`: the settings of a process started with just those.

    The developer's own variables and `.env` file are out of the picture: every settings
    variable is unset and the working directory is an empty temporary one.
    """
    monkeypatch.chdir(tmp_path)
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)

    def start(**variables: str) -> Settings:
        for name, value in variables.items():
            monkeypatch.setenv(name, value)
        return load_settings()

    return start


@pytest.fixture
def refused(environment: Callable[..., Settings]) -> Callable[..., str]:
    """`refused(KAFKA_...="bad")`: the one start-up message for an environment that cannot run."""

    def start(**variables: str) -> str:
        with pytest.raises(SettingsError) as caught:
            environment(**variables)
        return str(caught.value)

    return start


def test_the_defaults_are_the_documented_ones(environment):
    settings = environment()

    assert settings.kafka_enabled is False
    assert settings.kafka_bootstrap_servers == "127.0.0.1:9092"
    assert settings.bootstrap_servers == ["127.0.0.1:9092"]
    assert settings.kafka_security_protocol is SecurityProtocol.PLAINTEXT
    assert settings.kafka_sasl_mechanism is None
    assert settings.uses_msk_iam is False
    assert settings.kafka_consumer_group == "marketplace-svc"
    assert settings.kafka_dlq_topic == "eventzr.marketplace.dlq.v1"
    assert settings.redis_url == "redis://127.0.0.1:6379/0"
    assert settings.database_url.startswith("sqlite:///")
    assert settings.database_url.endswith(".db")
    assert settings.event_source == "marketplace-svc"
    assert settings.kafka_max_record_bytes == 1024 * 1024
    assert settings.inbound_batch_size == constants.INBOUND_BATCH_SIZE


def test_the_environment_is_read(environment):
    settings = environment(
        KAFKA_ENABLED="true",
        KAFKA_BOOTSTRAP_SERVERS="b-1.msk:9098, b-2.msk:9098",
        KAFKA_CONSUMER_GROUP="marketplace-svc-blue",
        KAFKA_DLQ_TOPIC="eventzr.marketplace.dlq.test",
        KAFKA_MAX_RECORD_BYTES="2048",
        REDIS_URL="rediss://cache.internal:6380/2",
        DATABASE_URL="postgresql+psycopg://m:m@db/marketplace",
        EVENT_SOURCE="marketplace-svc-eu",
        AWS_REGION="eu-west-1",
        INBOUND_BATCH_SIZE="7",
    )

    assert settings.kafka_enabled is True
    assert settings.bootstrap_servers == ["b-1.msk:9098", "b-2.msk:9098"]
    assert settings.kafka_consumer_group == "marketplace-svc-blue"
    assert settings.kafka_dlq_topic == "eventzr.marketplace.dlq.test"
    assert settings.kafka_max_record_bytes == 2048
    assert settings.redis_url == "rediss://cache.internal:6380/2"
    assert settings.database_url == "postgresql+psycopg://m:m@db/marketplace"
    assert settings.event_source == "marketplace-svc-eu"
    assert settings.aws_region == "eu-west-1"
    assert settings.inbound_batch_size == 7


@pytest.mark.parametrize("value", ["false", "0", "no"])
def test_kafka_stays_off_when_told_so(environment, value):
    assert environment(KAFKA_ENABLED=value).kafka_enabled is False


def test_a_dotenv_file_in_the_working_directory_is_read_below_the_environment(environment):
    Path(".env").write_text("KAFKA_ENABLED=true\nEVENT_SOURCE=from-dotenv\nAWS_REGION=eu-west-1\n")

    settings = environment(AWS_REGION="ap-south-1")

    assert settings.kafka_enabled is True
    assert settings.event_source == "from-dotenv"
    assert settings.aws_region == "ap-south-1"


def test_every_bad_variable_is_named_in_one_message(refused):
    message = refused(KAFKA_SECURITY_PROTOCOL="FOO", KAFKA_MAX_RECORD_BYTES="x")

    assert "KAFKA_SECURITY_PROTOCOL" in message
    assert "'FOO'" in message
    assert "KAFKA_MAX_RECORD_BYTES" in message
    assert "'x'" in message


def test_a_settings_error_is_permanent_and_a_value_error(environment):
    with pytest.raises(SettingsError) as caught:
        environment(KAFKA_ENABLED="maybe")

    assert isinstance(caught.value, PermanentError)
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("KAFKA_ENABLED", "maybe"),
        ("KAFKA_BOOTSTRAP_SERVERS", "kafka"),
        ("KAFKA_BOOTSTRAP_SERVERS", "a:9092,b:port"),
        ("KAFKA_MAX_RECORD_BYTES", "100"),
        ("KAFKA_CONSUMER_GROUP", ""),
        ("REDIS_URL", "http://127.0.0.1:6379/0"),
        ("EVENT_SOURCE", ""),
        ("KAFKA_SASL_MECHANISM", "PLAIN"),
        ("INBOUND_BATCH_SIZE", "0"),
        ("INBOUND_BATCH_SIZE", "1001"),
    ],
)
def test_a_bad_value_is_refused_by_name(refused, variable, value):
    message = refused(**{variable: value})

    assert message.startswith("invalid settings: ")
    assert variable in message
    assert [name for name in VARIABLES if f"{name}:" in message] == [variable]


def test_sasl_ssl_without_a_mechanism_is_refused(refused):
    message = refused(KAFKA_SECURITY_PROTOCOL="SASL_SSL")

    assert "KAFKA_SASL_MECHANISM" in message
    assert "SASL_SSL" in message


@pytest.mark.parametrize("protocol", ["PLAINTEXT", "SSL"])
def test_oauthbearer_without_sasl_ssl_is_refused(refused, protocol):
    message = refused(KAFKA_SECURITY_PROTOCOL=protocol, KAFKA_SASL_MECHANISM="OAUTHBEARER")

    assert "KAFKA_SASL_MECHANISM" in message
    assert "SASL_SSL" in message


def test_msk_iam_is_sasl_ssl_with_oauthbearer(environment):
    settings = environment(KAFKA_SECURITY_PROTOCOL="SASL_SSL", KAFKA_SASL_MECHANISM="OAUTHBEARER")

    assert settings.kafka_sasl_mechanism is SaslMechanism.OAUTHBEARER
    assert settings.uses_msk_iam is True


def test_a_cross_variable_error_does_not_echo_other_variables(refused):
    message = refused(
        KAFKA_SECURITY_PROTOCOL="SASL_SSL", DATABASE_URL="postgresql://m:s3cret@db/marketplace"
    )

    assert "s3cret" not in message


def test_settings_are_frozen(environment):
    with pytest.raises(ValueError):
        environment().kafka_enabled = True  # type: ignore[misc]


def test_explicit_values_win_over_the_environment(environment):
    environment(KAFKA_CONSUMER_GROUP="from-env")

    assert load_settings(kafka_consumer_group="explicit").kafka_consumer_group == "explicit"


def test_a_bad_url_is_echoed_without_its_password(refused):
    message = refused(REDIS_URL="http://broker:s3cret@cache.internal:6379/0")

    assert "s3cret" not in message
    assert "http://broker:***@cache.internal:6379/0" in message


@pytest.mark.parametrize(
    ("variables", "exporter"),
    [
        ({}, TracesExporter.NONE),  # off by default: no collector nobody configured
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, TracesExporter.OTLP),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"}, TracesExporter.OTLP),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": ""}, TracesExporter.NONE),  # compose's unset default
        ({"OTEL_TRACES_EXPORTER": "console"}, TracesExporter.CONSOLE),
        (
            {"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"},
            TracesExporter.NONE,
        ),  # fmt: skip
        ({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}, TracesExporter.NONE),
    ],
)
def test_tracing_is_on_only_when_the_otel_variables_ask_for_it(
    environment: Callable[..., Settings], variables: dict[str, str], exporter: TracesExporter
) -> None:
    assert environment(**variables).traces_exporter is exporter


def test_an_otlp_protocol_that_is_not_installed_is_refused_by_name(
    refused: Callable[..., str],
) -> None:
    message = refused(OTEL_EXPORTER_OTLP_PROTOCOL="grpc", OTEL_TRACES_EXPORTER="jaeger")

    assert "OTEL_EXPORTER_OTLP_PROTOCOL: Value error, only http/protobuf is installed" in message
    assert "OTEL_TRACES_EXPORTER" in message
