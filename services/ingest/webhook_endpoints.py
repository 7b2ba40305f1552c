"""Registrar-facing webhook use cases: create (the secret shown once), list, disable, rotate the
secret (the old one keeps signing during the overlap), the delivery log, replay."""

import uuid
from collections.abc import Callable, Collection
from datetime import UTC, datetime, timedelta

from certflow.core.errors import NotFound, invalid_field
from services.ingest.webhook_store import Delivery, Endpoint, SqlWebhookStore
from services.ingest.webhooks import DeliveryState, WebhookEvent, check_url, new_secret

MAX_DESCRIPTION = 200
MAX_ID = 64  # endpoint ids are UUIDs, delivery ids msg_ and 32 hex digits


def _utcnow() -> datetime:
    return datetime.now(UTC)


class WebhookEndpoints:
    def __init__(
        self,
        store: SqlWebhookStore,
        *,
        allow_http_loopback: bool = False,
        rotation_overlap: timedelta = timedelta(hours=24),
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._store = store
        self._allow_loopback = allow_http_loopback
        self._overlap = rotation_overlap
        self._clock = clock

    def create(
        self, url: str, events: Collection[str], *, description: str = "", request_id: str = ""
    ) -> tuple[Endpoint, str]:
        """The endpoint and its secret (shown this once; an idempotent repeat returns "")."""
        check_url(url, allow_http_loopback=self._allow_loopback)
        if len(description) > MAX_DESCRIPTION or not description.isprintable():
            raise invalid_field("description", f"at most {MAX_DESCRIPTION} printable characters")
        try:
            chosen = frozenset(WebhookEvent(e) for e in events) or frozenset(WebhookEvent)
        except ValueError:
            names = ", ".join(e.value for e in WebhookEvent)
            raise invalid_field("events", f"each one of {names}") from None
        secret = new_secret()
        endpoint = Endpoint(str(uuid.uuid4()), url, description, chosen, self._clock(), True)
        stored = self._store.add_endpoint(endpoint, secret, request_id)
        return stored, secret if stored.endpoint_id == endpoint.endpoint_id else ""

    def endpoints(self, *, offset: int, limit: int) -> list[Endpoint]:
        return self._store.endpoints(offset=offset, limit=limit)

    def disable(self, endpoint_id: str) -> Endpoint:
        _known(endpoint_id)
        return _found(
            self._store.disable_endpoint(endpoint_id, "disabled by request", self._clock()),
            endpoint_id,
        )

    def rotate_secret(self, endpoint_id: str) -> tuple[Endpoint, str]:
        _known(endpoint_id)
        secret = new_secret()
        until = self._clock() + self._overlap
        return _found(self._store.rotate_secret(endpoint_id, secret, until), endpoint_id), secret

    def deliveries(
        self, endpoint_id: str, *, state: DeliveryState | None, offset: int, limit: int
    ) -> list[Delivery]:
        _known(endpoint_id)
        _found(self._store.endpoint(endpoint_id), endpoint_id)
        return self._store.deliveries(endpoint_id, state=state, offset=offset, limit=limit)

    def replay(self, endpoint_id: str, delivery_id: str = "") -> int:
        """One failed delivery (or every failed one) sent again, same webhook-id."""
        _known(endpoint_id)
        if len(delivery_id) > MAX_ID or not delivery_id.isprintable():
            raise invalid_field("delivery_id", f"a delivery id (at most {MAX_ID} characters)")
        _found(self._store.endpoint(endpoint_id), endpoint_id)
        return self._store.replay(endpoint_id, delivery_id, self._clock())


def _known(endpoint_id: str) -> None:
    """An id no endpoint can have is not asked of the database (PostgreSQL's text refuses NUL:
    it was a 500)."""
    if len(endpoint_id) > MAX_ID or not endpoint_id.isprintable():
        _found(None, endpoint_id)


def _found(endpoint: Endpoint | None, endpoint_id: str) -> Endpoint:
    if endpoint is None:
        raise NotFound("WEBHOOK_ENDPOINT_NOT_FOUND", f"no webhook endpoint {endpoint_id!r}")
    return endpoint
