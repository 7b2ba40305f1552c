"""The relay circuit breaker: pure, clock passed in."""

from services.notify.relay_breaker import RelayBreaker


def test_closed_until_the_relay_fails():
    breaker = RelayBreaker(probe_delay=1, max_probe_delay=8)
    assert not breaker.is_open and not breaker.probe_due(0)
    breaker.relay_failed(100)
    assert breaker.is_open
    assert not breaker.probe_due(100.5)
    assert breaker.seconds_until_probe(100.5) == 0.5
    assert breaker.probe_due(101)


def test_failed_probes_back_off_exponentially_up_to_the_ceiling():
    breaker = RelayBreaker(probe_delay=1, max_probe_delay=8)
    now = 0.0
    waits = []
    for _ in range(6):
        breaker.relay_failed(now)
        waits.append(breaker.probe_at - now)
        now = breaker.probe_at
    assert waits == [1, 2, 4, 8, 8, 8]


def test_many_sends_failing_together_are_one_failure():
    breaker = RelayBreaker(probe_delay=1, max_probe_delay=60)
    for offset in (0, 0.01, 0.02, 0.03):  # four connections fail at once
        breaker.relay_failed(10 + offset)
    assert breaker.failures == 1 and breaker.probe_at == 11


def test_an_answer_closes_it_and_resets_the_backoff():
    breaker = RelayBreaker(probe_delay=1, max_probe_delay=60)
    breaker.relay_failed(0)
    breaker.relay_failed(1)
    breaker.relay_answered()
    assert not breaker.is_open and breaker.seconds_until_probe(5) == 0
    breaker.relay_failed(5)
    assert breaker.probe_at == 6  # back to the first delay
