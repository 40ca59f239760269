"""Dataset inputs of runs: datasets, run_inputs, input_tags.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "datasets",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("experiment_id", sa.Integer,
                  sa.ForeignKey("experiments.experiment_id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("source_type", sa.String(36), nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("schema", sa.Text),
        sa.Column("profile", sa.Text),
        sa.UniqueConstraint("experiment_id", "name", "digest",
                            name="uq_datasets_experiment_name_digest"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_datasets_name", "datasets", ["name"])
    op.create_index("ix_datasets_digest", "datasets", ["digest"])
    op.create_table(
        "run_inputs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("dataset_id", sa.Integer, sa.ForeignKey("datasets.id", ondelete="CASCADE"),
                  nullable=False),
        sa.UniqueConstraint("run_id", "dataset_id", name="uq_run_inputs_run_dataset"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_run_inputs_dataset", "run_inputs", ["dataset_id"])
    op.create_table(
        "input_tags",
        sa.Column("input_id", sa.Integer, sa.ForeignKey("run_inputs.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("value", sa.String(500), nullable=False),
    )
    op.create_index("ix_input_tags_key_value", "input_tags", ["key", "value"])


def downgrade() -> None:
    for table in ("input_tags", "run_inputs", "datasets"):
        op.drop_table(table)
