"""Alembic environment: runs on the connection open_store() hands over (or HEITU_DB_URL)."""

from alembic import context
from sqlalchemy import create_engine

from traceability import config as heitu_config
from traceability.models import Base

target_metadata = Base.metadata
conn = context.config.attributes.get("connection")


def run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


if conn is not None:
    run(conn)
else:
    with create_engine(heitu_config.db_url()).begin() as c:
        run(c)
