"""the bureau's report queue: who works a consumer's report, and every change kept

``consumer_report`` gains ``assignee``; ``report_event`` keeps each change of a report's
status, assignee or note, with who made it and when (the portal's queue shows the history).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 15:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("consumer_report") as batch:
        batch.add_column(sa.Column("assignee", sa.Text(), nullable=True))
    op.create_table(
        "report_event",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("who", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=15), nullable=False),
        sa.Column("assignee", sa.Text(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["consumer_report.id"],
            name=op.f("fk_report_event_report_id_consumer_report"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_event")),
    )
    op.create_index(op.f("ix_report_event_report_id"), "report_event", ["report_id"])


def downgrade() -> None:
    op.drop_table("report_event")
    with op.batch_alter_table("consumer_report") as batch:
        batch.drop_column("assignee")
