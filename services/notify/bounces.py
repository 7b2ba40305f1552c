"""Pure: bounce addresses (VERP), delivery status notifications (RFC 3464) and suppression rules.

A message leaves with a per-delivery envelope sender, `bounces+<delivery>-<generation>-<mac>@
domain` (VERP): whatever bounces it later comes back to that address, so the bounce names its
delivery without our trusting anything inside the report. The mac is a keyed BLAKE2s of the
delivery and generation (its key derived from notify's secret), so nobody can make an address
that suppresses someone else's delivery; the generation changes with every resend, so a late
bounce of an earlier send cannot bounce the resend. Hex only: some relays lower-case local parts.

A report is read defensively (any exception is "not a report"): only the top-level parts of a
multipart/report are looked at, never a walk of arbitrary nesting.
"""

import hashlib
import hmac
import re
import uuid
from dataclasses import dataclass
from email import message_from_bytes
from email.message import Message
from email.parser import HeaderParser
from email.policy import compat32
from enum import StrEnum

MAC_HEX = 16  # 64 bits: forging one address takes ~2^63 tries, each an SMTP transaction
MAX_LOCAL_PART = 64  # RFC 5321
EXCERPT = 200  # what a history event keeps of a reply or diagnostic
MAX_REPORT_PARTS = 16
# what the stdlib parser is given at most (counted on the raw bytes first): it builds a Message
# per MIME part and per status block, so 1 MiB of boundaries or blank lines took it 6-20 s of
# CPU; a real report (even 1,000 recipients, or the original returned whole) is far below
MAX_BOUNDARY_LINES = 256
MAX_BLANK_LINES = 5000
_ENHANCED = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_REPLY = re.compile(r"\b([245]\d\d)\b")
# only from the start of a run of local-part characters: tried from every position of a long
# run, the greedy run and its backtracking made excerpt() quadratic (a 32 KB word took 15 s)
_ADDRESS = re.compile(r"(?<![^\s<>@;:,\"'])[^\s<>@;:,\"']+@([A-Za-z0-9.-]+)")
_MESSAGE_ID = re.compile(r"<([0-9a-f-]{36})(?:\.g(\d{1,6}))?@[^>\s]+>", re.IGNORECASE)


class SuppressionReason(StrEnum):
    """Why an issuer's mail to an address stops: a permanent bounce, or the recipient's wish."""

    BOUNCED = "bounced"
    UNSUBSCRIBED = "unsubscribed"
    COMPLAINED = "complained"  # the recipient marked it as spam (an ARF feedback report)


# ---- VERP ----


@dataclass(frozen=True, slots=True)
class VerpToken:
    delivery_id: str
    generation: int


