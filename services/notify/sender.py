"""SMTP delivery: a pool of reused connections behind one rate limit."""

import asyncio
import logging
from datetime import UTC, datetime, timedelta

import aiosmtplib

from certflow.rate_limit import TokenBucket
from services.notify.deliveries import Claim, ClaimedDelivery, Outcome
from services.notify.rendering import RenderedEmail, Sender, UnsafeHeader, render

log = logging.getLogger(__name__)


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
        rate: TokenBucket,
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
        self._clients: asyncio.Queue[aiosmtplib.SMTP] = asyncio.Queue()
        for _ in range(max(connections, 1)):
            self._clients.put_nowait(aiosmtplib.SMTP(**self._options))
        self._rate = rate

    async def send(self, message: RenderedEmail) -> Outcome:
        await self._rate.take()
        client = await self._clients.get()
        try:
            if not client.is_connected:
                try:
                    await client.connect()
                    if self._login:
                        await client.login(*self._login)
                except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
                    # a refused connection or login is the relay's problem, not the message's
                    await _reset(client)
                    return Outcome("", sent=False, error=f"SMTP connect/login failed: {exc}")
            errors, _ = await client.sendmail(self._mail_from, [message.recipient], message.data)
            if errors:
                code, text = errors[message.recipient]
                return Outcome("", sent=False, permanent=500 <= code < 600, error=f"{code} {text}")
            return Outcome("", sent=True)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            permanent = all(500 <= e.code < 600 for e in exc.recipients)
            return Outcome("", sent=False, permanent=permanent, error=str(exc))
        except aiosmtplib.SMTPResponseException as exc:
            if exc.code >= 500:
                return Outcome("", sent=False, permanent=True, error=f"{exc.code} {exc.message}")
            return Outcome("", sent=False, error=f"{exc.code} {exc.message}")
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            await _reset(client)
            return Outcome("", sent=False, error=f"SMTP unavailable: {exc}")
        finally:
            self._clients.put_nowait(client)

    async def close(self) -> None:
        while not self._clients.empty():
            await _reset(self._clients.get_nowait())


async def _reset(client: aiosmtplib.SMTP) -> None:
    try:
        if client.is_connected:
            await client.quit()
    except Exception:
        client.close()


async def deliver_all(pool: SmtpPool, sender: Sender, claim: Claim) -> list[Outcome]:
    # stop a minute before the lease runs out: after it, another sender may own the delivery
    deadline = claim.lease_until - timedelta(minutes=1)

    async def one(delivery: ClaimedDelivery) -> Outcome:
        if datetime.now(UTC) >= deadline:
            return Outcome(delivery.delivery_id, sent=False, error="claim lease ran out")
        if delivery.email is None:
            return Outcome(
                delivery.delivery_id, sent=False, permanent=True, error="certificate not anchored"
            )
        try:
            message = render(delivery.email, sender)
        except UnsafeHeader as exc:
            return Outcome(delivery.delivery_id, sent=False, permanent=True, error=str(exc))
        outcome = await pool.send(message)
        return Outcome(delivery.delivery_id, outcome.sent, outcome.permanent, outcome.error)

    return list(await asyncio.gather(*(one(d) for d in claim.deliveries)))
