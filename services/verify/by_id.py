"""Verification by certificate id: the use case behind gRPC VerifyCertificate{certificate_id}
and the HTTP look-up and page.

Ids are UUIDs in their canonical lower-case form. Any other text cannot be one of ours: it is
answered as NOT_FOUND like an unknown id (a person who followed a mangled link is told "no such
certificate", not "bad request"), without a database look-up, and echoed cut to the length of
an id, so that a 4-million-character id costs nothing and is not sent back.
"""

import re
import time
from typing import Protocol

from opentelemetry import trace

from certflow.core.verification import (
    Check,
    CheckStatus,
    Verification,
    VerificationStatus,
    Verifier,
    describe,
)
from services.verify.observability import lookup_answered
from services.verify.read_model import KnownCertificate

tracer = trace.get_tracer("certflow.verify")

_CERTIFICATE_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
ID_LENGTH = 36
CUT = "\u2026"  # …


class Lookups(Protocol):
    async def find(self, certificate_id: str) -> KnownCertificate | None: ...


def is_certificate_id(text: str) -> bool:
    return len(text) == ID_LENGTH and _CERTIFICATE_ID.fullmatch(text) is not None


def echoed_id(text: str) -> str:
    """What of a requested id is sent back: at most the length of an id."""
    return text if len(text) <= ID_LENGTH else text[:ID_LENGTH] + CUT


async def verify_by_id(verifier: Verifier, lookups: Lookups, certificate_id: str) -> Verification:
    started = time.monotonic()
    with tracer.start_as_current_span("verify.lookup") as span:
        result = await _verify_by_id(verifier, lookups, certificate_id)
        span.set_attribute("certflow.verification_status", result.status.value)
    lookup_answered(result.status.value, time.monotonic() - started)
    return result


async def _verify_by_id(verifier: Verifier, lookups: Lookups, certificate_id: str) -> Verification:
    not_found = VerificationStatus.NOT_FOUND
    if not is_certificate_id(certificate_id):
        refused = Check("format", CheckStatus.FAILED, "not a certificate id (ids are UUIDs)")
        result = Verification(not_found, [refused], certificate_id=echoed_id(certificate_id))
        return result.finish(not_found)
    found = await lookups.find(certificate_id)
    if found is None:
        return Verification(not_found, certificate_id=certificate_id).finish(not_found)
    if not found.anchored:
        pending = VerificationStatus.PENDING
        result = Verification(pending, certificate_id=certificate_id)
        describe(result, found.document)  # names and title as the credential holds them
        return result.finish(pending)
    return await verifier.verify(found.document)
