from pydantic import Field, SecretStr, field_validator

from certflow.core.time_zones import UnknownTimeZone, iana_zone
from certflow.platform.settings import CommonSettings
from services.ingest.intake import GAS_PER_ANCHOR_TRANSACTION


class IngestSettings(CommonSettings):
    ingest_port: int = 50051
    issuer_id: str = "https://certflow.localhost/issuers/demo"
    issuer_name: str = "certflow Demo Academy"
    issuer_url: str = ""
    issuer_email: str = ""
    max_upload_bytes: int = 64 * 1024 * 1024
    max_rows_per_upload: int = 200_000
    # certificates per "certs.leaves", "certs.issued" and "certs.recipients" message (many ride
    # in one message; a message also closes at 512 KiB, well under NATS's 1 MB payload limit)
    leaves_per_message: int = 250
    # threads that parse and store uploads; the short RPCs keep the default executor's threads
    upload_workers: int = 2
    # accept addresses with a non-ASCII local part (jösé@…): only if the SMTP relay announces
    # SMTPUTF8; IDN domains (user@bücher.example) are accepted either way
    allow_smtputf8_addresses: bool = False
    # WatchBatch re-reads a watched batch this often without a change notice from this process
    # (the fallback for progress another replica stored)
    watch_poll_seconds: float = 2.0
    # the issuer's IANA time zone for rows without a time_zone column ("": notify's default);
    # emails of a batch that asks for business hours go in that zone's hours
    default_time_zone: str = ""
    # a dry run's anchoring estimate: certificates per anchoring transaction (anchor's window
    # size: the same variable, CERTFLOW_WINDOW_MAX_LEAVES), the gas of one transaction, and
    # anchor's gRPC address to ask the current base fee ("": the fee is shown as unknown)
    window_max_leaves: int = Field(default=200_000, ge=1)
    anchor_gas_per_transaction: int = Field(default=GAS_PER_ANCHOR_TRANSACTION, ge=1)
    anchor_address: str = ""
    # LMS intake (lms_http.py: xAPI statements and signed webhooks); port 0: no listener
    lms_http_host: str = "0.0.0.0"
    lms_http_port: int = Field(default=0, ge=0, le=65535)
    lms_max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    lms_max_statements: int = Field(default=500, ge=1)
    # derives each HMAC source's webhook secret (never stored); required for HMAC sources
    lms_secret_key: SecretStr | None = None
    lms_signature_tolerance_seconds: float = Field(default=300.0, gt=0)
    # how often immediate achievements left pending (a crash, an outage) are issued again
    lms_retry_seconds: float = Field(default=30.0, gt=0)
    # tries of an achievement whose issue hits an unexpected error before it is marked failed
    lms_issue_attempts: int = Field(default=10, ge=1)
    # how often due schedules are looked for (a firing runs at most this late)
    schedule_tick_seconds: float = Field(default=30.0, gt=0)
    # outbound webhooks (webhook_dispatcher.py): how often due deliveries are looked for, each
    # request's timeout, the retry schedule (first delay ×4 up to 6 h, given up after a day),
    # how long an endpoint fails before it is disabled, and plain http to loopback (dev only)
    webhook_poll_seconds: float = Field(default=2.0, gt=0)
    webhook_timeout_seconds: float = Field(default=10.0, gt=0)
    webhook_first_retry_seconds: float = Field(default=30.0, gt=0)
    webhook_give_up_seconds: float = Field(default=86_400.0, gt=0)
    webhook_disable_after_seconds: float = Field(default=5 * 86_400.0, gt=0)
    webhook_allow_http_loopback: bool = False

    @field_validator("default_time_zone")
    @classmethod
    def _zone_known(cls, value: str) -> str:
        if value:
            try:
                iana_zone(value)
            except UnknownTimeZone as exc:
                raise ValueError(str(exc)) from None
        return value
