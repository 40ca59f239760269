"""Model registry: registered models, versions, tags, aliases, audit, requests, policies.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _model_fk(primary_key: bool = False) -> sa.Column:
    return sa.Column(
        "model_id",
        sa.Integer,
        sa.ForeignKey("registered_models.id", ondelete="CASCADE"),
        primary_key=primary_key,
        nullable=False,
    )


def upgrade() -> None:
    op.create_table(
        "registered_models",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(256), nullable=False, unique=True),
        sa.Column("creation_time", sa.BigInteger, nullable=False),
        sa.Column("last_updated_time", sa.BigInteger, nullable=False),
        sa.Column("description", sa.Text),
        sa.Column("last_version", sa.Integer, nullable=False, server_default="0"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "registered_model_tags",
        _model_fk(primary_key=True),
        sa.Column("key", sa.String(250), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_table(
        "model_versions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _model_fk(),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("run_id", sa.String(32)),
        sa.Column("current_stage", sa.String(20), nullable=False, server_default="None"),
        sa.Column("creation_time", sa.BigInteger, nullable=False),
        sa.Column("last_updated_time", sa.BigInteger, nullable=False),
        sa.Column("user_id", sa.String(256), nullable=False, server_default=""),
        sa.Column("description", sa.Text),
        sa.Column("lifecycle_stage", sa.String(16), nullable=False, server_default="active"),
        sa.Column("deleted_time", sa.BigInteger),
        sa.UniqueConstraint("model_id", "version", name="uq_model_versions_model_version"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_model_versions_model_stage", "model_versions",
                    ["model_id", "current_stage"])
    op.create_index("ix_model_versions_run", "model_versions", ["run_id"])
    op.create_table(
        "model_version_tags",
        sa.Column(
            "version_id",
            sa.Integer,
            sa.ForeignKey("model_versions.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("key", sa.String(250), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_table(
        "model_aliases",
        _model_fk(primary_key=True),
        sa.Column("alias", sa.String(256), primary_key=True),
        sa.Column(
            "version_id",
            sa.Integer,
            sa.ForeignKey("model_versions.id", ondelete="CASCADE"),
            nullable=False,
        ),
    )
    op.create_table(
        "registry_audit",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _model_fk(),
        sa.Column("version", sa.Integer),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("alias", sa.String(256)),
        sa.Column("from_value", sa.Text),
        sa.Column("to_value", sa.Text),
        sa.Column("user_id", sa.String(256), nullable=False, server_default=""),
        sa.Column("timestamp", sa.BigInteger, nullable=False),
        sa.Column("comment", sa.Text),
        sa.Column("request_id", sa.Integer),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_registry_audit_model", "registry_audit", ["model_id", "id"])
    op.create_table(
        "transition_requests",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _model_fk(),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("target", sa.String(256), nullable=False),
        sa.Column("archive_existing", sa.Boolean, nullable=False, server_default="0"),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("requested_by", sa.String(256), nullable=False),
        sa.Column("requested_time", sa.BigInteger, nullable=False),
        sa.Column("comment", sa.Text),
        sa.Column("decided_by", sa.String(256)),
        sa.Column("decided_time", sa.BigInteger),
        sa.Column("decision_comment", sa.Text),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_transition_requests_model_status", "transition_requests",
                    ["model_id", "status"])
    op.create_table(
        "registry_policies",
        _model_fk(primary_key=True),
        sa.Column("require_approval_for", sa.Text, nullable=False),
        sa.Column("gates", sa.Text, nullable=False),
        sa.Column("gated_stages", sa.Text, nullable=False),
        sa.Column("allow_self_approval", sa.Boolean, nullable=False, server_default="0"),
        sa.Column("updated_by", sa.String(256), nullable=False),
        sa.Column("updated_time", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    for table in ("registry_policies", "transition_requests", "registry_audit",
                  "model_aliases", "model_version_tags", "model_versions",
                  "registered_model_tags", "registered_models"):
        op.drop_table(table)
