"""Alembic environment: runs against the URL given by certflow.platform.db.migrate."""

from alembic import context

from certflow.platform.db.engine import make_engine
from certflow.platform.db.models import Base

config = context.config
url = config.get_main_option("sqlalchemy.url") or context.get_x_argument(as_dictionary=True)["url"]

engine = make_engine(url)
with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
