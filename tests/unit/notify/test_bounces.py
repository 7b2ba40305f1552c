"""Pure bounce handling: VERP addresses signed and checked, RFC 3464 reports read (and hostile
ones refused without a crash), what a report means for its delivery, suppression rules."""

import uuid

import pytest

from services.notify.bounces import (
    Action,
    AddressKeys,
    BounceAddresses,
    NotAReport,
    VerpToken,
    address_hint,
    excerpt,
    message_id_for,
    parse_feedback,
    parse_report,
    read_message_id,
    suppresses,
)
from services.notify.outcome_policy import DeliveryState
from services.notify.outcomes import BouncedDelivery, BounceEffect, Ignored, bounce_effect
from tests.unit.notify.dsn_samples import OUT_OF_OFFICE, arf_report, postfix_dsn

SECRET = b"s" * 32
ADDRESSES = BounceAddresses("bounces@certflow.localhost", SECRET)
DELIVERY = str(uuid.uuid4())


def test_a_verp_address_names_its_delivery_and_send_and_fits_a_local_part():
    address = ADDRESSES.sender_for(DELIVERY, 3)
    local = address.partition("@")[0]
    assert len(local) <= 64 and address.endswith("@certflow.localhost")
    token = ADDRESSES.read(address)
    assert token is not None and (token.delivery_id, token.generation) == (DELIVERY, 3)
    assert ADDRESSES.read(address.upper()) == token  # a relay that upper-cases local parts
    assert ADDRESSES.read(f"<{address}>") == token


def test_a_forged_or_garbled_verp_address_names_nothing():
    address = ADDRESSES.sender_for(DELIVERY, 0)
    local, _, domain = address.partition("@")
    other = BounceAddresses("bounces@certflow.localhost", b"another secret").sender_for(DELIVERY, 0)
    flipped = local[:-1] + ("0" if local[-1] != "0" else "1")
    for forged in (
        other,  # signed with another secret
        f"{flipped}@{domain}",  # one character of the mac changed
        address.replace("-0-", "-1-"),  # another generation, same mac
        f"{local}@evil.example",
        "bounces@certflow.localhost",
        "bounces+@certflow.localhost",
        "bounces+zz-0-00@certflow.localhost",
        "\r\nRCPT TO:<x@y>",
        address.replace("-0-", "-\u00b2-"),  # a digit to isdigit(), not to int(): ValueError
        address.replace("-0-", "-\u0660-"),  # an Arabic-Indic zero: another spelling of 0
        f"{local[:-1]}\u00fc@{domain}",  # compare_digest refuses non-ASCII: TypeError
    ):
        assert ADDRESSES.read(forged) is None, forged


def test_a_bounce_address_must_leave_room_for_the_token():
    with pytest.raises(ValueError, match="too long"):
        BounceAddresses("a-very-long-bounce-local-part@x.example", SECRET)
    with pytest.raises(ValueError):
        BounceAddresses("bounces+x@x.example", SECRET)


def test_message_ids_name_the_delivery_and_its_send():
    assert read_message_id(message_id_for(DELIVERY, 0, "x.example")).generation == 0  # type: ignore[union-attr]
    token = read_message_id(f"  {message_id_for(DELIVERY, 2, 'x.example')} ")
    assert token is not None and (token.delivery_id, token.generation) == (DELIVERY, 2)
    assert read_message_id("<not-ours@x.example>") is None


@pytest.mark.parametrize("returned", ["text/rfc822-headers", "message/rfc822"])
def test_a_postfix_report_is_read(returned):
    report = parse_report(
        postfix_dsn(recipient="Ann@Example.org", message_id=f"<{DELIVERY}@x>", returned=returned)
    )
    (status,) = report.recipients
    assert (status.final_recipient, status.action, status.status) == (
        "ann@example.org",
        Action.FAILED,
        "5.1.1",
    )
    assert "User unknown" in status.diagnostic
    assert report.original_message_id == f"<{DELIVERY}@x>"


@pytest.mark.parametrize(
    "data",
    [
        OUT_OF_OFFICE,
        b"",
        b"\x00\xff" * 1000,
        b"Content-Type: multipart/report; report-type=delivery-status\r\n\r\nno boundary",
        b"Content-Type: multipart/report; report-type=disposition-notification; boundary=x\r\n"
        b"\r\n--x\r\nContent-Type: message/disposition-notification\r\n\r\nX: y\r\n--x--\r\n",
        postfix_dsn(recipient="a@b", message_id="<x>").replace(b"Status: 5.1.1", b"Status: bad"),
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n"
        + b"--b\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" * 500,
    ],
)
def test_anything_else_is_not_a_report_and_never_a_crash(data):
    with pytest.raises(NotAReport):
        parse_report(data)


def test_a_huge_report_with_many_recipients_is_read_within_limits():
    one = postfix_dsn(recipient="a@example.org", message_id="<x@y>")
    head, _, tail = one.partition(b"Final-Recipient")
    block = b"Final-Recipient" + tail.partition(b"\r\n\r\n")[0] + b"\r\n\r\n"
    data = head + block * 1000 + b"--B1A2C3.1700000000/mx.example.org--\r\n"
    report = parse_report(data)
    assert len(report.recipients) == 1000


