"""A local SMTP server that saves every accepted message as a .eml file in a folder.

`python -m devstack.smtp_sink --port 1025 --dir .state/mail`

For fault tests it can be an unlucky relay: slow to answer DATA (`--delay-seconds`), refusing
every n-th sender, recipient or message with a chosen reply (`--fail-every 3 --fail-reply
"451 4.3.0 try later" --fail-stage rcpt`; `--fail-stage mail` refuses MAIL FROM), or dropping
the connection after every n-th message's data without answering (`--drop-every 5`).
`--no-smtputf8` hides the SMTPUTF8 extension. `--count-only` stores nothing (the benchmarks: a
file per message would cost the machine more than the sender being measured) and logs how many
messages it accepted when it stops. `--refuse ADDRESS=REPLY` (repeatable) answers
RCPT TO that address with that reply, e.g. `--refuse "gone@example.org=550 5.1.1 no such user"`
(a mailbox that does not exist, for bounce tests).
"""

import argparse
import asyncio
import itertools
import logging
import os
import signal
from dataclasses import dataclass
from pathlib import Path

from aiosmtpd.smtp import SMTP, Envelope, Session

ACCEPTED = "250 Message accepted for delivery"


@dataclass(frozen=True)
class RelayBehaviour:
    delay_seconds: float = 0.0  # after storing a message, before answering its DATA
    fail_every: int = 0  # 0: never; n: every n-th RCPT (or DATA) gets fail_reply
    fail_reply: str = "451 4.3.0 Temporary failure, try again later"
    fail_stage: str = "data"  # "mail" (MAIL FROM: our sender refused) | "rcpt" | "data"
    drop_every: int = 0  # 0: never; n: every n-th DATA is dropped unanswered (not stored)
    smtputf8: bool = True
    # RCPT TO address (lower-case) -> the reply it gets, whatever fail_every says
    refuse: tuple[tuple[str, str], ...] = ()
    count_only: bool = False  # accept and count, write no file (benchmarks)


class SaveToFolder:
    def __init__(self, folder: Path, behaviour: RelayBehaviour | None = None) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.behaviour = behaviour or RelayBehaviour()
        self._counter = itertools.count(1)
        self._mails = itertools.count(1)
        self._rcpts = itertools.count(1)
        self._datas = itertools.count(1)
        self._prefix = f"{os.getpid()}"
        self.accepted = 0

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self._unlucky("mail", next(self._mails)):
            return self.behaviour.fail_reply
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        refused = dict(self.behaviour.refuse).get(address.lower())
        if refused is not None:
            return refused
        if self._unlucky("rcpt", next(self._rcpts)):
            return self.behaviour.fail_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        number = next(self._datas)
        if self.behaviour.drop_every and number % self.behaviour.drop_every == 0:
            assert isinstance(server.transport, asyncio.Transport)
            server.transport.abort()  # the client sent the data and never hears back
            return ACCEPTED  # never reaches the client
        if self._unlucky("data", number):
            return self.behaviour.fail_reply
        self.accepted += 1
        if not self.behaviour.count_only:
            self._store(envelope)
        if self.behaviour.delay_seconds:
            # stored first: a client that gives up (or dies) now is the classic duplicate case
            await asyncio.sleep(self.behaviour.delay_seconds)
        return ACCEPTED

    def _unlucky(self, stage: str, number: int) -> bool:
        b = self.behaviour
        return b.fail_stage == stage and b.fail_every > 0 and number % b.fail_every == 0

    def _store(self, envelope: Envelope) -> None:
        name = f"{self._prefix}-{next(self._counter):08d}.eml"
        temporary = self.folder / f".{name}.tmp"
        content = envelope.original_content or envelope.content or b""
        if isinstance(content, str):
            content = content.encode()
        header = "".join(f"X-Envelope-To: {rcpt}\r\n" for rcpt in envelope.rcpt_tos).encode()
        temporary.write_bytes(header + content)
        temporary.rename(self.folder / name)  # readers never see a half-written message


def smtp_server(handler: SaveToFolder) -> SMTP:
    return SMTP(
        handler,
        hostname="certflow-smtp-sink",
        decode_data=False,
        enable_SMTPUTF8=handler.behaviour.smtputf8,
    )


