"""Domain errors: raised by use cases, translated to transport errors in one place each."""

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

T = TypeVar("T")


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


class Cancelled(DomainError):
    """The caller gave up (cancelled, or its deadline passed): the work stopped, nothing written."""


class CancelSignal(Protocol):
    """Set when the caller is gone; `threading.Event` is one."""

    def is_set(self) -> bool: ...


class _NeverCancelled:
    def is_set(self) -> bool:
        return False


NOT_CANCELLED: CancelSignal = _NeverCancelled()
CANCEL_CHECK_EVERY = 256  # items between checks: cheap, and stops within milliseconds


def until_cancelled(items: Iterable[T], cancel: CancelSignal) -> Iterator[T]:
    """Yields items, raising Cancelled at the next check once the caller has gone."""
    for index, item in enumerate(items):
        if index % CANCEL_CHECK_EVERY == 0 and cancel.is_set():
            raise Cancelled("CANCELLED", "the caller cancelled the request; nothing was written")
        yield item
