from pydantic import field_validator

from certflow.core.time_zones import UnknownTimeZone, iana_zone
from certflow.platform.settings import CommonSettings


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

    @field_validator("default_time_zone")
    @classmethod
    def _zone_known(cls, value: str) -> str:
        if value:
            try:
                iana_zone(value)
            except UnknownTimeZone as exc:
                raise ValueError(str(exc)) from None
        return value
