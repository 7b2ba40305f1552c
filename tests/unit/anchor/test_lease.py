"""When the signer lease is taken, renewed and given up, on an injected clock."""

from datetime import UTC, datetime, timedelta

from services.anchor.lease import SignerLeaseHolder


class Leases:
    """The store's side: one holder per wallet until its lease expires."""

    def __init__(self) -> None:
        self.rows: dict[str, tuple[str, datetime]] = {}
        self.calls = 0

    def take_lease(self, *, sender: str, holder: str, now: datetime, expires: datetime) -> bool:
        self.calls += 1
        current = self.rows.get(sender)
        if current and current[0] != holder and current[1] >= now:
            return False
        self.rows[sender] = (holder, expires)
        return True

    def release_lease(self, *, sender: str, holder: str) -> None:
        if self.rows.get(sender, ("",))[0] == holder:
            self.rows[sender] = (holder, datetime(1970, 1, 1, tzinfo=UTC))


class Clocks:
    def __init__(self) -> None:
        self.seconds = 0.0

    def monotonic(self) -> float:
        return self.seconds

    def wall(self) -> datetime:
        return datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=self.seconds)


def holder(leases: Leases, clocks: Clocks, name: str) -> SignerLeaseHolder:
    return SignerLeaseHolder(
        leases,
        sender="0xabc",
        holder=name,
        ttl_seconds=30,
        clock=clocks.monotonic,
        wall_clock=clocks.wall,
    )


def test_the_lease_is_renewed_only_once_half_of_it_is_gone() -> None:
    leases, clocks = Leases(), Clocks()
    one = holder(leases, clocks, "one")
    assert one.held() and leases.calls == 1
    clocks.seconds = 14.9
    assert one.held() and leases.calls == 1
    clocks.seconds = 15.0
    assert one.held() and leases.calls == 2
    assert leases.rows["0xabc"] == ("one", clocks.wall() + timedelta(seconds=30))


def test_a_second_replica_stands_by_until_the_lease_runs_out_or_is_released() -> None:
    leases, clocks = Leases(), Clocks()
    one, two = holder(leases, clocks, "one"), holder(leases, clocks, "two")
    assert one.held()
    assert not two.held()
    assert not two.held() and leases.calls == 3  # a refused replica asks again every time
    clocks.seconds = 31  # one stopped renewing (SIGKILL)
    assert two.held()
    assert not one.held()
    two.release()
    assert one.held()
