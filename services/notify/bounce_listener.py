"""The bounce address's inbound SMTP listener (aiosmtpd): delivery status notifications in,
BOUNCED deliveries and suppressed addresses out.

Thin: RCPT accepts only our bounce addresses (a VERP address whose mac verifies, or the plain
bounce address), so a forged or garbled VERP address is refused before any data; DATA parses
the report (bounces.parse_report) and hands each named delivery to the store, which decides
(outcomes.bounce_effect) and records in one transaction. Whatever cannot be used is answered
250 and dropped (a refusal would only make the reporting MTA send its own bounce: backscatter)
and counted by reason. Size is capped by aiosmtpd's data limit (552 beyond it).
"""

import asyncio
import logging
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any, Protocol

from aiosmtpd.smtp import SMTP, Envelope, Session

from certflow.platform import metrics
from services.notify.bounces import (
    BounceAddresses,
    DeliveryReport,
    FeedbackReport,
    NotAReport,
    RecipientStatus,
    VerpToken,
    parse_feedback,
    parse_report,
    read_message_id,
)
from services.notify.outcomes import BounceEffect, Ignored

log = logging.getLogger(__name__)
_emails = metrics.counter(metrics.EMAILS)

MAX_RECIPIENTS = 10  # one report names one delivery; a few more for odd relays


class BounceStore(Protocol):
    def record_bounce(
        self, token: VerpToken, statuses: Sequence[RecipientStatus], *, now: datetime
    ) -> BounceEffect | Ignored: ...

    def complain(self, token: VerpToken, detail: str, *, now: datetime) -> bool: ...


class BounceHandler:
    def __init__(
        self, addresses: BounceAddresses, store: BounceStore, clock: Callable[[], datetime]
    ) -> None:
        self._addresses = addresses
        self._store = store
        self._clock = clock
        self.counts: Counter[str] = Counter()  # outcomes by reason: recorded, ignored, refused
        self._parser = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bounce-parser")

    def close(self) -> None:
        self._parser.shutdown(wait=False, cancel_futures=True)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            return "452 4.5.3 too many recipients"
        if self._addresses.read(address) is None and not self._addresses.is_plain(address):
            self._count("refused: not a bounce address (forged or garbled)")
            return "550 5.1.1 no such bounce address"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or envelope.content or b""
        data = content.encode("utf-8", "replace") if isinstance(content, str) else content
        # parsed on its own thread, one message at a time: up to a second or two of CPU for a
        # hostile megabyte, which must not stop the event loop (sender leases, gRPC) meanwhile
        read = await asyncio.get_running_loop().run_in_executor(self._parser, read_report, data)
        if isinstance(read, NotAReport):
            self._count(f"ignored: not a delivery status report ({_reason(read)})")
            return "250 OK (ignored)"
        if isinstance(read, FeedbackReport):
            return await self._complaint(read)
        report = read
        tokens = [t for a in envelope.rcpt_tos if (t := self._addresses.read(a)) is not None]
        if not tokens:  # the plain bounce address: only our Message-ID names the delivery
            by_id = read_message_id(report.original_message_id)
            # without a VERP mac the report must also name the recipient (bounce_effect then
            # checks it is the delivery's address)
            named = [s for s in report.recipients if s.final_recipient]
            if by_id is None or not named:
                self._count("ignored: no delivery named")
                return "250 OK (ignored)"
            tokens, statuses = [by_id], named
        else:
            statuses = list(report.recipients)
        for token in dict.fromkeys(tokens):
            try:
                effect = await asyncio.to_thread(
                    self._store.record_bounce, token, statuses, now=self._clock()
                )
            except Exception:
                log.exception("recording a bounce of delivery %s failed", token.delivery_id)
                return "451 4.3.0 try again later"  # the reporting MTA retries
            if isinstance(effect, Ignored):
                self._count(f"ignored: {effect.reason}")
            else:
                self._count("recorded: " + effect.history_state)
                # an asynchronous bounce is an email outcome like one judged at send
                _emails.add(1, {metrics.OUTCOME: str(effect.history_state)})
                log.info(
                    "bounce of delivery %s: %s %s%s",
                    token.delivery_id,
                    effect.history_state,
                    effect.detail,
                    " (address suppressed)" if effect.suppress else "",
                )
        return "250 OK"

    async def _complaint(self, feedback: FeedbackReport) -> str:
        """A feedback report names its send only by the original's Return-Path: our VERP
        address, whose mac must verify (the report itself is anyone's to write)."""
        token = self._addresses.read(feedback.return_path)
        if token is None:
            self._count("ignored: a feedback report without our bounce address")
            return "250 OK (ignored)"
        try:
            known = await asyncio.to_thread(
                self._store.complain,
                token,
                f"feedback report: {feedback.feedback_type}",
                now=self._clock(),
            )
        except Exception:
            log.exception("recording a complaint about delivery %s failed", token.delivery_id)
            return "451 4.3.0 try again later"
        self._count("recorded: complained" if known else "ignored: no such delivery")
        if known:
            _emails.add(1, {metrics.OUTCOME: "complained"})
        return "250 OK"

    def _count(self, reason: str) -> None:
        self.counts[reason] += 1
        if not reason.startswith("recorded"):
            log.info("bounce report %s (%d so far)", reason, self.counts[reason])


def read_report(data: bytes) -> DeliveryReport | FeedbackReport | NotAReport:
    """A delivery status report, else a feedback report, else why it is neither."""
    try:
        return parse_report(data)
    except NotAReport as exc:
        try:
            return parse_feedback(data)
        except NotAReport:
            return exc


def _reason(exc: Exception) -> str:
    return str(exc)[:80]


class _Sessions:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open = 0


class _BoundedSMTP(SMTP):
    """At most `limit` sessions at once, each buffering up to max_bytes: beyond, 421 (the
    reporting MTA tries again later) instead of memory growing with every connection."""

    def __init__(self, sessions: _Sessions, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sessions = sessions
        self._counted = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self._sessions.open >= self._sessions.limit and isinstance(
            transport, asyncio.WriteTransport
        ):
            transport.write(b"421 4.3.2 too many connections, try again later\r\n")
            transport.close()
            return
        self._sessions.open += 1
        self._counted = True
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        if not self._counted:
            return  # refused before a session began: nothing of aiosmtpd's to end
        self._counted = False
        self._sessions.open -= 1
        super().connection_lost(error)


async def serve(
    handler: BounceHandler,
    *,
    host: str,
    port: int,
    max_bytes: int,
    stopping: asyncio.Event,
    ready: Callable[[int], None] = lambda port: None,
    max_connections: int = 32,
) -> None:
    """Listens until `stopping` is set."""
    loop = asyncio.get_running_loop()
    sessions = _Sessions(max_connections)

    def protocol() -> Any:
        return _BoundedSMTP(
            sessions,
            handler,
            hostname="certflow-bounces",
            data_size_limit=max_bytes,
            decode_data=False,
            enable_SMTPUTF8=True,
            timeout=60,
        )

    server = await loop.create_server(protocol, host=host, port=port)
    bound = server.sockets[0].getsockname()[1]
    log.info("bounce listener on %s:%d", host, bound)
    ready(bound)
    try:
        await stopping.wait()
    finally:
        server.close()
        await server.wait_closed()
        handler.close()