def delivery(state=DeliveryState.SENT, generation=0, address="ann@example.org"):
    return BouncedDelivery(DELIVERY, "c1", "b1", state, generation, 1, address, "Example U")


def statuses(**kwargs):
    return parse_report(postfix_dsn(message_id="<x@y>", **kwargs)).recipients


def test_a_permanent_bounce_of_a_sent_delivery_bounces_and_suppresses():
    effect = bounce_effect(delivery(), 0, statuses(recipient="ann@example.org"))
    assert isinstance(effect, BounceEffect)
    assert (effect.bounced, effect.history_state, effect.code, effect.suppress) == (
        True,
        DeliveryState.BOUNCED,
        550,
        True,
    )


def test_a_policy_bounce_bounces_without_suppressing():
    found = statuses(recipient="ann@example.org", status="5.7.1", diagnostic="smtp; 554 5.7.1 spam")
    effect = bounce_effect(delivery(), 0, found)
    assert isinstance(effect, BounceEffect) and effect.bounced and not effect.suppress


def test_a_delay_notice_is_history_only():
    found = statuses(recipient="ann@example.org", status="4.4.1", action="delayed")
    effect = bounce_effect(delivery(), 0, found)
    assert isinstance(effect, BounceEffect)
    assert (effect.bounced, effect.history_state) == (False, DeliveryState.DEFERRED)


@pytest.mark.parametrize(
    ("target", "generation", "recipient", "reason"),
    [
        (delivery(generation=1), 0, "ann@example.org", "stale"),
        (delivery(), 0, "someone.else@example.org", "another recipient"),
        (delivery(state=DeliveryState.BOUNCED), 0, "ann@example.org", "duplicate"),
        (delivery(state=DeliveryState.PENDING), 0, "ann@example.org", "not sent"),
    ],
)
def test_bounces_that_do_not_apply_are_ignored_with_a_reason(target, generation, recipient, reason):
    effect = bounce_effect(target, generation, statuses(recipient=recipient))
    assert isinstance(effect, Ignored) and reason in effect.reason


@pytest.mark.parametrize(
    ("status", "expected"),
    [("5.1.1", True), ("5.2.2", True), ("5.7.1", False), ("5.3.4", False), ("4.2.2", False)],
)
def test_suppression_rule(status, expected):
    assert suppresses(status) is expected


def test_address_keys_are_per_issuer_and_case_insensitive():
    keys = AddressKeys(SECRET)
    assert keys.key("U", "Ann@Example.org ") == keys.key("U", "ann@example.org")
    assert keys.key("U", "ann@example.org") != keys.key("V", "ann@example.org")
    assert keys.key("U", "ann@example.org") != AddressKeys(b"x").key("U", "ann@example.org")
    assert "ann" not in keys.key("U", "ann@example.org")
    assert address_hint("Ann@Example.org") == "a…@example.org"


def test_excerpts_keep_no_address():
    text = "550 5.1.1 <Ann.Lee@Example.org>: no such user ann@example.org;\r\n x"
    assert excerpt(text) == "550 5.1.1 <…@Example.org>: no such user …@example.org; x"


@pytest.mark.timeout(30)  # the quadratic address pattern took hours on a megabyte: a hang
def test_an_excerpt_of_a_huge_word_is_cut_in_linear_time():
    assert excerpt("x" * 300_000) == "x" * 200
    assert excerpt("a" * 300_000 + "@example.org is gone") == "…@example.org is gone"
    assert excerpt("a@" * 100_000).startswith("…@a@…@a@")


@pytest.mark.timeout(30)
def test_a_report_with_a_megabyte_diagnostic_is_read_and_cut():
    report = parse_report(
        postfix_dsn(
            recipient="ann@example.org",
            message_id="<x@y>",
            diagnostic="smtp; 550 5.1.1 " + "x" * 1_000_000,
        )
    )
    (status,) = report.recipients
    assert status.status == "5.1.1" and status.diagnostic == ("smtp; 550 5.1.1 " + "x" * 200)[:200]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        # the stdlib parser builds a Message per part and per block: 6-20 s of CPU for these
        (
            b'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
            + b"--b\r\n\r\nx\r\n" * 80_000,
            "too many MIME boundaries",
        ),
        (
            postfix_dsn(recipient="a@example.org", message_id="<x@y>").replace(
                b"Reporting-MTA", b"\r\n" * 500_000 + b"Reporting-MTA"
            ),
            "too many blank lines",
        ),
    ],
)
def test_a_report_shaped_to_make_the_parser_work_is_refused_before_parsing(data, reason):
    for parse in (parse_report, parse_feedback):
        with pytest.raises(NotAReport, match=reason):
            parse(data)


def test_a_feedback_report_names_its_send_by_the_returned_return_path():
    address = ADDRESSES.sender_for(DELIVERY, 1)
    feedback = parse_feedback(arf_report(return_path=address, message_id="<x@y>"))
    assert feedback.feedback_type == "abuse"
    assert ADDRESSES.read(feedback.return_path) == VerpToken(DELIVERY, 1)
    with pytest.raises(NotAReport):
        parse_report(arf_report(return_path=address, message_id="<x@y>"))
    for other in (OUT_OF_OFFICE, postfix_dsn(recipient="a@b", message_id="<x>"), b"\xff" * 99):
        with pytest.raises(NotAReport):
            parse_feedback(other)
