from datetime import time
from pathlib import Path

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator

from certflow.platform.settings import CommonSettings
from services.notify import branding
from services.notify.delivery_window import BusinessHours, UnknownTimeZone, time_zone
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
    # {certificate_id}, and {unsubscribe_token} for notify's own endpoint, see
    # unsubscribe_http_port) and/or a mailto address.
    list_unsubscribe_url: str = ""
    list_unsubscribe_mailto: str = ""
    # DKIM signing, off unless a key file is given; the key is read at start, never logged
    dkim_selector: str = ""
    dkim_domain: str = ""  # default: mail_from's domain
    dkim_private_key_path: Path | None = None
    verify_base_url: str = "http://127.0.0.1:8080"
    # a recipient whose certificate is revoked or replaced after its email is told so (one
    # notice, revocation_notices.py); off: "certs.revoked" is acked and nobody is emailed
    revocation_notices: bool = True
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
    # delivery windows (delivery_window.py): a batch that asks for business hours gets its
    # emails on these local days (Mon..Sun), between these local times, in each recipient's
    # IANA time zone (the row's, else ingest's default for the issuer, else this one)
    business_hours_days: str = "Mon,Tue,Wed,Thu,Fri"
    business_hours_opens: time = time(9, 0)
    business_hours_closes: time = time(17, 0)
    default_time_zone: str = "UTC"
    # per-recipient-domain pacing (domain_pacing.py), shared by every replica through notify's
    # database: messages per minute to one domain (0: unpaced), and per-domain overrides as
    # JSON, e.g. CERTFLOW_DOMAIN_RATE_OVERRIDES='{"gmail.com": 600, "uni.example": 0}'
    domain_rate_per_minute: float = Field(default=0.0, ge=0)
    domain_rate_overrides: dict[str, float] = Field(default_factory=dict)
    # bounce processing (docs/notify.md): messages leave with a VERP envelope sender under this
    # address (bounces+<delivery>-<n>-<mac>@domain; "" keeps MAIL FROM = mail_from, no VERP);
    # the listener takes delivery status notifications for it (port 0: no listener). The
    # bounce domain's MX (or the relay's bounce forwarding) points at the listener.
    bounce_address: str = ""
    bounce_listen_host: str = "0.0.0.0"
    bounce_listen_port: int = Field(default=0, ge=0, le=65535)
    bounce_max_bytes: int = Field(default=1_048_576, ge=10_000)  # bigger reports: 552
    # sessions at once (each buffers up to bounce_max_bytes); more are answered 421
    bounce_max_connections: int = Field(default=32, ge=1)
    # RFC 8058 one-click unsubscribe served by notify (unsubscribe.py; port 0: not served). Put
    # its public URL in list_unsubscribe_url with {unsubscribe_token}, e.g.
    # https://notify.example.org/unsubscribe/{unsubscribe_token}; expose only /unsubscribe/.
    unsubscribe_http_host: str = "0.0.0.0"
    unsubscribe_http_port: int = Field(default=0, ge=0, le=65535)
    # requests per second (and burst) from one peer address, beyond it 429; behind an ingress
    # the peer is the proxy, so all clients share it (one-click unsubscribes are few and spread
    # over days: the default leaves room)
    unsubscribe_rate_per_second: float = Field(default=5.0, gt=0)
    unsubscribe_rate_burst: int = Field(default=20, ge=1)
    # keys the VERP macs, the suppression list's address hashes and unsubscribe tokens; unset:
    # derived from the internal token (dev). Rotating it invalidates the bounce addresses of
    # messages in flight and detaches existing suppression entries: keep it stable.
    notify_secret: SecretStr | None = None

    @field_validator("bounce_address")
    @classmethod
    def _bounce_address_usable(cls, value: str) -> str:
        if value:
            from services.notify.bounces import BounceAddresses

            BounceAddresses(value, b"check")  # ValueError naming the problem
        return value

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

    @field_validator("business_hours_days")
    @classmethod
    def _days_named(cls, value: str) -> str:
        weekdays(value)
        return value

    @field_validator("default_time_zone")
    @classmethod
    def _zone_known(cls, value: str) -> str:
        try:
            time_zone(value)
        except UnknownTimeZone as exc:
            raise ValueError(str(exc)) from None
        return value

    @field_validator("business_hours_closes")
    @classmethod
    def _opens_before_closing(cls, closes: time, info: ValidationInfo) -> time:
        opens = info.data.get("business_hours_opens")
        if opens is not None and not opens < closes:
            raise ValueError("business hours must open before they close (same local day)")
        return closes

    @field_validator("domain_rate_overrides")
    @classmethod
    def _rates_not_negative(cls, value: dict[str, float]) -> dict[str, float]:
        if any(rate < 0 for rate in value.values()):
            raise ValueError("a domain's rate is messages per minute, 0 or more")
        return {domain.strip().lower(): rate for domain, rate in value.items()}

    @property
    def business_hours(self) -> BusinessHours:
        return BusinessHours(
            weekdays(self.business_hours_days),
            self.business_hours_opens,
            self.business_hours_closes,
        )

    @model_validator(mode="after")
    def _signing_needs_a_secret(self) -> "NotifySettings":
        """VERP addresses and unsubscribe links signed with the built-in dev secret could be
        forged by anyone who reads the source: a notify that hands them out needs a secret."""
        signs = bool(self.bounce_address or self.unsubscribe_http_port)
        configured = any(v is not None and v.get_secret_value() for v in self._secrets)
        if signs and not configured:
            raise ValueError(
                "bounce processing and the unsubscribe endpoint need CERTFLOW_NOTIFY_SECRET "
                "(or CERTFLOW_INTERNAL_TOKEN)"
            )
        return self

    @property
    def _secrets(self) -> tuple[SecretStr | None, ...]:
        return (self.notify_secret, self.internal_token)

    @property
    def secret(self) -> bytes:
        """notify's signing secret (see notify_secret); never logged."""
        for value in self._secrets:
            if value is not None and value.get_secret_value():
                return value.get_secret_value().encode()
        return b"certflow-dev-only-secret"

    @property
    def send_deadline_seconds(self) -> float:
        """The whole of one send, however many replies it waits for: half a claim lease."""
        return self.claim_lease_seconds / 2


def dkim_domain(configured: str, mail_from: str) -> str:
    """The signing domain (d=): the configured one, else the From address's (DMARC aligns)."""
    return configured or mail_from.rsplit("@", 1)[-1]


_DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def weekdays(names: str) -> frozenset[int]:
    """ "Mon,Tue,…" → weekday numbers (Monday = 0); ValueError naming what is not a day."""
    days = set()
    full = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
    for name in (n.strip().lower() for n in names.split(",") if n.strip()):
        if name not in _DAY_NAMES and name not in full:
            raise ValueError(f"{name!r} is not a weekday (Mon, Tue, … Sun)")
        days.add(_DAY_NAMES.index(name[:3]))
    if not days:
        raise ValueError("name at least one weekday (Mon, Tue, … Sun)")
    return frozenset(days)
