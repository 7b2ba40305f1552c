"""Settings shared by every service, read once from CERTFLOW_* environment variables."""

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class CommonSettings(BaseSettings):
    """Dev defaults for one machine; production sets every value through the environment."""

    model_config = SettingsConfigDict(env_prefix="CERTFLOW_", frozen=True, extra="ignore")

    database_url: str = "sqlite:///.state/certflow.db"
    nats_url: str = "nats://127.0.0.1:4222"
    # Shared bearer token for internal gRPC calls; unset disables the check (dev only).
    internal_token: SecretStr | None = None
    log_level: str = "INFO"
    # Prometheus scrape endpoint (/metrics) on this port; 0: none (OTLP metrics are separate:
    # OTEL_METRICS_EXPORTER=otlp)
    metrics_port: int = Field(default=0, ge=0, le=65535)
    # address the gRPC server binds; 0.0.0.0 in containers, 127.0.0.1 on a dev machine
    grpc_host: str = "0.0.0.0"
    # How long a stopping service waits for in-flight work before it exits.
    shutdown_grace_seconds: float = 10.0
    # gRPC server reflection (needs the internal token when one is set); off in production
    grpc_reflection: bool = True
    # JetStream servers holding a copy of the CERTS stream (ensure_stream): 1 for a single
    # server; 3 on a 3-node cluster (production) survives losing one. JetStream allows 1 to 5.
    stream_replicas: int = Field(default=1, ge=1, le=5)
