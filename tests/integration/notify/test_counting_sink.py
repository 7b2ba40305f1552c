"""The benchmarks' counting SMTP sink (devstack/smtp_sink.py --count-only) against notify's own
SMTP pool: every message is accepted and counted once, whatever the reads' boundaries."""

import asyncio

from devstack.smtp_sink import CountingSmtp, RelayBehaviour, SaveToFolder, counts_only
from services.notify.outcome_policy import Accepted
from services.notify.rendering import RenderedEmail
from services.notify.sender import SmtpPool


def test_the_counting_relay_serves_only_when_nothing_but_counting_is_asked() -> None:
    assert counts_only(RelayBehaviour(count_only=True))
    assert not counts_only(RelayBehaviour())
    assert not counts_only(RelayBehaviour(count_only=True, fail_every=3))


async def test_messages_sent_through_the_pool_are_each_counted_once(tmp_path) -> None:
    counter = SaveToFolder(tmp_path, RelayBehaviour(count_only=True))
    server = await asyncio.get_running_loop().create_server(
        lambda: CountingSmtp(counter), host="127.0.0.1", port=0
    )
    port = server.sockets[0].getsockname()[1]
    pool = SmtpPool(
        host="127.0.0.1",
        port=port,
        username="",
        password=None,
        starttls=False,
        implicit_tls=False,
        timeout=5,
        send_deadline=5,
        connections=2,
        mail_from="certificates@uni.example",
    )
    body = b"".join(b"line %d of a long body\r\n" % n for n in range(5000))  # many reads
    messages = [
        RenderedEmail(f"s{n}@example.org", b"Subject: hi\r\n\r\n" + body, False) for n in range(5)
    ] + [RenderedEmail("zoë@example.org", b"Subject: utf8\r\n\r\n.dot\r\n", True)]
    try:
        results = await asyncio.gather(*(pool.send(m) for m in messages))
    finally:
        await pool.close()
        server.close()
        await server.wait_closed()
    assert results == [Accepted()] * len(messages)
    assert counter.accepted == len(messages)
    assert not list(tmp_path.iterdir())  # nothing written
