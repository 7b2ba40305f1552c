"""Engine and session factory: SQLite (WAL) by default, PostgreSQL (psycopg 3) by URL."""

from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker


def normalise_url(url: str) -> str:
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def make_engine(url: str, *, pool_size: int = 5, sqlite_writer: bool = True) -> Engine:
    """`sqlite_writer`: begin SQLite transactions IMMEDIATE, taking the write lock up front.

    With several processes on one SQLite file, a deferred transaction that reads and then
    writes fails at once with SQLITE_BUSY when another process wrote in between; taking the
    lock first makes writers wait their turn (busy_timeout) instead. Read-only services pass
    False so their look-ups never queue behind a long write.
    """
    url = normalise_url(url)
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"timeout": 60, "isolation_level": None}, hide_parameters=True
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        begin = "BEGIN IMMEDIATE" if sqlite_writer else "BEGIN"
        event.listen(engine, "begin", lambda conn: conn.exec_driver_sql(begin))
        return engine
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        # a database error's message (logged, sometimes returned) never carries the statement's
        # values: recipients' names and addresses, secrets' hashes
        hide_parameters=True,
    )


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    # WAL lets four service processes read while one writes; NORMAL is durable in WAL mode
    # against process crashes (the failure we design for on one machine).
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=60000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)
