"""Pure checks of the operator's outcome requests (resend, suppression list) and the one-click
unsubscribe endpoint against a fake store (aiohttp's test server, no other servers)."""

from datetime import UTC, datetime

import pytest
from aiohttp.test_utils import TestClient, TestServer

from certflow.core.errors import InvalidInput
from certflow.platform.rate_limit import KeyedRateLimiter
from services.notify.bounces import VerpToken, unsubscribe_tokens
from services.notify.outcomes import ResendRequest, check_resend, delete_suppression
from services.notify.unsubscribe import ONE_CLICK, build_app

NOW = datetime(2026, 11, 29, 12, tzinfo=UTC)
TOKENS = unsubscribe_tokens(b"s" * 32)
DELIVERY = "0b6c3a52-6a3e-4c44-9a53-3f1d1f0c2b7e"


def test_a_resend_names_one_target_and_a_request_id():
    for bad in (
        ResendRequest("c1", "", "", ""),  # no request id
        ResendRequest("", "", "", "r"),  # no target
        ResendRequest("c1", "b1", "", "r"),  # both
        ResendRequest("", "b1", "a@example.org", "r"),  # a corrected address for a batch
        ResendRequest("c1", "", "a@example.org\r\nBcc: v@example.org", "r"),
        ResendRequest("c1", "", "=?utf-8?q?x?=@example.org", "r"),
        ResendRequest("c1", "", "not an address", "r"),
        ResendRequest("c1", "", "", "r" * 129),
        ResendRequest("c1\x00", "", "", "r"),
    ):
        with pytest.raises(InvalidInput):
            check_resend(bad)
    checked = check_resend(ResendRequest("c1", "", " Ann@Example.ORG ", "r"))
    assert checked.recipient_email == "Ann@example.org"


def test_a_resend_digest_tells_requests_apart():
    one = ResendRequest("c1", "", "a@example.org", "r")
    assert one.digest == ResendRequest("c1", "", "a@example.org", "other id").digest
    assert one.digest != ResendRequest("c1", "", "b@example.org", "r").digest


def test_removing_a_suppression_names_one_entry():
    with pytest.raises(InvalidInput):
        delete_suppression(None, "U", key="", email="")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        delete_suppression(None, "U", key="k", email="a@example.org")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        delete_suppression(None, "", key="k", email="")  # type: ignore[arg-type]


class Unsubscribes:
    def __init__(self) -> None:
        self.calls: list[VerpToken] = []

    def unsubscribe(self, token: VerpToken, *, now: datetime) -> bool:
        self.calls.append(token)
        return True


async def test_one_click_needs_a_valid_token_and_the_rfc_8058_body():
    store = Unsubscribes()
    token = TOKENS.make(DELIVERY, 2)
    async with TestClient(TestServer(build_app(TOKENS, store, lambda: NOW))) as client:
        page = await client.get(f"/unsubscribe/{token}")
        assert page.status == 200 and store.calls == []  # a GET changes nothing
        assert "no-store" in page.headers["Cache-Control"]
        forged = unsubscribe_tokens(b"other").make(DELIVERY, 2)
        assert (await client.post(f"/unsubscribe/{forged}", data=b"x")).status == 404
        hex_id, _, mac = token.split("-")
        for garbled in (f"{hex_id}-\u00b2-{mac}", f"{hex_id}-2-{mac[:-1]}\u00fc"):  # were 500
            assert (await client.get(f"/unsubscribe/{garbled}")).status == 404
            assert (await client.post(f"/unsubscribe/{garbled}", data=ONE_CLICK)).status == 404
        assert (await client.post(f"/unsubscribe/{token}", data=b"")).status == 400
        big = b"List-Unsubscribe=One-Click" + b"x" * 5000
        assert (await client.post(f"/unsubscribe/{token}", data=big)).status in (400, 413)
        assert store.calls == []
        done = await client.post(f"/unsubscribe/{token}", data=b"List-Unsubscribe=One-Click")
        assert done.status == 200
        assert store.calls == [VerpToken(DELIVERY, 2)]


async def test_one_peer_is_limited_before_its_token_is_looked_at():
    store = Unsubscribes()
    token = TOKENS.make(DELIVERY, 2)
    limiter = KeyedRateLimiter(rate=0.001, burst=3)  # no refill within the test
    app = build_app(TOKENS, store, lambda: NOW, limiter)
    async with TestClient(TestServer(app)) as client:
        assert (await client.get(f"/unsubscribe/{token}")).status == 200
        assert (await client.get("/unsubscribe/forged")).status == 404
        assert (await client.post(f"/unsubscribe/{token}", data=ONE_CLICK)).status == 200
        for attempt in (client.get(f"/unsubscribe/{token}"), client.get("/unsubscribe/x")):
            refused = await attempt
            assert refused.status == 429 and refused.headers["Retry-After"] == "60"
        refused = await client.post(f"/unsubscribe/{token}", data=ONE_CLICK)
        assert refused.status == 429
    assert store.calls == [VerpToken(DELIVERY, 2)]  # the refused POST reached nothing
    assert not limiter.allow("127.0.0.1") and limiter.allow("192.0.2.1")  # per peer
