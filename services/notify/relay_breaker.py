"""Pure: a circuit breaker for the SMTP relay, the clock passed in.

Closed: send. Open: the relay did not answer; send nothing until a probe is due, then let one
probe (connect + NOOP) decide. Each failed probe doubles the wait, up to a ceiling.
"""

from dataclasses import dataclass, field


@dataclass
class RelayBreaker:
    probe_delay: float = 1.0
    max_probe_delay: float = 60.0
    failures: int = 0
    probe_at: float = field(default=0.0)

    @property
    def is_open(self) -> bool:
        return self.failures > 0

    def relay_failed(self, now: float) -> None:
        """The relay did not answer. Many sends in flight fail together: while a probe is not
        yet due they are one failure, not many (the wait grows per probe, not per message)."""
        if self.is_open and now < self.probe_at:
            return
        self.failures += 1
        self.probe_at = now + self.wait_after(self.failures)

    def relay_answered(self) -> None:
        self.failures = 0
        self.probe_at = 0.0

    def probe_due(self, now: float) -> bool:
        return self.is_open and now >= self.probe_at

    def seconds_until_probe(self, now: float) -> float:
        return max(0.0, self.probe_at - now) if self.is_open else 0.0

    def wait_after(self, failures: int) -> float:
        return min(self.probe_delay * 2 ** max(failures - 1, 0), self.max_probe_delay)
