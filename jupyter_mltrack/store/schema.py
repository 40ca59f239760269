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
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
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
# Equality searches on text (params.lr = '0.01', tags.team = 'vision'): SQLite indexes
# (key, value); PostgreSQL cannot put values of up to 8,000 characters in a B-tree, so it
# gets a hash index on the value, which serves equality just as well.
Index("ix_params_key_value", params.c.key, params.c.value).ddl_if(dialect="sqlite")
Index("ix_params_value_hash", params.c.value, postgresql_using="hash").ddl_if(
    dialect="postgresql")

tags = Table(
    "tags",
    metadata,
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(MAX_KEY), primary_key=True),
    Column("value", Text, nullable=False),
    Index("ix_tags_key", "key"),
)
Index("ix_tags_key_value", tags.c.key, tags.c.value).ddl_if(dialect="sqlite")
Index("ix_tags_value_hash", tags.c.value, postgresql_using="hash").ddl_if(dialect="postgresql")

# Full history, stored in chunks: one row per (run, key) per written batch, holding the
# batch's steps, values and timestamps as little-endian int64 / float64 / int64 arrays.
# Ingestion writes a few rows instead of one per point, a history read decodes a few
# blobs, and NaN and +-inf round-trip bit for bit. Points are in logging order inside a
# chunk; readers order by (step, timestamp).
metric_chunks = Table(
    "metric_chunks",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("key", String(MAX_KEY), nullable=False),
    Column("n", Integer, nullable=False),
    Column("min_step", BigInteger, nullable=False),
    Column("max_step", BigInteger, nullable=False),
    Column("steps", LargeBinary, nullable=False),
    Column("vals", LargeBinary, nullable=False),
    Column("timestamps", LargeBinary, nullable=False),
    Index("ix_metric_chunks_run_key", "run_id", "key", "id"),
    sqlite_autoincrement=True,
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

# -- model registry (revision 0002) -------------------------------------------------------

# ``last_version`` is the counter new version numbers come from; it is read and
# bumped while the row is locked, so concurrent registrations get 1, 2, 3...
registered_models = Table(
    "registered_models",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(MAX_NAME), nullable=False, unique=True),
    Column("creation_time", BigInteger, nullable=False),
    Column("last_updated_time", BigInteger, nullable=False),
    Column("description", Text),
    Column("last_version", Integer, nullable=False, server_default="0"),
    sqlite_autoincrement=True,
)

registered_model_tags = Table(
    "registered_model_tags",
    metadata,
    Column("model_id", Integer, ForeignKey("registered_models.id", ondelete="CASCADE"),
           primary_key=True),
    Column("key", String(MAX_KEY), primary_key=True),
    Column("value", Text, nullable=False),
)

model_versions = Table(
    "model_versions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model_id", Integer, ForeignKey("registered_models.id", ondelete="CASCADE"),
           nullable=False),
    Column("version", Integer, nullable=False),
    Column("source", Text, nullable=False),
    Column("run_id", String(32)),
    Column("current_stage", String(20), nullable=False, server_default="None"),
    Column("creation_time", BigInteger, nullable=False),
    Column("last_updated_time", BigInteger, nullable=False),
    Column("user_id", String(MAX_NAME), nullable=False, server_default=""),
    Column("description", Text),
    Column("lifecycle_stage", String(16), nullable=False, server_default="active"),
    Column("deleted_time", BigInteger),
    UniqueConstraint("model_id", "version", name="uq_model_versions_model_version"),
    Index("ix_model_versions_model_stage", "model_id", "current_stage"),
    Index("ix_model_versions_run", "run_id"),
    sqlite_autoincrement=True,
)

model_version_tags = Table(
    "model_version_tags",
    metadata,
    Column("version_id", Integer, ForeignKey("model_versions.id", ondelete="CASCADE"),
           primary_key=True),
    Column("key", String(MAX_KEY), primary_key=True),
    Column("value", Text, nullable=False),
)

model_aliases = Table(
    "model_aliases",
    metadata,
    Column("model_id", Integer, ForeignKey("registered_models.id", ondelete="CASCADE"),
           primary_key=True),
    Column("alias", String(MAX_NAME), primary_key=True),
    Column("version_id", Integer, ForeignKey("model_versions.id", ondelete="CASCADE"),
           nullable=False),
)

