"""DKIM signing (RFC 6376, dkimpy) of the finished message bytes, with a key read from a file.

The private key is held in memory only; it is never logged or shown (repr hides it). The
signature covers the headers a receiver judges us by, including both List-Unsubscribe headers
(RFC 8058 requires them signed), and the whole body. Each is oversigned (RFC 6376 section
8.15): a verifier matches `h=` from the bottom, so without one extra, empty instance a Subject
or Reply-To added above ours still verified while mail clients show the added one.
"""

from pathlib import Path

import dkim

# From is what DMARC aligns on. One absent (Reply-To unless configured; Cc and Sender never
# sent) is signed as empty, so adding it later breaks the signature too.
SIGNED_HEADERS = (
    b"From",
    b"To",
    b"Cc",
    b"Sender",
    b"Subject",
    b"Date",
    b"Message-ID",
    b"Reply-To",
    b"MIME-Version",
    b"Content-Type",
    b"List-Unsubscribe",
    b"List-Unsubscribe-Post",
)
# every one named once more than our message holds it (once): an added instance fails
_OVERSIGNED = (*SIGNED_HEADERS, *SIGNED_HEADERS)


class DkimKeyError(ValueError):
    """The DKIM key file cannot be used; says which path and why, never what is in it."""


class DkimSigner:
    def __init__(self, *, selector: str, domain: str, private_key: bytes) -> None:
        if not selector or not domain:
            raise DkimKeyError("DKIM signing needs a selector and a domain")
        self.selector = selector
        self.domain = domain
        self._private_key = private_key
        try:  # fail at start, not on the first message
            self.sign(b"From: a@" + domain.encode() + b"\r\n\r\nprobe\r\n")
        except dkim.DKIMException as exc:
            raise DkimKeyError(f"the DKIM private key cannot sign: {exc}") from None

    @classmethod
    def from_file(cls, path: Path, *, selector: str, domain: str) -> "DkimSigner":
        try:
            key = path.read_bytes()
        except OSError as exc:
            raise DkimKeyError(f"cannot read the DKIM key file {path}: {exc.strerror}") from None
        return cls(selector=selector, domain=domain, private_key=key)

    def sign(self, message: bytes) -> bytes:
        """The DKIM-Signature header line (ending in CRLF) to put in front of `message`."""
        signature: bytes = dkim.sign(
            message,
            self.selector.encode(),
            self.domain.encode(),
            self._private_key,
            canonicalize=(b"relaxed", b"relaxed"),
            include_headers=_OVERSIGNED,
        )
        return signature

    def __repr__(self) -> str:
        return f"DkimSigner(selector={self.selector!r}, domain={self.domain!r}, key=<hidden>)"