class CountingSmtp(asyncio.Protocol):
    """A plain relay that accepts every message and only counts it: the benchmarks' sink.
    aiosmtpd reads DATA a line at a time (~1.5 ms of CPU per 11 KB message, as much as the
    sender being measured on a 2-core machine); this scans for the end of data in whole reads.
    It speaks EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP and QUIT, with SMTPUTF8 and 8BITMIME."""

    def __init__(self, counter: "SaveToFolder") -> None:
        self._counter = counter
        self._buffer = bytearray()
        self._in_data = False
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        transport.write(b"220 certflow-smtp-sink ESMTP\r\n")

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while self._buffer:
            if self._in_data:
                # the end of data may straddle reads: search from where it could start
                end = self._buffer.find(b"\r\n.\r\n")
                if end < 0:
                    keep = self._buffer[-4:]
                    self._buffer = bytearray(keep)
                    return
                del self._buffer[: end + 5]
                self._in_data = False
                self._counter.accepted += 1
                self._reply(ACCEPTED)
                continue
            line_end = self._buffer.find(b"\r\n")
            if line_end < 0:
                return
            line = bytes(self._buffer[:line_end])
            del self._buffer[: line_end + 2]
            self._command(line)

    def _command(self, line: bytes) -> None:
        verb = line[:4].upper()
        if verb in (b"EHLO", b"HELO"):
            self._reply("250-certflow-smtp-sink\r\n250-8BITMIME\r\n250 SMTPUTF8")
        elif verb == b"DATA":
            self._in_data = True
            self._buffer[:0] = b"\r\n"  # the end marker may be the very first line
            self._reply("354 End data with <CR><LF>.<CR><LF>")
        elif verb == b"QUIT":
            self._reply("221 Bye")
            assert self._transport is not None
            self._transport.close()
        elif verb in (b"MAIL", b"RCPT", b"RSET", b"NOOP"):
            self._reply("250 OK")
        else:
            self._reply("500 Command not recognized")

    def _reply(self, text: str) -> None:
        assert self._transport is not None
        self._transport.write(text.encode() + b"\r\n")


def counts_only(behaviour: RelayBehaviour) -> bool:
    """The plain counting relay serves unless the behaviour asks for more than counting."""
    return behaviour.count_only and behaviour == RelayBehaviour(count_only=True)


async def serve(host: str, port: int, folder: Path, behaviour: RelayBehaviour) -> None:
    handler = SaveToFolder(folder, behaviour)
    loop = asyncio.get_running_loop()
    if counts_only(behaviour):
        server = await loop.create_server(lambda: CountingSmtp(handler), host=host, port=port)
    else:
        server = await loop.create_server(lambda: smtp_server(handler), host=host, port=port)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    logging.info("SMTP sink on %s:%d saving to %s (%s)", host, port, folder, behaviour)
    await stop.wait()
    logging.info("SMTP sink stopping: %d messages accepted", handler.accepted)
    server.close()
    await server.wait_closed()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1025)
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--delay-seconds", type=float, default=0.0)
    parser.add_argument("--fail-every", type=int, default=0)
    parser.add_argument("--fail-reply", default=RelayBehaviour.fail_reply)
    parser.add_argument("--fail-stage", choices=("mail", "rcpt", "data"), default="data")
    parser.add_argument("--drop-every", type=int, default=0)
    parser.add_argument("--no-smtputf8", dest="smtputf8", action="store_false")
    parser.add_argument("--refuse", action="append", default=[], metavar="ADDRESS=REPLY")
    parser.add_argument("--count-only", action="store_true", help="accept and count, store nothing")
    args = parser.parse_args()
    behaviour = RelayBehaviour(
        delay_seconds=args.delay_seconds,
        fail_every=args.fail_every,
        fail_reply=args.fail_reply,
        fail_stage=args.fail_stage,
        drop_every=args.drop_every,
        smtputf8=args.smtputf8,
        refuse=tuple(
            (address.strip().lower(), reply.strip())
            for address, _, reply in (r.partition("=") for r in args.refuse)
        ),
        count_only=args.count_only,
    )
    logging.basicConfig(level=logging.INFO)
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # one line per message costs ~9%
    asyncio.run(serve(args.host, args.port, args.dir, behaviour))


if __name__ == "__main__":
    main()
