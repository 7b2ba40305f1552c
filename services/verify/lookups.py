"""Database look-ups for verification by id (read-only)."""

import asyncio

from sqlalchemy.orm import Session, sessionmaker

from certflow.db.read_models import StoredCertificate, load_certificate


class CertificateLookups:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def _load(self, certificate_id: str) -> StoredCertificate | None:
        with self._sessions() as session:
            return load_certificate(session, certificate_id)

    async def find(self, certificate_id: str) -> StoredCertificate | None:
        if not _plausible_id(certificate_id):
            return None
        return await asyncio.to_thread(self._load, certificate_id)

    async def is_pending(self, certificate_id: str) -> bool:
        stored = await self.find(certificate_id)
        return stored is not None and not stored.anchored


def _plausible_id(certificate_id: str) -> bool:
    return 0 < len(certificate_id) <= 36 and all(c in "0123456789abcdef-" for c in certificate_id)
