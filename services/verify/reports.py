"""Problem reports from the verification page ("report a problem with this certificate"):
what a report may hold, checked before anything is stored, and the store's Protocol.

Nothing about the reporter is kept but what they type: the email address only when they give
one to be answered at (the form says so), never their network address.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from email_validator import EmailNotValidError, validate_email

from certflow.core.errors import FieldViolation, InvalidInput

CATEGORIES = {
    "wrong_details": "Details on it are wrong (name, title, date)",
    "not_mine": "This certificate is not mine / I did not earn it",
    "verification_fails": "It does not verify although it should",
    "other": "Something else",
}
MAX_MESSAGE = 2_000
MAX_EMAIL = 254
MAX_FORM_BYTES = 8_192  # a whole form: category, message, email, in any encoding


@dataclass(frozen=True, slots=True)
class ProblemReport:
    certificate_id: str
    category: str
    message: str
    contact_email: str | None  # only when the reporter gave one


def problem_report(certificate_id: str, form: Mapping[str, str]) -> ProblemReport:
    """The report a form describes; raises InvalidInput naming each bad field."""
    violations: list[FieldViolation] = []
    category = form.get("category", "")
    if category not in CATEGORIES:
        violations.append(FieldViolation("category", f"one of {', '.join(CATEGORIES)}"))
    message = form.get("message", "").strip()
    if not message:
        violations.append(FieldViolation("message", "say what is wrong"))
    elif len(message) > MAX_MESSAGE:
        violations.append(FieldViolation("message", f"at most {MAX_MESSAGE} characters"))
    email: str | None = form.get("email", "").strip() or None
    if email is not None:
        try:
            email = validate_email(email[: MAX_EMAIL + 1], check_deliverability=False).normalized
        except EmailNotValidError:
            violations.append(FieldViolation("email", "not an email address (or leave it empty)"))
    if violations:
        raise InvalidInput("INVALID_REPORT", "the report cannot be sent", violations=violations)
    return ProblemReport(certificate_id, category, message, email)


class ProblemReports(Protocol):
    def add_report(self, report: ProblemReport) -> bool:
        """Records a report against the certificate's batch; False when the certificate is not
        known (nothing is stored)."""
        ...

    def count_for_batch(self, batch_id: str) -> dict[str, int]:
        """The batch's reports, counted per category (every category, zeros too)."""
        ...
