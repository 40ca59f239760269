"""Fill a PostgreSQL tracking database with many runs, fast (a benchmark fixture, not a test).

The rows are generated inside PostgreSQL (``INSERT ... SELECT`` over ``generate_series``),
so a million runs take a minute or so instead of a million client calls. Both schemas
can be filled: ours (created by ``mltrack``'s migrations when the store opens) and
MLflow's (created by ``mlflow server``), with the same runs:

- run ``i`` (1..n) has params ``model`` (one of ten names, ``'x'`` for every tenth run)
  and ``lr``, and metrics ``acc`` (a hash of ``i`` spread over [0, 1)) and ``loss``
  (``1 - acc``);
- so ``metrics.acc > 0.9 and params.model = 'x'`` matches about 1% of the runs.

Used by ``bench_team_server.py --million``.
"""

from __future__ import annotations

import time
from typing import Any

#: the ``model`` param of run i is MODELS[i % 10]
MODELS = ["x", "resnet", "vit", "bert", "gpt", "mlp", "cnn", "rnn", "svm", "tree"]
_MODEL = "(ARRAY[" + ", ".join(f"'{m}'" for m in MODELS) + "])[1 + i % 10]"
_ACC = "(abs(hashint4(i)) % 1000000) / 1000000.0"
_T0 = 1_700_000_000_000


def _connect(db_url: str) -> Any:
    import psycopg

    return psycopg.connect(db_url.replace("postgresql+psycopg://", "postgresql://"),
                           autocommit=False)


def fill_ours(db_url: str, experiment_id: int, n: int, artifact_root: str) -> float:
    """Add ``n`` finished runs to experiment ``experiment_id`` of our schema; seconds taken."""
    t0 = time.perf_counter()
    with _connect(db_url) as conn, conn.cursor() as cur:
        cur.execute("SELECT coalesce(max(id), 0) FROM runs")
        base = int(cur.fetchone()[0])
        series = f"FROM generate_series({base + 1}, {base + n}) AS i"
        cur.execute(
            "INSERT INTO runs (id, run_uuid, experiment_id, name, status, start_time, "
            "end_time, lifecycle_stage, user_id, artifact_uri) "
            f"SELECT i, md5('run' || i), %s, 'run-' || i, 'FINISHED', {_T0} + i, "
            f"{_T0} + i + 1000, 'active', 'bench', %s || '/' || md5('run' || i) || "
            f"'/artifacts' {series}", (experiment_id, artifact_root))
        cur.execute("SELECT setval(pg_get_serial_sequence('runs', 'id'), %s)", (base + n,))
        cur.execute("INSERT INTO params (run_id, key, value, num) "
                    f"SELECT i, 'model', {_MODEL}, NULL {series} UNION ALL "
                    f"SELECT i, 'lr', ((i % 7) * 0.001)::text, (i % 7) * 0.001 {series}")
        cur.execute("INSERT INTO latest_metrics (run_id, key, value, step, timestamp, is_nan) "
                    f"SELECT i, 'acc', {_ACC}, 9, {_T0} + i, false {series} UNION ALL "
                    f"SELECT i, 'loss', 1 - {_ACC}, 9, {_T0} + i, false {series}")
        conn.commit()
    _analyze(db_url)
    return time.perf_counter() - t0


def fill_mlflow(db_url: str, experiment_id: int, n: int, artifact_root: str) -> float:
    """The same runs in MLflow's schema (runs keyed by uuid, latest_metrics, params)."""
    t0 = time.perf_counter()
    with _connect(db_url) as conn, conn.cursor() as cur:
        series = f"FROM generate_series(1, {n}) AS i"
        cur.execute(
            "INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, "
            "user_id, status, start_time, end_time, source_version, lifecycle_stage, "
            "artifact_uri, experiment_id) "
            f"SELECT md5('run' || i), 'run-' || i, 'LOCAL', '', '', 'bench', 'FINISHED', "
            f"{_T0} + i, {_T0} + i + 1000, '', 'active', "
            f"%s || '/' || md5('run' || i) || '/artifacts', %s {series}",
            (artifact_root, experiment_id))
        cur.execute("INSERT INTO params (key, value, run_uuid) "
                    f"SELECT 'model', {_MODEL}, md5('run' || i) {series} UNION ALL "
                    f"SELECT 'lr', ((i % 7) * 0.001)::text, md5('run' || i) {series}")
        cur.execute(
            "INSERT INTO latest_metrics (key, value, timestamp, step, is_nan, run_uuid) "
            f"SELECT 'acc', {_ACC}, {_T0} + i, 9, false, md5('run' || i) {series} UNION ALL "
            f"SELECT 'loss', 1 - {_ACC}, {_T0} + i, 9, false, md5('run' || i) {series}")
        cur.execute(
            "INSERT INTO metrics (key, value, timestamp, step, is_nan, run_uuid) "
            "SELECT key, value, timestamp, step, is_nan, run_uuid FROM latest_metrics")
        conn.commit()
    _analyze(db_url)
    return time.perf_counter() - t0


def count_matches(db_url: str, n: int, threshold: float = 0.9, model: str = "x") -> int:
    """The number of runs ``metrics.acc > threshold and params.model = model`` should find."""
    with _connect(db_url) as conn, conn.cursor() as cur:
        sql = (f"SELECT count(*) FROM generate_series(1, {n}) AS i "
               f"WHERE {_ACC} > {float(threshold)} AND {_MODEL} = ").replace("%", "%%")
        cur.execute(sql + "%s", (model,))
        return int(cur.fetchone()[0])


def _analyze(db_url: str) -> None:
    import psycopg

    with psycopg.connect(db_url.replace("postgresql+psycopg://", "postgresql://"),
                         autocommit=True) as conn:
        conn.execute("ANALYZE")
