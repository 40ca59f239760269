"""Tables of the SQL store (SQLAlchemy Core).

Runs have an integer surrogate key (``runs.id``) that every child table uses;
the public 32-hex ``run_uuid`` appears only in ``runs``. That keeps the metric
history, the largest table by far, narrow and fast to insert into.

The Alembic migrations in ``migrations/versions`` create exactly these tables;
a test compares the two.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

# Limits; each is at least as generous as MLflow's.
MAX_NAME = 256
MAX_KEY = 250
MAX_PARAM_VALUE = 8000
MAX_TAG_VALUE = 8000

experiments = Table(
    "experiments",
    metadata,
    Column("experiment_id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(MAX_NAME), nullable=False, unique=True),
    Column("artifact_location", Text, nullable=False),
    Column("lifecycle_stage", String(16), nullable=False, server_default="active"),
    Column("creation_time", BigInteger),
    Column("last_update_time", BigInteger),
)

experiment_tags = Table(
    "experiment_tags",
    metadata,
    Column(
        "experiment_id",
        Integer,
        ForeignKey("experiments.experiment_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("key", String(MAX_KEY), primary_key=True),
    Column("value", Text),
)

runs = Table(
    "runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_uuid", String(32), nullable=False, unique=True),
    Column(
        "experiment_id",
        Integer,
        ForeignKey("experiments.experiment_id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("name", String(MAX_NAME), nullable=False),
    Column("status", String(16), nullable=False),
    Column("start_time", BigInteger, nullable=False),
    Column("end_time", BigInteger),
    Column("lifecycle_stage", String(16), nullable=False, server_default="active"),
    Column("deleted_time", BigInteger),
    Column("user_id", String(MAX_NAME), nullable=False, server_default=""),
    Column("artifact_uri", Text, nullable=False),
    Column("parent_run_uuid", String(32)),
    Column("heartbeat", BigInteger),
    Index("ix_runs_experiment_start", "experiment_id", "start_time"),
    Index("ix_runs_status_heartbeat", "status", "heartbeat"),
    Index("ix_runs_parent", "parent_run_uuid"),
    sqlite_autoincrement=True,
)

params = Table(
    "params",
    metadata,
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(MAX_KEY), primary_key=True),
    Column("value", Text, nullable=False),
    # The value as a number when it reads as one, for numeric comparisons in searches.
    Column("num", Float),
    Index("ix_params_key_num", "key", "num"),
)

tags = Table(
    "tags",
    metadata,
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(MAX_KEY), primary_key=True),
    Column("value", Text, nullable=False),
    Index("ix_tags_key", "key"),
)

# Full history. ``value`` is NULL for NaN (SQLite cannot store NaN); ``is_nan`` says so.
metrics = Table(
    "metrics",
    metadata,
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("key", String(MAX_KEY), nullable=False),
    Column("value", Float),
    Column("step", BigInteger, nullable=False),
    Column("timestamp", BigInteger, nullable=False),
    Column("is_nan", Boolean, nullable=False, server_default="0"),
    Index("ix_metrics_run_key_step", "run_id", "key", "step"),
)

# One row per (run, key): the value at the highest (step, timestamp).
latest_metrics = Table(
    "latest_metrics",
    metadata,
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(MAX_KEY), primary_key=True),
    Column("value", Float),
    Column("step", BigInteger, nullable=False),
    Column("timestamp", BigInteger, nullable=False),
    Column("is_nan", Boolean, nullable=False, server_default="0"),
    Index("ix_latest_metrics_key_value", "key", "value"),
)
