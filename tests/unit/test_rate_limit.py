from certflow.platform.rate_limit import KeyedRateLimiter, TokenBucket


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_bucket_allows_a_burst_then_the_rate():
    clock = FakeClock()
    bucket = TokenBucket(rate=10, burst=5, clock=clock)
    assert [bucket.try_take() for _ in range(6)] == [True] * 5 + [False]
    assert abs(bucket.wait_time() - 0.1) < 1e-9
    clock.now = 0.1
    assert bucket.try_take() and not bucket.try_take()


def test_keyed_limiter_separates_clients_and_forgets_old_ones():
    limiter = KeyedRateLimiter(rate=0.001, burst=1, max_keys=2)
    assert limiter.allow("a") and not limiter.allow("a")
    assert limiter.allow("b")
    assert limiter.allow("c")  # evicts "a"
    assert limiter.allow("a")
