"""Planned certificates for unit tests: realistic ones and the largest validation allows."""

from datetime import UTC, date, datetime

from certflow.core.document import CertificateContent, IssuerProfile
from certflow.core.issuance import PlannedCertificate, key_requests, plan_certificates
from certflow.core.validation import (
    MAX_CUSTOM_FIELDS,
    MAX_CUSTOM_VALUE_LENGTH,
    MAX_NAME_LENGTH,
    MAX_TITLE_LENGTH,
)

ISSUER = IssuerProfile(
    id="https://registrar.example-university.edu/issuers/main",
    name="Example University, Office of the Registrar",
    url="https://www.example-university.edu",
    email="registrar@example-university.edu",
)


def realistic(count: int) -> list[PlannedCertificate]:
    contents = [
        CertificateContent(
            recipient_name=f"María-José García Fernández-Ångström {i}",
            recipient_email=f"maria.jose.garcia.fernandez.{i}@students.example-university.edu",
            title="BSc (Hons) Computer Science with a Year in Industry",
            completion_date=date(2026, 6, 30),
            expiry_date=date(2031, 6, 30),
            custom_fields={
                "grade": "First Class Honours",
                "student_id": f"2026{i:06d}",
                "programme_code": "G403-YI",
                "faculty": "Faculty of Science and Engineering",
            },
        )
        for i in range(count)
    ]
    return _plan(contents)


def largest(count: int) -> list[PlannedCertificate]:
    """Every field at its length limit, in 3-byte UTF-8 characters."""
    contents = [
        CertificateContent(
            recipient_name=f"{i:06d}" + "名" * (MAX_NAME_LENGTH - 6),
            recipient_email=f"grad{i}@example.edu",
            title="課" * MAX_TITLE_LENGTH,
            completion_date=date(2026, 6, 30),
            custom_fields={
                f"field_{n}": "値" * MAX_CUSTOM_VALUE_LENGTH for n in range(MAX_CUSTOM_FIELDS)
            },
        )
        for i in range(count)
    ]
    return _plan(contents)


def _plan(contents: list[CertificateContent]) -> list[PlannedCertificate]:
    keyed, duplicates = key_requests(ISSUER.id, list(enumerate(contents, start=2)))
    assert not duplicates
    return plan_certificates(ISSUER, keyed, issued_at=datetime(2026, 11, 29, tzinfo=UTC))
