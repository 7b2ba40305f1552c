"""The per-delivery outcome policy and the claim/lease arithmetic: pure, clock passed in."""

from datetime import UTC, datetime, timedelta

import pytest

from services.notify.outcome_policy import (
    Accepted,
    DeliveryState,
    Refused,
    RelayUnavailable,
    RetryPolicy,
    Unexpected,
    Unsendable,
    Verdict,
    claim_size,
    decide,
    may_start_send,
)

NOW = datetime(2026, 6, 30, 12, 0, tzinfo=UTC)
POLICY = RetryPolicy(max_attempts=4, backoff_base=timedelta(seconds=10))


def test_accepted_is_sent_and_counts_the_attempt():
    update = decide(Accepted(), attempts=2, policy=POLICY, now=NOW)
    assert (update.verdict, update.state, update.attempts, update.error) == (
        Verdict.SENT,
        DeliveryState.SENT,
        3,
        "",
    )


@pytest.mark.parametrize(
    "result",
    [
        RelayUnavailable("connection refused"),
        RelayUnavailable("SMTPReadTimeoutError: timed out"),
        Refused(421, "4.3.2 service shutting down"),
    ],
)
def test_an_unavailable_relay_spends_no_attempt_and_requeues_now(result):
    update = decide(result, attempts=3, policy=POLICY, now=NOW)
    assert update.verdict is Verdict.RELAY_UNAVAILABLE
    assert (update.state, update.attempts, update.next_attempt_at) == (
        DeliveryState.PENDING,
        3,
        NOW,
    )
    assert update.error.startswith("relay unavailable")


@pytest.mark.parametrize("code", [550, 552, 553, 554])
def test_a_permanent_refusal_bounces_at_once(code):
    update = decide(Refused(code, "no"), attempts=0, policy=POLICY, now=NOW)
    assert (update.verdict, update.state, update.attempts, update.code) == (
        Verdict.PERMANENT,
        DeliveryState.BOUNCED,
        1,
        code,
    )
    assert update.error == f"{code} no"


@pytest.mark.parametrize(
    ("text", "suppressed"),
    [
        ("5.1.1 no such user", True),
        ("5.2.1 mailbox disabled", True),
        ("no such user", True),  # no enhanced code: the address is refused
        ("5.7.1 rejected by policy", False),  # about this message, not the address
        ("5.3.4 message too big", False),
        ("5.6.0 bad content", False),
    ],
)
def test_a_permanent_refusal_suppresses_the_address_unless_it_was_about_the_message(
    text, suppressed
):
    update = decide(Refused(550, text), attempts=0, policy=POLICY, now=NOW)
    assert update.suppress is suppressed


def test_a_transient_refusal_is_deferred_in_the_history():
    update = decide(Refused(451, "4.3.0 later"), attempts=0, policy=POLICY, now=NOW)
    assert (update.state, update.history_state, update.code) == (
        DeliveryState.PENDING,
        DeliveryState.DEFERRED,
        451,
    )


@pytest.mark.parametrize("code", [450, 451, 452])
def test_a_transient_refusal_retries_with_exponential_backoff(code):
    delays = []
    for attempts in range(3):
        update = decide(Refused(code, "later"), attempts=attempts, policy=POLICY, now=NOW)
        assert (update.verdict, update.state, update.attempts) == (
            Verdict.RETRY,
            DeliveryState.PENDING,
            attempts + 1,
        )
        delays.append((update.next_attempt_at - NOW).total_seconds())
    assert delays == [10, 20, 40]


def test_transient_refusals_give_up_when_the_attempt_budget_is_spent():
    update = decide(Refused(451, "later"), attempts=3, policy=POLICY, now=NOW)
    assert (update.verdict, update.state, update.attempts) == (
        Verdict.PERMANENT,
        DeliveryState.FAILED,
        4,
    )
    assert "gave up after 4 attempts" in update.error


def test_an_unsendable_message_fails_for_good_with_its_reason():
    update = decide(Unsendable("no SMTPUTF8"), attempts=0, policy=POLICY, now=NOW)
    assert (update.verdict, update.state, update.error) == (
        Verdict.PERMANENT,
        DeliveryState.FAILED,
        "no SMTPUTF8",
    )


def test_an_unexpected_error_is_counted_so_it_cannot_loop_for_ever():
    first = decide(Unexpected("KeyError: x"), attempts=0, policy=POLICY, now=NOW)
    last = decide(Unexpected("KeyError: x"), attempts=3, policy=POLICY, now=NOW)
    assert (first.verdict, first.attempts) == (Verdict.RETRY, 1)
    assert (last.verdict, last.state) == (Verdict.PERMANENT, DeliveryState.FAILED)


def test_backoff_is_capped():
    policy = RetryPolicy(backoff_base=timedelta(seconds=10), backoff_max=timedelta(minutes=1))
    assert policy.delay(1) == timedelta(seconds=10)
    assert policy.delay(30) == timedelta(minutes=1)


@pytest.mark.parametrize(
    ("rate", "lease", "loops", "ceiling", "expected"),
    [
        (0.5, 300, 1, 200, 75),  # the reported case: 200 at 0.5/s would outlive a 5 min lease
        (0.5, 60, 2, 200, 7),
        (2000, 60, 2, 200, 200),  # a fast relay: the ceiling
        (0.01, 2, 2, 200, 1),  # never zero
    ],
)
def test_a_claim_is_what_the_rate_sends_in_half_a_lease(rate, lease, loops, ceiling, expected):
    size = claim_size(
        rate_per_second=rate, lease_seconds=lease, sender_loops=loops, ceiling=ceiling
    )
    assert size == expected
    assert size <= max(1, rate * lease / loops)  # every loop's claim fits in its lease


def test_a_send_starts_only_with_the_margin_left_on_the_lease():
    lease_until = NOW + timedelta(seconds=30)
    margin = timedelta(seconds=10)
    assert may_start_send(now=NOW, lease_until=lease_until, send_margin=margin)
    assert may_start_send(
        now=NOW + timedelta(seconds=19), lease_until=lease_until, send_margin=margin
    )
    assert not may_start_send(
        now=NOW + timedelta(seconds=20), lease_until=lease_until, send_margin=margin
    )
