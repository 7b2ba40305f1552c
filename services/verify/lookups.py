"""Database look-ups for verification by id (read-only)."""

import asyncio

from sqlalchemy.orm import Session, sessionmaker

from certflow.platform.db.read_models import StoredCertificate, load_certificate
from services.verify.by_id import is_certificate_id


class CertificateLookups:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def _load(self, certificate_id: str) -> StoredCertificate | None:
        with self._sessions() as session:
            return load_certificate(session, certificate_id)

    async def find(self, certificate_id: str) -> StoredCertificate | None:
        if not is_certificate_id(certificate_id):
            return None
        return await asyncio.to_thread(self._load, certificate_id)

    async def is_pending(self, certificate_id: str) -> bool:
        stored = await self.find(certificate_id)
        return stored is not None and not stored.anchored