class DeliveryTokens:
    """`<delivery hex>-<generation>-<mac>`: names one send of one delivery, signed for one
    purpose (VERP, unsubscribe) so a token of one purpose is no token of another."""

    def __init__(self, secret: bytes, purpose: bytes) -> None:
        self._key = hmac.new(secret, purpose, hashlib.sha256).digest()

    def make(self, delivery_id: str, generation: int) -> str:
        hex_id = delivery_id.replace("-", "").lower()  # our ids are UUIDs (str(uuid4()))
        return f"{hex_id}-{generation}-{self._mac(hex_id, generation)}"

    def read(self, token: str) -> VerpToken | None:
        """The send a token names, or None when it is garbled or its mac is wrong."""
        if not token.isascii():  # '²' passed isdigit() but not int(); compare_digest raises
            return None
        parts = token.lower().split("-")
        if len(parts) != 3 or len(parts[0]) != 32 or not parts[1].isdigit() or len(parts[1]) > 6:
            return None
        hex_id, generation, mac = parts[0], int(parts[1]), parts[2]
        try:
            delivery_id = str(uuid.UUID(hex=hex_id))
        except ValueError:
            return None
        if not hmac.compare_digest(mac, self._mac(hex_id, generation)):
            return None
        return VerpToken(delivery_id, generation)

    def _mac(self, hex_id: str, generation: int) -> str:
        return _mac(self._key, f"{hex_id}:{generation}".encode(), MAC_HEX // 2)


def _mac(key: bytes, message: bytes, size: int) -> str:
    """Keyed BLAKE2s (RFC 7693's MAC mode), hex: measured here 4x cheaper than HMAC-SHA256
    per call, and this runs for every email a claim takes."""
    return hashlib.blake2s(message, key=key, digest_size=size).hexdigest()


def unsubscribe_tokens(secret: bytes) -> DeliveryTokens:
    """The tokens of the one-click unsubscribe URLs (unsubscribe.py)."""
    return DeliveryTokens(secret, b"certflow-unsubscribe")


class BounceAddresses:
    """Makes and reads the VERP envelope senders of one bounce address (`bounces@domain`)."""

    def __init__(self, bounce_address: str, secret: bytes) -> None:
        local, sep, domain = bounce_address.rpartition("@")
        if not sep or not local or not domain or "+" in local:
            raise ValueError("the bounce address must be local@domain, without '+'")
        if len(local) + 1 + 32 + 8 + MAC_HEX > MAX_LOCAL_PART:
            raise ValueError("the bounce address's local part is too long for VERP")
        self.local = local.lower()
        self.domain = domain.lower()
        self._tokens = DeliveryTokens(secret, b"certflow-verp")

    @property
    def plain(self) -> str:
        return f"{self.local}@{self.domain}"

    def sender_for(self, delivery_id: str, generation: int) -> str:
        return f"{self.local}+{self._tokens.make(delivery_id, generation)}@{self.domain}"

    def read(self, address: str) -> VerpToken | None:
        """The delivery an envelope recipient names, or None when it is not one of ours or
        its mac is wrong (forged, garbled)."""
        local, sep, domain = address.strip().strip("<>").rpartition("@")
        if not sep or domain.lower() != self.domain:
            return None
        base, plus, token = local.lower().partition("+")
        if base != self.local or not plus:
            return None
        return self._tokens.read(token)

    def is_plain(self, address: str) -> bool:
        return address.strip().strip("<>").lower() == self.plain


def message_id_for(delivery_id: str, generation: int, domain: str) -> str:
    """The Message-ID of a delivery's n-th send: a resend is a new message."""
    return (
        f"<{delivery_id}@{domain}>"
        if generation == 0
        else f"<{delivery_id}.g{generation}@{domain}>"
    )


def read_message_id(value: str) -> VerpToken | None:
    """The delivery (and generation) our Message-ID names, or None."""
    found = _MESSAGE_ID.search(value or "")
    if found is None:
        return None
    return VerpToken(found.group(1).lower(), int(found.group(2) or 0))


# ---- RFC 3464 reports ----


class NotAReport(ValueError):
    """The message is not a usable delivery status notification (the reason says why)."""


class Action(StrEnum):
    FAILED = "failed"
    DELAYED = "delayed"
    DELIVERED = "delivered"
    RELAYED = "relayed"
    EXPANDED = "expanded"


@dataclass(frozen=True, slots=True)
class RecipientStatus:
    final_recipient: str  # the address, lower-cased; "" when the report names none
    action: Action
    status: str  # RFC 3463 "5.1.1"
    diagnostic: str  # an excerpt of Diagnostic-Code, printable only


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    recipients: tuple[RecipientStatus, ...]
    original_message_id: str  # from the returned headers; "" when absent


def parse_report(data: bytes) -> DeliveryReport:
    """An RFC 3464 multipart/report (report-type=delivery-status); NotAReport otherwise."""
    try:
        return _parse(data)
    except NotAReport:
        raise
    except Exception as exc:  # the parser on hostile input: never more than "not a report"
        raise NotAReport(f"unreadable: {type(exc).__name__}") from None


def _parse(data: bytes) -> DeliveryReport:
    message = _message(data)
    if message.get_content_type() != "multipart/report":
        raise NotAReport(f"not a multipart/report but {message.get_content_type()}")
    if str(message.get_param("report-type") or "").lower() != "delivery-status":
        raise NotAReport("a report, but not of delivery status")
    parts = message.get_payload()
    if not isinstance(parts, list) or not parts:
        raise NotAReport("a report without parts")
    status_blocks: list[Message] | None = None
    original = ""
    for part in parts[:MAX_REPORT_PARTS]:
        if not isinstance(part, Message):
            continue
        kind = part.get_content_type()
        if kind in ("message/delivery-status", "message/global-delivery-status"):
            status_blocks = _blocks(part)
        elif kind in ("message/rfc822", "text/rfc822-headers", "message/global-headers"):
            original = _original_message_id(part)
    if status_blocks is None:
        raise NotAReport("no message/delivery-status part")
    recipients = tuple(r for r in (_recipient(b) for b in status_blocks[1:]) if r is not None)
    if not recipients:
        raise NotAReport("no per-recipient fields")
    return DeliveryReport(recipients, original)


def _message(data: bytes) -> Message:
    """The parsed message, unless its shape would make the parser itself the attack."""
    if data.count(b"\n--") > MAX_BOUNDARY_LINES:
        raise NotAReport("too many MIME boundaries")
    if data.count(b"\n\n") + data.count(b"\n\r\n") > MAX_BLANK_LINES:
        raise NotAReport("too many blank lines")
    return message_from_bytes(data, policy=compat32)


def _blocks(part: Message) -> list[Message]:
    payload = part.get_payload()
    if isinstance(payload, list):  # the parser splits message/delivery-status into blocks
        return [b for b in payload if isinstance(b, Message)]
    text = payload if isinstance(payload, str) else ""
    chunks = re.split(r"\r?\n\s*\r?\n", text.strip())
    return [HeaderParser(policy=compat32).parsestr(c) for c in chunks if c.strip()]


def _recipient(block: Message) -> RecipientStatus | None:
    action = str(block.get("Action", "")).strip().lower()
    status = _ENHANCED.search(str(block.get("Status", "")))
    if action not in Action.__members__.values() or status is None:
        return None
    final = str(block.get("Final-Recipient", "") or block.get("Original-Recipient", ""))
    _, _, address = final.partition(";")
    return RecipientStatus(
        final_recipient=_printable(address.strip().strip("<>").lower(), 320),
        action=Action(action),
        status=status.group(0),
        diagnostic=excerpt(str(block.get("Diagnostic-Code", ""))),
    )


def _original_headers(part: Message) -> Message | None:
    payload = part.get_payload()
    if isinstance(payload, list) and payload and isinstance(payload[0], Message):
        return payload[0]
    if isinstance(payload, str):
        return HeaderParser(policy=compat32).parsestr(payload)
    return None


def _original_message_id(part: Message) -> str:
    headers = _original_headers(part)
    return "" if headers is None else _printable(str(headers.get("Message-ID", "")), 255)


@dataclass(frozen=True, slots=True)
class FeedbackReport:
    """An RFC 5965 (ARF) feedback report: a mailbox provider telling that its user marked the
    message as spam. Matched to its delivery by the original's Return-Path (our VERP address,
    whose mac is checked), never by anything else in it."""

    feedback_type: str  # "abuse", "fraud", …
    return_path: str  # the original message's Return-Path; "" when not returned


def parse_feedback(data: bytes) -> FeedbackReport:
    """A multipart/report; report-type=feedback-report; NotAReport otherwise."""
    try:
        message = _message(data)
        if message.get_content_type() != "multipart/report":
            raise NotAReport(f"not a multipart/report but {message.get_content_type()}")
        if str(message.get_param("report-type") or "").lower() != "feedback-report":
            raise NotAReport("a report, but not a feedback report")
        parts = message.get_payload()
        if not isinstance(parts, list):
            raise NotAReport("a report without parts")
        feedback_type, return_path = "", ""
        for part in parts[:MAX_REPORT_PARTS]:
            if not isinstance(part, Message):
                continue
            kind = part.get_content_type()
            if kind == "message/feedback-report":
                blocks = _blocks(part)
                if blocks:
                    feedback_type = str(blocks[0].get("Feedback-Type", "")).strip().lower()
            elif kind in ("message/rfc822", "text/rfc822-headers"):
                headers = _original_headers(part)
                if headers is not None:
                    return_path = str(headers.get("Return-Path", "")).strip()
        if not feedback_type:
            raise NotAReport("no Feedback-Type")
        return FeedbackReport(_printable(feedback_type, 32), _printable(return_path, 320))
    except NotAReport:
        raise
    except Exception as exc:  # the parser on hostile input: never more than "not a report"
        raise NotAReport(f"unreadable: {type(exc).__name__}") from None


def excerpt(text: str) -> str:
    """A short, single-line, printable excerpt of a reply or diagnostic for the history and
    the suppression list, with any address it quotes cut to its domain (relays quote it)."""
    return _printable(_ADDRESS.sub(r"…@\1", " ".join(text.split())), EXCERPT)


def _printable(text: str, limit: int) -> str:
    return "".join(c for c in text if c.isprintable())[:limit]


# ---- what a bounce means ----


class BounceKind(StrEnum):
    PERMANENT = "permanent"  # failed, 5.x.x: bounced for good
    TRANSIENT = "transient"  # failed, 4.x.x: the remote gave up on a temporary problem
    DELAYED = "delayed"  # still trying: history only


def bounce_kind(status: RecipientStatus) -> BounceKind | None:
    """What a recipient's status means for its delivery; None: nothing (delivered, relayed)."""
    if status.action is Action.DELAYED:
        return BounceKind.DELAYED
    if status.action is not Action.FAILED:
        return None
    return BounceKind.PERMANENT if status.status.startswith("5") else BounceKind.TRANSIENT


def suppresses(status: str) -> bool:
    """Does a permanent failure put the address on the issuer's suppression list? Yes, unless
    its RFC 3463 subject says the refusal was about this message rather than the address:
    message content or media (5.3.x, 5.6.x) or security/policy (5.7.x, e.g. spam filtering).
    `status` is the enhanced code ("5.1.1"), or the text of a reply that may contain one."""
    found = _ENHANCED.search(status)
    if found is None:
        reply = _REPLY.search(status)
        return reply is not None and reply.group(1).startswith("5")
    if found.group(1) != "5":
        return False
    return found.group(2) not in ("3", "6", "7")


def reply_code(text: str) -> int:
    """The SMTP reply code a text starts with (0 if none)."""
    found = re.match(r"\s*([245]\d\d)\b", text)
    return int(found.group(1)) if found else 0


# ---- suppression keys ----


class AddressKeys:
    """Keyed hashes of (issuer, address): the suppression list holds these, not addresses, so
    a copy of notify's table does not list who bounced or unsubscribed; an operator finds an
    entry again from the address (its key) or by its hint (first letter and domain)."""

    def __init__(self, secret: bytes) -> None:
        self._key = hmac.new(secret, b"certflow-suppression", hashlib.sha256).digest()

    def key(self, issuer_name: str, address: str) -> str:
        value = f"{issuer_name}\x00{normalise_address(address)}".encode()
        return _mac(self._key, value, 32)


def normalise_address(address: str) -> str:
    return address.strip().lower()


def address_hint(address: str) -> str:
    """What a listing shows of an address: 'a…@example.org'."""
    local, sep, domain = normalise_address(address).rpartition("@")
    if not sep:
        return "…"
    return f"{local[:1]}…@{domain}"[:96]
