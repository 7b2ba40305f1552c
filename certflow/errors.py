"""Domain errors: raised by use cases, translated to transport errors in one place each."""

from dataclasses import dataclass, field


@dataclass
class DomainError(Exception):
    reason: str  # UPPER_SNAKE_CASE, stable, machine-readable (AIP-193 ErrorInfo.reason)
    message: str
    metadata: dict[str, str] = field(default_factory=dict, kw_only=True)

    def __str__(self) -> str:
        return self.message


@dataclass
class FieldViolation:
    field: str
    description: str


@dataclass
class InvalidInput(DomainError):
    violations: list[FieldViolation] = field(default_factory=list)


class NotFound(DomainError):
    pass


class Conflict(DomainError):
    pass


class TooLarge(DomainError):
    pass


class Unavailable(DomainError):
    """A dependency (database, NATS, chain) is down: the caller may retry."""


def invalid_field(field: str, message: str, reason: str = "INVALID_REQUEST") -> InvalidInput:
    """A request refused for one field, with that field as the BadRequest violation."""
    return InvalidInput(reason, message, [FieldViolation(field, message)])
