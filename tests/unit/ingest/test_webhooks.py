"""Standard Webhooks signing (the spec's published vector), the retry schedule, SSRF rules."""

import ipaddress
from datetime import UTC, datetime, timedelta

import pytest

from certflow.core.errors import InvalidInput
from services.ingest.webhooks import (
    RetryPolicy,
    check_url,
    new_secret,
    next_attempt,
    refused_address,
    sign,
    signature_header,
    verify,
)

# https://github.com/standard-webhooks/standard-webhooks (the reference libraries' test)
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TIMESTAMP = 1614265330
SPEC_BODY = b'{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_the_spec_vector_signs_exactly() -> None:
    assert sign(SPEC_SECRET, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY) == SPEC_SIGNATURE


def test_rotation_signs_with_both_and_either_verifies() -> None:
    old, new = SPEC_SECRET, new_secret()
    header = signature_header([new, old], SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY)
    assert header.split(" ")[1] == SPEC_SIGNATURE
    for secret in (old, new):
        assert verify(secret, SPEC_ID, "1614265330", SPEC_BODY, header, now=SPEC_TIMESTAMP)
    assert not verify(new_secret(), SPEC_ID, "1614265330", SPEC_BODY, header, now=SPEC_TIMESTAMP)
    # a changed body, id, or a stale timestamp does not verify
    assert not verify(old, SPEC_ID, "1614265330", SPEC_BODY + b" ", header, now=SPEC_TIMESTAMP)
    assert not verify(old, "msg_other", "1614265330", SPEC_BODY, header, now=SPEC_TIMESTAMP)
    assert not verify(old, SPEC_ID, "1614265330", SPEC_BODY, header, now=SPEC_TIMESTAMP + 301)


def test_secrets_are_whsec_base64_of_24_random_bytes() -> None:
    a, b = new_secret(), new_secret()
    assert a.startswith("whsec_") and len(a) == 6 + 32 and a != b


T0 = datetime(2026, 11, 30, tzinfo=UTC)


def test_backoff_grows_fourfold_to_six_hours_and_gives_up_after_a_day() -> None:
    policy, now, delays = RetryPolicy(), T0, []
    attempts = 0
    while True:
        attempts += 1
        at = next_attempt(policy, created_at=T0, attempts=attempts, now=now)
        if at is None:
            break
        delays.append(at - now)
        now = at
    minutes = [d.total_seconds() / 60 for d in delays]
    assert minutes[:5] == [0.5, 2, 8, 32, 128]
    assert all(m == 360 for m in minutes[5:])
    assert now - T0 <= timedelta(days=1) < now - T0 + timedelta(hours=6)
    assert attempts == 9  # the 9th failure is the last


def test_short_test_settings_scale_the_same_schedule() -> None:
    fast = RetryPolicy(timedelta(milliseconds=100), 2, timedelta(seconds=1), timedelta(seconds=3))
    assert next_attempt(fast, created_at=T0, attempts=3, now=T0) == T0 + timedelta(seconds=0.4)
    assert next_attempt(fast, created_at=T0, attempts=9, now=T0 + timedelta(seconds=2.5)) is None


@pytest.mark.parametrize(
    ("address", "refused"),
    [
        ("93.184.216.34", None),
        ("2606:2800:220:1:248:1893:25c8:1946", None),
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("100.64.0.1", "non-public"),  # carrier-grade NAT
        ("169.254.169.254", "link-local"),  # AWS/GCP/Azure metadata
        ("fe80::1", "link-local"),
        ("fd00:ec2::254", "metadata"),
        ("fc00::1", "private"),
        ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped
        ("::ffff:10.0.0.1", "private"),
        ("0.0.0.0", "unicast"),
        ("224.0.0.1", "unicast"),
        ("240.0.0.1", "unicast"),
        ("::", "unicast"),
        ("::ffff:169.254.169.254", "link-local"),
        ("::127.0.0.1", "unicast"),  # IPv4-compatible (deprecated)
        ("64:ff9b::a9fe:a9fe", "unicast"),  # NAT64 of the metadata address
        # 6to4 embeds an IPv4 address a host with a 6to4 tunnel sends to directly
        ("2002:a9fe:a9fe::", "link-local"),
        ("2002:a00:1::", "private"),
        ("2002:5db8:d822::", None),
    ],
)
def test_addresses(address: str, refused: str | None) -> None:
    why = refused_address(ipaddress.ip_address(address), allow_loopback=False)
    assert (why is None) if refused is None else (why is not None and refused in why)


def test_loopback_only_when_allowed() -> None:
    assert refused_address(ipaddress.ip_address("127.0.0.1"), allow_loopback=True) is None
    assert refused_address(ipaddress.ip_address("10.0.0.1"), allow_loopback=True) is not None


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.example.com/x",  # http in production
        "ftp://hooks.example.com/x",
        "https://169.254.169.254/latest/meta-data",
        "https://10.0.0.1/x",
        "https://[::1]/x",
        "https://user:pw@hooks.example.com/x",
        "https:///nohost",
        "https://hooks.example.com:99999/x",
        "https://hooks.example.com/\x00",
    ],
)
def test_refused_urls(url: str) -> None:
    with pytest.raises(InvalidInput):
        check_url(url, allow_http_loopback=False)


def test_accepted_urls() -> None:
    assert check_url("https://hooks.example.com/in", allow_http_loopback=False) == (
        "https",
        "hooks.example.com",
        443,
    )
    assert check_url("http://127.0.0.1:8080/in", allow_http_loopback=True)[2] == 8080
    with pytest.raises(InvalidInput):  # dev http is for loopback only
        check_url("http://hooks.example.com/in", allow_http_loopback=True)


def test_a_revoked_event_with_an_unstorable_id_or_time_is_poison() -> None:
    """A NUL in an id failed PostgreSQL on every redelivery and an out-of-range revoke time
    raised out of the parser: both looped instead of being terminated."""
    from certflow.v1 import events_pb2
    from services.ingest.revocation_webhooks import parse_revoked

    def event(certificate_id: str = "c1", replaced_by: str = "", seconds: int = 0) -> bytes:
        e = events_pb2.CertificatesRevokedEvent(revocation_window_id="w1", chain_id=1)
        c = e.certificates.add(
            certificate_id=certificate_id, replaced_by_certificate_id=replaced_by
        )
        if seconds:
            c.revoke_time.seconds = seconds
        return e.SerializeToString()

    parsed = parse_revoked(event(seconds=1_790_000_000))
    assert parsed is not None and parsed.certificates[0].certificate_id == "c1"
    assert parse_revoked(event("c\x00")) is None
    assert parse_revoked(event(replaced_by="n\x00")) is None
    assert parse_revoked(event(seconds=10**12)) is None


def test_the_excerpt_keeps_no_control_character() -> None:
    """A receiver's NUL made the delivery log's write fail on PostgreSQL (text cannot hold it):
    the attempt was never recorded and the delivery was sent again after every lease, for ever."""
    from services.ingest.webhooks import excerpt

    assert excerpt(b"ok\x00\x1b[31m\xff\r\nnext") == "ok\ufffd\ufffd[31m\ufffd\ufffd\ufffdnext"
    assert excerpt("é".encode() * 500) == "é" * 200
