"""verify's metrics: look-ups by id (HTTP and gRPC share verify_by_id) and problem reports."""

from certflow.platform import metrics

_lookups = metrics.counter(metrics.VERIFY_LOOKUPS)
_duration = metrics.histogram(metrics.VERIFY_LOOKUP_DURATION)
_reports = metrics.counter(metrics.PROBLEM_REPORTS)


def lookup_answered(status: str, seconds: float) -> None:
    _lookups.add(1, {metrics.OUTCOME: status})
    _duration.record(seconds)


def problem_reported(category: str) -> None:
    _reports.add(1, {metrics.REASON: category})
