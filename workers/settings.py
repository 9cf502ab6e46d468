"""The one typed settings object, read from the environment (and an optional `.env`).

Read by `load_settings()`; a worker process keeps its copy in `workers.runtime`. Nothing
below `workers` reads the environment. A bad value stops start-up with one message that names
every bad variable and what it accepts.
"""

from __future__ import annotations

import enum
import re

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from marketplace.errors import PermanentError
from workers import constants

ONE_MIB = 1024 * 1024


class SecurityProtocol(enum.StrEnum):
    PLAINTEXT = "PLAINTEXT"
    SSL = "SSL"
    SASL_SSL = "SASL_SSL"


class SaslMechanism(enum.StrEnum):
    OAUTHBEARER = "OAUTHBEARER"


class TracesExporter(enum.StrEnum):
    OTLP = "otlp"
    CONSOLE = "console"
    NONE = "none"


DEFAULT_FLOWER_PASSWORD = "marketplace"
"""Good for `make run` on a laptop and nowhere else (see `workers.flower_launcher`)."""


class SettingsError(PermanentError, ValueError):
    """The environment holds a value the pipeline cannot run with."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", frozen=True
    )

    kafka_enabled: bool = Field(
        False, description="Publish to Kafka; when false, events are skipped silently."
    )
    kafka_bootstrap_servers: str = Field(
        "127.0.0.1:9092", description="Comma-separated host:port list."
    )
    kafka_security_protocol: SecurityProtocol = Field(
        SecurityProtocol.PLAINTEXT, description="PLAINTEXT, SSL or SASL_SSL."
    )
    kafka_sasl_mechanism: SaslMechanism | None = Field(
        None, description="OAUTHBEARER for MSK IAM (with SASL_SSL)."
    )
    aws_region: str = Field("us-east-1", description="Region used to sign MSK IAM tokens.")
    kafka_consumer_group: str = Field(
        "marketplace-svc", min_length=1, description="The bridge's consumer group."
    )
    kafka_dlq_topic: str = Field(
        "eventzr.marketplace.dlq.v1", min_length=1, description="Dead-letter topic."
    )
    kafka_topic_partitions: int = Field(
        3, ge=1, le=1000, description="Partitions for `marketplace topics create`."
    )
    kafka_topic_replication: int = Field(
        1, ge=1, le=10, description="Replication factor for `marketplace topics create`."
    )
    kafka_max_record_bytes: int = Field(
        ONE_MIB, ge=1024, description="Largest inbound record accepted, in bytes."
    )
    redis_url: str = Field("redis://127.0.0.1:6379/0", description="Celery broker.")
    database_url: str = Field(
        "sqlite:///marketplace.db", description="SQLAlchemy URL; SQLite file by default."
    )
    event_source: str = Field(
        "marketplace-svc", min_length=1, description="CloudEvents `source` of what we publish."
    )
    task_max_retries: int = Field(
        8, ge=0, le=100, description="Retries of a transient failure before the dead letter."
    )
    task_max_age_seconds: int = Field(
        3600, ge=1, description="Age after which a retried task is dead-lettered."
    )
    broker_visibility_timeout_seconds: int = Field(
        7200,
        ge=10,
        description="Unacknowledged tasks (a killed worker's) are redelivered after this.",
    )
    inbound_batch_size: int = Field(
        constants.INBOUND_BATCH_SIZE,
        ge=1,
        le=1000,
        description="Most events the bridge (and redelivery) put in one task: one transaction.",
    )
    outbox_stale_seconds: int = Field(
        60, ge=1, description="Pending outbox rows older than this make beat ask for a publish."
    )
    flower_password: str = Field(
        DEFAULT_FLOWER_PASSWORD,
        min_length=1,
        description="Flower's basic-auth password (user admin); the default only on loopback.",
    )
    metrics_address: str = Field(
        "127.0.0.1",
        description="Where `marketplace metrics` (and a `--metrics-port` of the bridge or "
        "`marketplace consume`) listens; 0.0.0.0 in a container.",
    )
    metrics_port: int = Field(9108, ge=1, le=65535, description="Its port for `/metrics`.")
    # OpenTelemetry's own variables, read here only to decide whether tracing is on (see
    # `traces_exporter`); the SDK reads the rest (service name, sampler, headers) itself.
    otel_sdk_disabled: bool = Field(False, description="True turns tracing off whatever else.")
    otel_traces_exporter: TracesExporter | None = Field(
        None, description="otlp, console or none; unset: otlp if an OTLP endpoint is set."
    )
    otel_exporter_otlp_endpoint: str | None = Field(None, description="OTLP/HTTP collector.")
    otel_exporter_otlp_traces_endpoint: str | None = Field(
        None, description="OTLP/HTTP traces URL, instead of the endpoint's `/v1/traces`."
    )
    otel_exporter_otlp_protocol: str = Field(
        "http/protobuf", description="Only http/protobuf is installed."
    )
    otel_exporter_otlp_traces_protocol: str | None = Field(
        None, description="Only http/protobuf is installed."
    )

    @field_validator("kafka_bootstrap_servers")
    @classmethod
    def _host_ports(cls, value: str) -> str:
        for server in value.split(","):
            host, sep, port = server.strip().rpartition(":")
            if not (sep and host and port.isdigit()):
                raise ValueError(f"expected host:port[,host:port…], got {server.strip()!r}")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str) -> str:
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("expected a redis://, rediss:// or unix:// URL")
        return value

    @model_validator(mode="after")
    def _sasl_needs_tls(self) -> Settings:
        sasl = self.kafka_security_protocol is SecurityProtocol.SASL_SSL
        if sasl != (self.kafka_sasl_mechanism is not None):
            raise ValueError(
                "KAFKA_SASL_MECHANISM=OAUTHBEARER goes with KAFKA_SECURITY_PROTOCOL=SASL_SSL, "
                "and neither without the other"
            )
        return self

    @field_validator("otel_exporter_otlp_protocol", "otel_exporter_otlp_traces_protocol")
    @classmethod
    def _installed_protocol(cls, value: str | None) -> str | None:
        if value not in (None, "http/protobuf"):
            raise ValueError("only http/protobuf is installed (the OTLP/HTTP exporter)")
        return value

    @property
    def traces_exporter(self) -> TracesExporter:
        """Tracing is off unless asked for: by naming an exporter, or by giving an OTLP endpoint
        (the OpenTelemetry default exporter is OTLP, but a process must not send spans to a
        collector nobody configured)."""
        if self.otel_sdk_disabled:
            return TracesExporter.NONE
        if self.otel_traces_exporter is not None:
            return self.otel_traces_exporter
        endpoint = self.otel_exporter_otlp_traces_endpoint or self.otel_exporter_otlp_endpoint
        return TracesExporter.OTLP if endpoint else TracesExporter.NONE

    @property
    def bootstrap_servers(self) -> list[str]:
        return [server.strip() for server in self.kafka_bootstrap_servers.split(",")]

    @property
    def uses_msk_iam(self) -> bool:
        return self.kafka_sasl_mechanism is SaslMechanism.OAUTHBEARER


def load_settings(**overrides: object) -> Settings:
    """Build the settings, turning pydantic's report into one start-up message."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            if not error["loc"]:
                # A cross-field check: its input is every variable read, secrets included.
                problems.append(f"KAFKA_SASL_MECHANISM: {error['msg']}")
                continue
            variable = "_".join(str(part) for part in error["loc"]).upper()
            problems.append(f"{variable}: {error['msg']} (got {_redacted(error.get('input'))!r})")
        raise SettingsError("invalid settings: " + "; ".join(problems)) from None


def _redacted(value: object) -> object:
    """A bad URL is echoed without its password (`redis://user:***@host`)."""
    return _URL_PASSWORD.sub(r"\1***@", value) if isinstance(value, str) else value


_URL_PASSWORD = re.compile(r"(//[^/@:]*:)[^/@]*@")
