"""SMTP delivery: a pool of reused connections, each send turned into a SendResult.

Nothing raised while sending one message escapes `send`: every failure is that message's
result, so one odd message can never stop the loop that sends the others.

A send goes MAIL, RCPT, DATA in separate steps, so a failure says how far it got: before DATA
the relay has not got the message (nothing judged, nothing counted); once DATA was issued the
body may have gone out and been stored without our hearing the answer, so the send is
Unconfirmed and counts as an attempt (a slow relay must not be handed the same message for
ever).
"""

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator
from typing import Any

import aiosmtplib
from aiosmtplib.typing import SMTPStatus

from services.notify.outcome_policy import (
    Accepted,
    Refused,
    RelayUnavailable,
    SenderRefused,
    SendResult,
    Unconfirmed,
    Unexpected,
    Unsendable,
)
from services.notify.rendering import RenderedEmail

log = logging.getLogger(__name__)

NO_SMTPUTF8 = (
    "the recipient's local part is not ASCII and the relay does not offer SMTPUTF8 (RFC 6531)"
)
SERVICE_CLOSING = 421
_TRANSPORT_ERRORS = (aiosmtplib.SMTPException, OSError, TimeoutError)


class SmtpConnection:
    """One pooled connection, lent to one send at a time."""

    def __init__(self, pool: "SmtpPool", client: aiosmtplib.SMTP) -> None:
        self._pool = pool
        self._client = client

    async def send(self, message: RenderedEmail) -> SendResult:
        return await self._pool.send_on(self._client, message)


class SmtpPool:
    def __init__(
        self,
        *,
        host: str,
        port: int,
        username: str,
        password: str | None,
        starttls: bool,
        implicit_tls: bool,
        timeout: float,
        send_deadline: float,
        connections: int,
        mail_from: str,
    ) -> None:
        self._mail_from = mail_from
        self._options: dict[str, Any] = {
            "hostname": host,
            "port": port,
            "timeout": timeout,
            "use_tls": implicit_tls,
            "start_tls": starttls,
        }
        self._login = (username, password) if username and password else None
        self._send_deadline = send_deadline
        self.connections = max(connections, 1)
        self._clients: asyncio.Queue[aiosmtplib.SMTP] = asyncio.Queue()
        for _ in range(self.connections):
            self._clients.put_nowait(aiosmtplib.SMTP(**self._options))

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[SmtpConnection]:
        """Waits for a free connection; it goes back to the pool as soon as the block ends."""
        client = await self._clients.get()
        try:
            yield SmtpConnection(self, client)
        finally:
            self._clients.put_nowait(client)

    async def send(self, message: RenderedEmail) -> SendResult:
        async with self.connection() as connection:
            return await connection.send(message)

    async def probe(self) -> bool:
        """Does the relay answer and accept our sender (connect, log in if configured, MAIL
        FROM, RSET)? Sends no mail."""
        client = aiosmtplib.SMTP(**self._options)
        try:
            async with asyncio.timeout(self._send_deadline):
                await self._connect(client)
                await client.mail(self._mail_from)
                await client.rset()
            return True
        except _TRANSPORT_ERRORS as exc:
            log.info("SMTP relay probe failed: %s", exc)
            return False
        finally:
            await _reset(client)

    async def close(self) -> None:
        while not self._clients.empty():
            await _reset(self._clients.get_nowait())

    async def send_on(self, client: aiosmtplib.SMTP, message: RenderedEmail) -> SendResult:
        """One message on one connection, within the send deadline."""
        if not client.is_connected:
            try:
                async with asyncio.timeout(self._send_deadline):
                    await self._connect(client)
            except _TRANSPORT_ERRORS as exc:
                # a refused connection or login is the relay's problem, not the message's
                client.close()
                return RelayUnavailable(f"SMTP connect/login failed: {_describe(exc)}")
        if message.smtputf8 and not client.supports_extension("smtputf8"):
            return Unsendable(NO_SMTPUTF8)
        stage = _Stage()
        try:
            async with asyncio.timeout(self._send_deadline):
                await self._transact(client, message, stage)
            return Accepted()
        except aiosmtplib.SMTPSenderRefused as exc:
            client.close()  # a reply about our sender or account, not about this message
            return SenderRefused(exc.code, exc.message)
        except aiosmtplib.SMTPResponseException as exc:
            await _end_transaction(client, exc.code)
            return Refused(exc.code, exc.message)
        except _TRANSPORT_ERRORS as exc:
            client.close()  # its state is unknown: the next send starts a fresh connection
            if stage.data_issued:
                return Unconfirmed(f"no answer once the message was sent: {_describe(exc)}")
            return RelayUnavailable(_describe(exc))
        except Exception as exc:
            client.close()
            log.exception("unexpected error sending %s", message.recipient)
            return Unexpected(f"{type(exc).__name__}: {exc}")

    async def _transact(
        self, client: aiosmtplib.SMTP, message: RenderedEmail, stage: "_Stage"
    ) -> None:
        encoding = "utf-8" if message.smtputf8 else "ascii"
        options = ["SMTPUTF8"] if message.smtputf8 else []
        sender = message.envelope_from or self._mail_from  # a VERP address names the delivery
        if _PLAIN_ADDRESS.fullmatch(sender) and _PLAIN_ADDRESS.fullmatch(message.recipient):
            await _mail_and_rcpt(client, sender, message.recipient, options, encoding)
        else:
            await client.mail(sender, options=options, encoding=encoding)
            await client.rcpt(message.recipient, encoding=encoding)
        stage.data_issued = True  # from here the relay may have the message
        await client.data(message.data)

    async def _connect(self, client: aiosmtplib.SMTP) -> None:
        await client.connect()
        if client.is_ehlo_or_helo_needed:
            await client.ehlo()  # now, so the relay's extensions (SMTPUTF8) are known
        if self._login:
            await client.login(*self._login)


class _Stage:
    data_issued = False


# an address aiosmtplib's quote_address would send as it is: no space, quote, bracket,
# separator or line break (rendering.wire_address guarantees it of every recipient)
_ATOM = r"[^\s\x00-\x1f\x7f<>\"(),;:\\\[\]@]+"
_PLAIN_ADDRESS = re.compile(f"{_ATOM}@{_ATOM}")


async def _mail_and_rcpt(
    client: aiosmtplib.SMTP, sender: str, recipient: str, options: list[str], encoding: str
) -> None:
    """MAIL and RCPT as client.mail and client.rcpt send them, answers judged alike, without
    their email.utils.parseaddr of each address (a tenth of the send path's CPU)."""
    extra = [option.encode("ascii") for option in options]
    response = await client.execute_command(
        b"MAIL", b"FROM:<" + sender.encode(encoding) + b">", *extra
    )
    if response.code != SMTPStatus.completed:
        raise aiosmtplib.SMTPSenderRefused(response.code, response.message, sender)
    response = await client.execute_command(b"RCPT", b"TO:<" + recipient.encode(encoding) + b">")
    if response.code not in (SMTPStatus.completed, SMTPStatus.will_forward):
        raise aiosmtplib.SMTPRecipientRefused(response.code, response.message, recipient)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


async def _end_transaction(client: aiosmtplib.SMTP, code: int) -> None:
    """After a refusal the connection serves the next message, once the transaction is reset;
    a 421 means the relay closes the channel."""
    if code == SERVICE_CLOSING or not client.is_connected:
        client.close()
        return
    try:
        await client.rset()
    except Exception:
        client.close()


async def _reset(client: aiosmtplib.SMTP) -> None:
    try:
        if client.is_connected:
            await client.quit()
    except Exception:
        client.close()
