"""notify's real backlog for the gauges (and an autoscaler reading them): deliveries waiting,
by state, in one query on the indexed state column per collection."""

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from certflow.platform import metrics
from services.notify.outcome_policy import DeliveryState
from services.notify.tables import Delivery

WAITING = (DeliveryState.PENDING, DeliveryState.SCHEDULED, DeliveryState.SENDING)


def waiting_deliveries(sessions: sessionmaker[Session]) -> dict[str, int]:
    with sessions() as session:
        rows = session.execute(
            select(Delivery.state, func.count())
            .where(Delivery.state.in_([s.value for s in WAITING]))
            .group_by(Delivery.state)
        ).all()
    counts = {state.value: 0 for state in WAITING}
    counts.update({state: int(count) for state, count in rows})
    return counts


def observe_backlog(sessions: sessionmaker[Session]) -> None:
    metrics.observe(
        metrics.DELIVERIES_PENDING,
        lambda: [
            (count, {metrics.STATE: state}) for state, count in waiting_deliveries(sessions).items()
        ],
    )
