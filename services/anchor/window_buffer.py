"""Pure: collects pending leaves until a window closes on size or age."""

from dataclasses import dataclass, field
from typing import Any


@dataclass
class WindowBuffer:
    max_leaves: int
    max_age_seconds: float
    leaves: list[tuple[str, bytes]] = field(default_factory=list)
    messages: list[Any] = field(default_factory=list)
    opened_at: float | None = None

    def add(self, leaves: list[tuple[str, bytes]], message: Any, now: float) -> None:
        if self.opened_at is None:
            self.opened_at = now
        self.leaves.extend(leaves)
        self.messages.append(message)

    def should_close(self, now: float) -> bool:
        if not self.messages:
            return False
        if len(self.leaves) >= self.max_leaves:
            return True
        return self.opened_at is not None and now - self.opened_at >= self.max_age_seconds

    def take(self) -> tuple[list[list[tuple[str, bytes]]], list[Any]]:
        """The held leaves as windows of at most `max_leaves` each (one message may carry more
        leaves than that), and the messages to acknowledge once every window is stored."""
        size = max(self.max_leaves, 1)
        windows = [self.leaves[i : i + size] for i in range(0, len(self.leaves), size)]
        messages = self.messages
        self.leaves, self.messages, self.opened_at = [], [], None
        return windows, messages
