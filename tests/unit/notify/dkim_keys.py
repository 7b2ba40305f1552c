"""A throwaway DKIM key pair and the DNS answer that publishes it, for dkimpy's `dnsfunc`."""

import base64
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from Crypto.PublicKey import RSA  # pycryptodome: already in the tree (eth-account)


@dataclass(frozen=True)
class DkimKeys:
    selector: str
    domain: str
    private_pem: bytes
    public_der: bytes

    def write_private(self, folder: Path) -> Path:
        path = folder / f"{self.selector}.private"
        path.write_bytes(self.private_pem)
        path.chmod(0o600)
        return path

    def dns(self) -> Callable[..., bytes | None]:
        """What dkimpy's `dnsfunc` is asked: the TXT record at selector._domainkey.domain."""
        record = b"v=DKIM1; k=rsa; p=" + base64.b64encode(self.public_der)
        name = f"{self.selector}._domainkey.{self.domain}.".encode()

        def txt(queried: bytes, timeout: int = 5) -> bytes | None:
            return record if queried == name else None

        return txt


def new_keys(selector: str = "test", domain: str = "uni.example", bits: int = 1024) -> DkimKeys:
    key = RSA.generate(bits)
    return DkimKeys(
        selector,
        domain,
        key.export_key(format="PEM", pkcs=1),
        key.publickey().export_key(format="DER"),
    )
