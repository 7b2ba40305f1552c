"""Outbound webhooks, the pure part: events, Standard Webhooks signing, the retry schedule and
the address rules that keep a registrar's URL from reaching inside our network (SSRF).

Signing (https://www.standardwebhooks.com): each request carries `webhook-id` (stable across
retries and replays: receivers dedupe on it), `webhook-timestamp` (Unix seconds of this
attempt) and `webhook-signature: v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")>`,
where the key is the base64 part of the endpoint's `whsec_…` secret. While a rotated-out secret
is still valid, the header carries both signatures, space-separated (the spec's rotation).
"""

import base64
import hashlib
import hmac
import ipaddress
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from urllib.parse import urlsplit

from certflow.core.errors import invalid_field

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 24
MAX_URL_LENGTH = 2000
# certificates named in one certificate.* delivery (a 10,000-certificate batch: 10 posts)
CERTIFICATES_PER_DELIVERY = 1000
# the receiver's response body kept in the delivery log
EXCERPT_CHARS = 200


class WebhookEvent(StrEnum):
    BATCH_COMPLETED = "batch.completed"
    CERTIFICATE_ISSUED = "certificate.issued"
    CERTIFICATE_ANCHORED = "certificate.anchored"
    CERTIFICATE_DELIVERED = "certificate.delivered"
    CERTIFICATE_BOUNCED = "certificate.bounced"
    CERTIFICATE_REVOKED = "certificate.revoked"


class DeliveryState(StrEnum):
    PENDING = "pending"  # waiting for its next attempt
    DELIVERED = "delivered"  # a 2xx answer
    FAILED = "failed"  # gave up (a day of retries) or refused (SSRF); replay sends it again


# ---- secrets and signatures ----


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signature_header(secrets_: list[str], message_id: str, timestamp: int, body: bytes) -> str:
    """One signature per valid secret (the current one first), space-separated."""
    return " ".join(sign(s, message_id, timestamp, body) for s in secrets_)


def verify(
    secret: str,
    message_id: str,
    timestamp: str,
    body: bytes,
    header: str,
    *,
    now: int,
    tolerance: int = 300,
) -> bool:
    """What a receiver does (used by our tests, and a reference for docs/webhooks.md)."""
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    if abs(now - sent) > tolerance:
        return False
    expected = sign(secret, message_id, sent, body).encode()
    return any(hmac.compare_digest(expected, s.encode()) for s in header.split(" "))


# ---- retries ----


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    first_delay: timedelta = timedelta(seconds=30)
    factor: float = 4.0
    max_delay: timedelta = timedelta(hours=6)
    give_up_after: timedelta = timedelta(days=1)
    # an endpoint whose every delivery failed for this long is disabled
    disable_after: timedelta = timedelta(days=5)


def next_attempt(
    policy: RetryPolicy, *, created_at: datetime, attempts: int, now: datetime
) -> datetime | None:
    """When to try a delivery again after its `attempts`-th failure; None: give up (a day after
    it was created). 30 s, 2 min, 8 min, 32 min, ~2 h, 6 h, 6 h, … with the defaults."""
    delay = policy.first_delay * (policy.factor ** max(attempts - 1, 0))
    at = now + min(delay, policy.max_delay)
    if at - created_at > policy.give_up_after:
        return None
    return at


def should_disable(policy: RetryPolicy, failing_since: datetime | None, now: datetime) -> bool:
    return failing_since is not None and now - failing_since >= policy.disable_after


# ---- SSRF ----

# cloud metadata services that are not link-local (AWS's IPv6 one; 169.254.169.254 is)
METADATA_ADDRESSES = frozenset({ipaddress.ip_address("fd00:ec2::254")})


def check_url(url: str, *, allow_http_loopback: bool) -> tuple[str, str, int]:
    """(scheme, host, port) of an endpoint URL, or InvalidInput saying why not. https only;
    http only when the dev setting allows it, and then only for a loopback host."""
    if len(url) > MAX_URL_LENGTH or not url.isprintable():
        raise invalid_field("url", f"a printable URL of at most {MAX_URL_LENGTH} characters")
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        raise invalid_field("url", "the port is not a number from 0 to 65535") from None
    host = parts.hostname or ""
    if parts.username or parts.password:
        raise invalid_field("url", "no user or password in the URL")
    if not host:
        raise invalid_field("url", "an absolute https:// URL with a host")
    dev_http = parts.scheme == "http" and allow_http_loopback and _loopback_name(host)
    if parts.scheme != "https" and not dev_http:
        raise invalid_field("url", "an https:// URL (http only for loopback in development)")
    literal = _literal(host)
    if literal is not None and (
        why := refused_address(literal, allow_loopback=allow_http_loopback)
    ):
        raise invalid_field("url", f"{host} is {why}")
    return parts.scheme, host, port or (443 if parts.scheme == "https" else 80)


def _loopback_name(host: str) -> bool:
    literal = _literal(host)
    return host == "localhost" or (literal is not None and literal.is_loopback)


def _literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def refused_address(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address, *, allow_loopback: bool
) -> str | None:
    """Why a resolved address must not be connected to, or None. Checked at send time on every
    address the name resolves to (DNS rebinding: the answer at creation proves nothing)."""
    if isinstance(address, ipaddress.IPv6Address):
        # IPv4-mapped, and 6to4 (2002::/16), which a host with a 6to4 tunnel sends straight to
        # the IPv4 address it embeds: judged as that address
        address = address.ipv4_mapped or address.sixtofour or address
    if address.is_loopback:
        return None if allow_loopback else "a loopback address"
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if address.is_link_local:
        return "a link-local address (cloud metadata lives there)"
    if address.is_multicast or address.is_unspecified or address.is_reserved:
        return "not a unicast address"
    if address.is_private or not address.is_global:
        return "a private or non-public address"
    return None


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """A receiver's bytes as the delivery log keeps them: control characters (NUL above all:
    PostgreSQL's text refuses it, and the attempt would never be recorded) become U+FFFD."""
    return _CONTROL.sub("\ufffd", text)


def excerpt(body: bytes) -> str:
    return printable(body[: EXCERPT_CHARS * 4].decode("utf-8", "replace")[:EXCERPT_CHARS])
