"""Look-ups by certificate id, answered from verify's own read model."""

import asyncio

from services.verify.by_id import is_certificate_id
from services.verify.read_model import (
    CertificateState,
    CertificateStore,
    KnownCertificate,
    known_certificate,
)


class CertificateLookups:
    def __init__(self, store: CertificateStore) -> None:
        self._store = store

    async def find(self, certificate_id: str) -> KnownCertificate | None:
        """The certificate with its proof once anchored; None when its credential is unknown
        (or the text cannot be an id, which is not even asked of the store)."""
        if not is_certificate_id(certificate_id):
            return None
        return known_certificate(await asyncio.to_thread(self._store.find, certificate_id))

    async def is_pending(self, certificate_id: str) -> bool:
        found = await self.find(certificate_id)
        return found is not None and found.state is CertificateState.PENDING
