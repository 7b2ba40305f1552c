from services.anchor.window_buffer import WindowBuffer


def leaves(start: int, count: int) -> list[tuple[str, bytes]]:
    return [(f"c{i}", i.to_bytes(32, "big")) for i in range(start, start + count)]


def test_a_window_closes_when_full_or_old() -> None:
    buffer = WindowBuffer(max_leaves=10, max_age_seconds=2.0)
    assert not buffer.should_close(now=0.0)
    buffer.add(leaves(0, 4), "m1", now=100.0)
    assert not buffer.should_close(now=101.0)
    assert buffer.should_close(now=102.0)
    buffer.add(leaves(4, 6), "m2", now=101.0)
    assert buffer.should_close(now=101.0)


def test_one_message_larger_than_the_cap_is_split_into_capped_windows() -> None:
    buffer = WindowBuffer(max_leaves=1000, max_age_seconds=2.0)
    buffer.add(leaves(0, 10_000), "m1", now=0.0)
    buffer.add(leaves(10_000, 1), "m2", now=0.0)
    windows, messages = buffer.take()
    assert [len(w) for w in windows] == [1000] * 10 + [1]
    assert [leaf for w in windows for leaf in w] == leaves(0, 10_001)
    assert messages == ["m1", "m2"]
    assert buffer.take() == ([], []) and not buffer.should_close(now=10.0)
