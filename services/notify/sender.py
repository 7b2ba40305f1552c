"""SMTP delivery: a pool of reused connections, each send turned into a SendResult.

Nothing raised while sending one message escapes `send`: every failure is that message's
result, so one odd message can never stop the loop that sends the others.
"""

import asyncio
import logging

import aiosmtplib

from services.notify.outcome_policy import (
    Accepted,
    Refused,
    RelayUnavailable,
    SendResult,
    Unexpected,
    Unsendable,
)
from services.notify.rendering import RenderedEmail

log = logging.getLogger(__name__)

NO_SMTPUTF8 = (
    "the recipient's local part is not ASCII and the relay does not offer SMTPUTF8 (RFC 6531)"
)


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
        connections: int,
        mail_from: str,
    ) -> None:
        self._mail_from = mail_from
        self._options = {
            "hostname": host,
            "port": port,
            "timeout": timeout,
            "use_tls": implicit_tls,
            "start_tls": starttls,
        }
        self._login = (username, password) if username and password else None
        self.connections = max(connections, 1)
        self._clients: asyncio.Queue[aiosmtplib.SMTP] = asyncio.Queue()
        for _ in range(self.connections):
            self._clients.put_nowait(aiosmtplib.SMTP(**self._options))

    async def send(self, message: RenderedEmail) -> SendResult:
        client = await self._clients.get()
        try:
            return await self._send_on(client, message)
        finally:
            self._clients.put_nowait(client)

    async def probe(self) -> bool:
        """Does the relay answer (connect, log in if configured, NOOP)? Sends no mail."""
        client = aiosmtplib.SMTP(**self._options)
        try:
            await self._connect(client)
            await client.noop()
            return True
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            log.info("SMTP relay probe failed: %s", exc)
            return False
        finally:
            await _reset(client)

    async def close(self) -> None:
        while not self._clients.empty():
            await _reset(self._clients.get_nowait())

    async def _send_on(self, client: aiosmtplib.SMTP, message: RenderedEmail) -> SendResult:
        if not client.is_connected:
            try:
                await self._connect(client)
            except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
                # a refused connection or login is the relay's problem, not the message's
                await _reset(client)
                return RelayUnavailable(f"SMTP connect/login failed: {exc}")
        if message.smtputf8 and not client.supports_extension("smtputf8"):
            return Unsendable(NO_SMTPUTF8)
        options = ["SMTPUTF8"] if message.smtputf8 else []
        try:
            await client.sendmail(
                self._mail_from, [message.recipient], message.data, mail_options=options
            )
            return Accepted()
        except aiosmtplib.SMTPRecipientsRefused as exc:
            refusal = exc.recipients[0]
            return Refused(refusal.code, refusal.message)
        except aiosmtplib.SMTPResponseException as exc:
            if exc.code == 421:  # the relay closes the channel after a 421
                await _reset(client)
            return Refused(exc.code, exc.message)
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            await _reset(client)
            return RelayUnavailable(f"{type(exc).__name__}: {exc}")
        except Exception as exc:
            await _reset(client)
            log.exception("unexpected error sending %s", message.recipient)
            return Unexpected(f"{type(exc).__name__}: {exc}")

    async def _connect(self, client: aiosmtplib.SMTP) -> None:
        await client.connect()
        if client.is_ehlo_or_helo_needed:
            await client.ehlo()  # now, so the relay's extensions (SMTPUTF8) are known
        if self._login:
            await client.login(*self._login)


async def _reset(client: aiosmtplib.SMTP) -> None:
    try:
        if client.is_connected:
            await client.quit()
    except Exception:
        client.close()
