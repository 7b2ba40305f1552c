from pathlib import Path

from pydantic import SecretStr, ValidationInfo, field_validator

from certflow.platform.settings import CommonSettings
from services.notify import branding
from services.notify.dkim_signing import DkimKeyError, DkimSigner

# notify's settings that make up the default Branding, and the Branding field each one is
BRANDING_SETTINGS = {
    "mail_from_name": "name",
    "brand_logo_url": "logo_url",
    "brand_primary_colour": "primary_colour",
    "brand_primary_text_colour": "primary_text_colour",
    "support_email": "support_email",
    "support_url": "support_url",
    "reply_to": "reply_to",
    "list_unsubscribe_url": "unsubscribe_url",
    "list_unsubscribe_mailto": "unsubscribe_mailto",
}


class NotifySettings(CommonSettings):
    notify_port: int = 50053
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_username: str = ""
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False
    smtp_implicit_tls: bool = False
    # each SMTP command's reply; a whole send (connect, EHLO, login, MAIL, RCPT, DATA and the
    # body: several replies) is also cut off after half a claim lease (see send_deadline_seconds)
    smtp_timeout_seconds: float = 30.0
    # parallel SMTP connections, each reused for many messages
    smtp_connections: int = 4
    # ceiling on messages per second handed to the relay (providers throttle above theirs)
    rate_limit_per_second: float = 500.0
    mail_from: str = "certificates@certflow.localhost"
    # the issuer's branding in every email until issuer profiles come per batch (branding.py)
    mail_from_name: str = "certflow Demo Academy"  # From display name, heading and signature
    brand_logo_url: str = ""  # https (or http: a local stack); empty: no logo
    # #rrggbb colours: the header band and button, and the text on them
    brand_primary_colour: str = "#2f6fed"
    brand_primary_text_colour: str = "#ffffff"
    support_email: str = ""
    support_url: str = ""
    reply_to: str = ""  # Reply-To when set
    # RFC 8058 one-click unsubscribe, off unless set: an https URL (may contain
    # {certificate_id}) and/or a mailto address. Serving that URL is not notify's job yet.
    list_unsubscribe_url: str = ""
    list_unsubscribe_mailto: str = ""
    # DKIM signing, off unless a key file is given; the key is read at start, never logged
    dkim_selector: str = ""
    dkim_domain: str = ""  # default: mail_from's domain
    dkim_private_key_path: Path | None = None
    verify_base_url: str = "http://127.0.0.1:8080"
    # attempts the relay may judge (4xx/5xx to this message) before a delivery fails for good;
    # an unreachable relay spends none
    max_attempts: int = 8
    # backoff after the n-th counted attempt: base · 2^(n-1), capped
    retry_backoff_seconds: float = 10.0
    retry_backoff_max_seconds: float = 3600.0
    # a claim holds its deliveries this long unless its heartbeat renews it (every quarter);
    # a crashed notify's deliveries are due again within one lease. A send starts only with
    # half a lease left and is cut off after half a lease, so it never outlives the lease:
    # keep the lease above twice the slowest whole send you want to wait for.
    claim_lease_seconds: float = 60.0
    # relay circuit breaker: first probe after this, doubling up to the maximum
    relay_probe_seconds: float = 1.0
    relay_probe_max_seconds: float = 60.0
    # most deliveries in one claim (a claim is also sized to what the rate sends in half a lease)
    send_batch: int = 200
    # concurrent claim-render-send loops: one claims from the database while another sends
    sender_loops: int = 2
    # messages sent but whose outcome is not yet stored, across the process: the most a crash
    # (SIGKILL, power loss) can send twice; more lets the relay run ahead of database writes
    max_unrecorded_sends: int = 64

    @field_validator(*BRANDING_SETTINGS)
    @classmethod
    def _brand_value_safe_where_it_goes(cls, value: str, info: ValidationInfo) -> str:
        assert info.field_name is not None
        try:
            branding.check(BRANDING_SETTINGS[info.field_name], value)
        except branding.InvalidBranding as exc:
            raise ValueError(exc.problem) from None
        return value

    @field_validator("dkim_private_key_path")
    @classmethod
    def _dkim_key_signs(cls, path: Path | None, info: ValidationInfo) -> Path | None:
        """At start, not at the first message: the file is readable and its key signs."""
        if path is None:
            return None
        selector = info.data.get("dkim_selector", "")
        if not selector:
            raise ValueError("DKIM signing needs CERTFLOW_DKIM_SELECTOR too")
        domain = dkim_domain(info.data.get("dkim_domain", ""), info.data.get("mail_from", ""))
        try:
            DkimSigner.from_file(path, selector=selector, domain=domain)
        except DkimKeyError as exc:
            raise ValueError(str(exc)) from None
        return path

    @property
    def send_deadline_seconds(self) -> float:
        """The whole of one send, however many replies it waits for: half a claim lease."""
        return self.claim_lease_seconds / 2


def dkim_domain(configured: str, mail_from: str) -> str:
    """The signing domain (d=): the configured one, else the From address's (DMARC aligns)."""
    return configured or mail_from.rsplit("@", 1)[-1]
