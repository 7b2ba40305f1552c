"""SQL shared by anchor's two kinds of window (anchoring and revocation): each has a window
table and a table of the transactions signed for it, and a window goes back to "built" or
records why it waits in the same way."""

from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from services.anchor.submission import WindowState

PENDING = "pending"  # a signed transaction still in the race for its window's nonce


def reset_to_built(
    sessions: sessionmaker[Session],
    windows: Any,
    transactions: Any,
    window_id: str,
    *,
    outcome: str,
    reason: str,
) -> None:
    """A submitted window back to built (to be signed again); its pending transactions end
    as `outcome`. Nothing happens to a window in another state."""
    with sessions.begin() as session:
        window = session.get(windows, window_id, with_for_update=True)
        if window is not None and window.state == WindowState.SUBMITTED:
            window.state = WindowState.BUILT
            window.raw_transaction = None
            window.transaction_hash = None
            window.nonce = None
            window.waiting_reason = reason[:200]
            session.execute(
                update(transactions)
                .where(transactions.window_id == window_id, transactions.state == PENDING)
                .values(state=outcome)
                .execution_options(synchronize_session=False)
            )


def set_waiting_reason(
    sessions: sessionmaker[Session], windows: Any, window_id: str, reason: str
) -> None:
    with sessions.begin() as session:
        session.execute(
            update(windows)
            .where(windows.id == window_id)
            .values(waiting_reason=reason[:200])
            .execution_options(synchronize_session=False)
        )