# Every stage, alias, lifecycle, request and policy change: the registry's memory.
registry_audit = Table(
    "registry_audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model_id", Integer, ForeignKey("registered_models.id", ondelete="CASCADE"),
           nullable=False),
    Column("version", Integer),
    Column("kind", String(16), nullable=False),
    Column("action", String(16), nullable=False),
    Column("alias", String(MAX_NAME)),  # the alias of "alias" records
    Column("from_value", Text),
    Column("to_value", Text),
    Column("user_id", String(MAX_NAME), nullable=False, server_default=""),
    Column("timestamp", BigInteger, nullable=False),
    Column("comment", Text),
    Column("request_id", Integer),
    Index("ix_registry_audit_model", "model_id", "id"),
    sqlite_autoincrement=True,
)

transition_requests = Table(
    "transition_requests",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model_id", Integer, ForeignKey("registered_models.id", ondelete="CASCADE"),
           nullable=False),
    Column("version", Integer, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("target", String(MAX_NAME), nullable=False),
    Column("archive_existing", Boolean, nullable=False, server_default="0"),
    Column("status", String(16), nullable=False),
    Column("requested_by", String(MAX_NAME), nullable=False),
    Column("requested_time", BigInteger, nullable=False),
    Column("comment", Text),
    Column("decided_by", String(MAX_NAME)),
    Column("decided_time", BigInteger),
    Column("decision_comment", Text),
    Index("ix_transition_requests_model_status", "model_id", "status"),
    sqlite_autoincrement=True,
)

# One row per registered model that has rules; lists and gates are stored as JSON.
registry_policies = Table(
    "registry_policies",
    metadata,
    Column("model_id", Integer, ForeignKey("registered_models.id", ondelete="CASCADE"),
           primary_key=True),
    Column("require_approval_for", Text, nullable=False),
    Column("gates", Text, nullable=False),
    Column("gated_stages", Text, nullable=False),
    Column("allow_self_approval", Boolean, nullable=False, server_default="0"),
    Column("updated_by", String(MAX_NAME), nullable=False),
    Column("updated_time", BigInteger, nullable=False),
)

# -- dataset inputs of runs (revision 0003) -----------------------------------------------

MAX_DATASET_NAME = 500
MAX_DATASET_DIGEST = 64
MAX_DATASET_SOURCE_TYPE = 36
MAX_INPUT_TAG_KEY = 255
MAX_INPUT_TAG_VALUE = 500

# One row per distinct (experiment, name, digest): runs of an experiment that log the same
# data share it, as in MLflow.
datasets = Table(
    "datasets",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("experiment_id", Integer, ForeignKey("experiments.experiment_id", ondelete="CASCADE"),
           nullable=False),
    Column("name", String(MAX_DATASET_NAME), nullable=False),
    Column("digest", String(MAX_DATASET_DIGEST), nullable=False),
    Column("source_type", String(MAX_DATASET_SOURCE_TYPE), nullable=False),
    Column("source", Text, nullable=False),
    Column("schema", Text),
    Column("profile", Text),
    UniqueConstraint("experiment_id", "name", "digest", name="uq_datasets_experiment_name_digest"),
    Index("ix_datasets_name", "name"),
    Index("ix_datasets_digest", "digest"),
    sqlite_autoincrement=True,
)

# A dataset used by a run; its tags (the context: "training", "eval"...) in input_tags.
run_inputs = Table(
    "run_inputs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("dataset_id", Integer, ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False),
    UniqueConstraint("run_id", "dataset_id", name="uq_run_inputs_run_dataset"),
    Index("ix_run_inputs_dataset", "dataset_id"),
    sqlite_autoincrement=True,
)

input_tags = Table(
    "input_tags",
    metadata,
    Column("input_id", Integer, ForeignKey("run_inputs.id", ondelete="CASCADE"),
           primary_key=True),
    Column("key", String(MAX_INPUT_TAG_KEY), primary_key=True),
    Column("value", String(MAX_INPUT_TAG_VALUE), nullable=False),
    Index("ix_input_tags_key_value", "key", "value"),
)
