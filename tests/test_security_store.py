"""Hardening of the store and the artifact folder against hostile or foreign input.

- Filters: refused or answered in linear time; limits on order_by (store/search.py).
- Artifact writes: no temporary file survives a failure; the error names the path.
- Foreign and broken stores: an MLflow database or ``mlruns/`` folder, a non-SQLite
  file, a schema without its revision row, an ``artifacts`` path that is a file. The
  store refuses them with a message saying what they are, and changes nothing.
"""

from __future__ import annotations

import errno
import hashlib
import os
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from jupyter_mltrack import Client
from jupyter_mltrack.artifacts import LocalArtifactRepository
from jupyter_mltrack.entities import Metric
from jupyter_mltrack.errors import (
    ArtifactError,
    ForeignStore,
    InvalidFilter,
    SchemaError,
    StoreError,
)
from jupyter_mltrack.store import migrate
from jupyter_mltrack.store.search import (
    MAX_FILTER_LENGTH,
    MAX_ORDER_BY,
    parse_filter,
)
from jupyter_mltrack.store.sql import SqlStore
from jupyter_mltrack.uris import sqlite_uri
from tests.conftest import _reset_fluent

ROOT = Path(__file__).resolve().parents[1]

# -- item 3: filters are refused or answered in linear time -----------------------------

# Shapes that made the number pattern backtrack over every split of a digit run.
HOSTILE_NUMBERS = {
    "digits then letter": "metrics.a > " + "1" * 19_980 + "x",
    "digits dot digits then letter": "metrics.a > 1." + "1" * 19_980 + "x",
    "digits dot then letter": "metrics.a > " + "1" * 19_980 + ".x",
    "signed digits then letter": "metrics.a > -" + "1" * 19_980 + "_",
    "exponent then letter": "metrics.a > 1e" + "1" * 19_980 + "x",
    "dot digits then letter": "metrics.a > ." + "1" * 19_980 + "x",
}


@pytest.mark.parametrize("text", HOSTILE_NUMBERS.values(), ids=HOSTILE_NUMBERS.keys())
def test_a_long_malformed_number_is_refused_at_once(text: str) -> None:
    assert len(text) <= MAX_FILTER_LENGTH
    start = time.thread_time()
    with pytest.raises(InvalidFilter) as info:
        parse_filter(text)
    spent = time.thread_time() - start
    # Linear work is a few milliseconds; the quadratic tokenizer spent about 14 s of CPU.
    # The budget is 200 times the linear cost, so it cannot flake; benchmarks/
    # bench_search_limits.py measures the real cost against MLflow's.
    assert spent < 2.0, f"{spent:.1f} s of CPU to refuse a {len(text)}-character filter"
    message = str(info.value)
    assert info.value.position is not None
    # The message shows the neighbourhood of the problem, not 20,000 characters.
    assert len(message) < 400, len(message)


def test_an_over_long_filter_is_refused_before_tokenizing() -> None:
    text = "metrics.a > " + "1" * MAX_FILTER_LENGTH + "x"
    start = time.thread_time()
    with pytest.raises(InvalidFilter, match=f"limit is {MAX_FILTER_LENGTH:,}"):
        parse_filter(text)
    assert time.thread_time() - start < 2.0


@pytest.fixture
def numbers_store(tmp_path: Path) -> Iterator[tuple[SqlStore, str, dict[str, str]]]:
    store = SqlStore(f"sqlite:///{tmp_path / 'mltrack.db'}", str(tmp_path / "artifacts"))
    exp = store.create_experiment("numbers")
    ids = {}
    for name, value in (("small", 1.0), ("huge", 1e30)):
        run = store.create_run(exp, name, 1, "tester")
        ids[name] = run.run_id
        store.log_batch(run.run_id, [Metric("a", value, 1, 0)], {"p": str(value)}, {})
    yield store, exp, ids
    store.close()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("metrics.a > 99999999999999999999", {"huge"}),  # beyond 64 bits
        ("metrics.a < 99999999999999999999", {"small"}),
        ("params.p > 99999999999999999999", {"huge"}),
        ("metrics.a IN (1, 99999999999999999999)", {"small"}),
        ("metrics.a > " + "9" * 5_000, set()),  # beyond Python's int() digit limit
        ("metrics.a > -" + "9" * 5_000, {"small", "huge"}),
        ("attributes.start_time < " + "9" * 400, {"small", "huge"}),
    ],
)
def test_huge_integer_literals_compare_as_numbers(
        numbers_store: tuple[SqlStore, str, dict[str, str]], text: str, expected: set[str]
) -> None:
    store, exp, ids = numbers_store
    by_id = {v: k for k, v in ids.items()}
    assert {by_id[r.info.run_id] for r in store.search_runs([exp], text)} == expected


def test_order_by_with_too_many_keys_is_refused(
        numbers_store: tuple[SqlStore, str, dict[str, str]]) -> None:
    store, exp, _ = numbers_store
    with pytest.raises(InvalidFilter, match=f"at most {MAX_ORDER_BY}"):
        store.search_runs([exp], order_by=[f"metrics.k{i}" for i in range(200)])
    with pytest.raises(InvalidFilter, match=f"at most {MAX_ORDER_BY}"):
        store.search_runs_frame([exp], order_by=[f"params.k{i}" for i in range(200)])


def test_order_by_up_to_the_limit_works(
        numbers_store: tuple[SqlStore, str, dict[str, str]]) -> None:
    store, exp, _ = numbers_store
    keys = ["metrics.a DESC"] + [f"params.k{i}" for i in range(MAX_ORDER_BY - 1)]
    assert [r.info.run_name for r in store.search_runs([exp], order_by=keys)] == \
        ["huge", "small"]


def test_an_over_long_order_by_clause_is_refused(
        numbers_store: tuple[SqlStore, str, dict[str, str]]) -> None:
    store, exp, _ = numbers_store
    with pytest.raises(InvalidFilter, match="characters long"):
        store.search_runs([exp], order_by=["metrics.`" + "k" * 5_000 + "`"])


def test_order_by_as_one_string_is_one_clause(
        numbers_store: tuple[SqlStore, str, dict[str, str]]) -> None:
    store, exp, _ = numbers_store
    found = store.search_runs([exp], order_by="metrics.a DESC")  # type: ignore[arg-type]
    assert [r.info.run_name for r in found] == ["huge", "small"]


_CRASHER = textwrap.dedent("""
    import sys
    from jupyter_mltrack.errors import InvalidFilter
    from jupyter_mltrack.store.sql import SqlStore

    store = SqlStore(sys.argv[1], sys.argv[2])
    exp = store.create_experiment("e")
    run = store.create_run(exp, "r", 1, "u")
    try:
        store.search_runs([exp], order_by=[f"{sys.argv[3]}.k{i}" for i in range(40)])
    except InvalidFilter as exc:
        print("refused:", str(exc).splitlines()[0])
""")


@pytest.mark.parametrize("prefix", ["metrics", "params", "tags"])
def test_order_by_that_crashed_sqlite_is_refused(tmp_path: Path, prefix: str) -> None:
    # SQLite 3.40 dies with a segmentation fault on 64 or more ORDER BY terms over
    # outer joins (31 metric keys); a crash would take the notebook kernel with it.
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-c", _CRASHER, f"sqlite:///{tmp_path / 'c.db'}", str(tmp_path),
         prefix], capture_output=True, text=True, env=env, timeout=120, check=False)
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-2000:])
    assert proc.stdout.startswith("refused:"), proc.stdout
    assert f"at most {MAX_ORDER_BY}" in proc.stdout


def test_registry_order_by_has_the_same_limit(tmp_path: Path) -> None:
    from jupyter_mltrack.store import registry_store

    store = SqlStore(f"sqlite:///{tmp_path / 'mltrack.db'}", str(tmp_path / "artifacts"))
    try:
        registry = registry_store(store)
        with pytest.raises(InvalidFilter, match=f"at most {MAX_ORDER_BY}"):
            registry.search_model_versions(order_by=["name"] * (MAX_ORDER_BY + 1))
        with pytest.raises(InvalidFilter, match=f"at most {MAX_ORDER_BY}"):
            registry.search_registered_models(order_by=["name"] * (MAX_ORDER_BY + 1))
    finally:
        store.close()


# -- item 4: a failed artifact write leaves nothing behind -------------------------------


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.name.endswith(".tmp"))


def test_writing_onto_a_folder_fails_clearly_and_leaves_no_temp_file(tmp_path: Path) -> None:
    repo = LocalArtifactRepository(str(tmp_path / "root"))
    repo.write_bytes("plots/loss.png", b"png")
    with pytest.raises(ArtifactError) as info:
        repo.write_bytes("plots", b"data")
    message = str(info.value)
    assert str(tmp_path / "root" / "plots") in message and "folder" in message
    assert isinstance(info.value.__cause__, OSError)
    assert info.value.path == str(tmp_path / "root" / "plots")
    assert _leftovers(tmp_path) == []
    assert repo.read_bytes("plots/loss.png") == b"png"

    source = tmp_path / "plots"
    source.write_bytes(b"file content")
    with pytest.raises(ArtifactError, match="folder"):
        repo.log_file(source)
    assert _leftovers(tmp_path) == []


def test_a_full_disk_leaves_no_temp_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                         ) -> None:
    repo = LocalArtifactRepository(str(tmp_path / "root"))
    repo.write_bytes("kept.bin", b"old")
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(3 << 20))
    real_write = os.write

    def full_disk(fd: int, data: bytes) -> int:  # fault injection: writes a little, then
        real_write(fd, bytes(data)[:100])       # the device is full
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with monkeypatch.context() as patch:
        patch.setattr(os, "write", full_disk)
        with pytest.raises(ArtifactError) as info:
            repo.write_bytes("kept.bin", b"new" * 1000)
    assert "No space left on device" in str(info.value)
    assert str(tmp_path / "root" / "kept.bin") in str(info.value)
    assert getattr(info.value.__cause__, "errno", None) == errno.ENOSPC
    with monkeypatch.context() as patch:
        patch.setattr(os, "write", full_disk)
        with pytest.raises(ArtifactError, match="No space left"):
            repo.log_file(source, "data")
    assert _leftovers(tmp_path) == []
    assert repo.read_bytes("kept.bin") == b"old"  # the old content survives
    assert [f.path for f in repo.list() if not f.is_dir] == ["kept.bin"]


_SMALL_LIMIT = textwrap.dedent("""
    import os, resource, signal, sys
    from jupyter_mltrack.artifacts import LocalArtifactRepository
    from jupyter_mltrack.errors import ArtifactError

    root, source = sys.argv[1], sys.argv[2]
    repo = LocalArtifactRepository(root)
    repo.write_bytes("small.txt", b"fits")
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG)
    resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))
    for call in (lambda: repo.write_bytes("big.bin", b"x" * (2 << 20)),
                 lambda: repo.log_file(source, "copies")):
        try:
            call()
        except ArtifactError as exc:
            print(type(exc.__cause__).__name__, exc.__cause__.errno, "|", exc)
""")


def test_a_write_past_a_real_file_size_limit_leaves_no_temp_file(tmp_path: Path) -> None:
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(3 << 20))
    root = tmp_path / "root"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", _SMALL_LIMIT, str(root), str(source)],
                          capture_output=True, text=True, env=env, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    assert len(lines) == 2, proc.stdout
    assert lines[0].startswith(f"OSError {errno.EFBIG} |") and str(root / "big.bin") in lines[0]
    assert str(root / "copies" / "big.bin") in lines[1]
    assert _leftovers(tmp_path) == []
    assert sorted(p.name for p in root.rglob("*")) == ["copies", "small.txt"]


def test_threads_writing_the_same_artifact_do_not_collide(tmp_path: Path) -> None:
    repo = LocalArtifactRepository(str(tmp_path / "root"))
    payloads = [bytes([i]) * (256 << 10) for i in range(8)]
    errors: list[BaseException] = []
    start = threading.Barrier(len(payloads))

    def writer(data: bytes) -> None:
        start.wait()
        try:
            for _ in range(15):
                repo.write_bytes("model/weights.bin", data)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(p,)) for p in payloads]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert repo.read_bytes("model/weights.bin") in payloads  # one whole write, not a mix
    assert _leftovers(tmp_path) == []


# -- item 8: foreign and broken stores are refused and left untouched -------------------

# The distinctive tables of an MLflow tracking database (MLflow 3.x), as MLflow creates
# them: runs keyed by run_uuid, a metrics history table, registry keyed by name.
_MLFLOW_DDL = """
CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY);
INSERT INTO alembic_version VALUES ('dc11669786a5');
CREATE TABLE experiments (experiment_id INTEGER NOT NULL PRIMARY KEY, name VARCHAR(256)
    NOT NULL, artifact_location VARCHAR(256), lifecycle_stage VARCHAR(32),
    creation_time BIGINT, last_update_time BIGINT, workspace VARCHAR(63) DEFAULT 'default');
CREATE TABLE runs (run_uuid VARCHAR(32) NOT NULL PRIMARY KEY, name VARCHAR(250),
    source_type VARCHAR(20), user_id VARCHAR(256), status VARCHAR(9), start_time BIGINT,
    end_time BIGINT, lifecycle_stage VARCHAR(20), artifact_uri VARCHAR(200),
    experiment_id INTEGER, deleted_time BIGINT);
CREATE TABLE metrics ("key" VARCHAR(250) NOT NULL, value FLOAT NOT NULL, timestamp BIGINT
    NOT NULL, run_uuid VARCHAR(32) NOT NULL, step BIGINT DEFAULT 0, is_nan BOOLEAN);
CREATE TABLE latest_metrics ("key" VARCHAR(250) NOT NULL, value FLOAT NOT NULL,
    timestamp BIGINT, step BIGINT NOT NULL, is_nan BOOLEAN NOT NULL, run_uuid VARCHAR(32));
CREATE TABLE params ("key" VARCHAR(250) NOT NULL, value VARCHAR(8000) NOT NULL,
    run_uuid VARCHAR(32) NOT NULL);
CREATE TABLE tags ("key" VARCHAR(250) NOT NULL, value VARCHAR(8000), run_uuid VARCHAR(32));
INSERT INTO experiments VALUES (0, 'Default', 'mlflow-artifacts:/0', 'active', 1, 1,
    'default');
INSERT INTO runs VALUES ('0123456789abcdef0123456789abcdef', 'r', 'LOCAL', 'u', 'FINISHED',
    1, 2, 'active', 'mlflow-artifacts:/0/r', 0, NULL);
INSERT INTO metrics VALUES ('acc', 0.9, 1, '0123456789abcdef0123456789abcdef', 0, 0);
"""

_MLFLOW_REGISTRY_DDL = """
CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY);
INSERT INTO alembic_version VALUES ('dc11669786a5');
CREATE TABLE registered_models (name VARCHAR(256) NOT NULL, creation_time BIGINT,
    last_updated_time BIGINT, description VARCHAR(5000), workspace VARCHAR(63),
    PRIMARY KEY (workspace, name));
CREATE TABLE model_versions (name VARCHAR(256) NOT NULL, version INTEGER NOT NULL,
    creation_time BIGINT, current_stage VARCHAR(20), source VARCHAR(500),
    run_id VARCHAR(32), workspace VARCHAR(63), PRIMARY KEY (workspace, name, version));
INSERT INTO registered_models VALUES ('m', 1, 1, NULL, 'default');
"""


def _sqlite_file(path: Path, ddl: str) -> Path:
    conn = sqlite3.connect(path)
    try:
        conn.executescript(ddl)
        conn.commit()
    finally:
        conn.close()
    return path


def _fingerprint(path: Path) -> tuple[str, int, list[str]]:
    """Content hash, modification time, and the names beside it (-wal, -shm, -journal)."""
    siblings = sorted(p.name for p in path.parent.iterdir() if p.name.startswith(path.name))
    return hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns, siblings


def _assert_journal_mode_untouched(path: Path) -> None:
    header = path.read_bytes()[:100]
    assert header[:16] == b"SQLite format 3\x00"
    assert (header[18], header[19]) == (1, 1), "the file was switched to WAL mode"
    assert not Path(f"{path}-wal").exists()


@pytest.mark.parametrize("ddl", [_MLFLOW_DDL, _MLFLOW_REGISTRY_DDL],
                         ids=["tracking", "registry"])
def test_an_mlflow_database_is_refused_and_untouched(tmp_path: Path, ddl: str) -> None:
    db = _sqlite_file(tmp_path / "mlflow.db", ddl)
    before = _fingerprint(db)
    for open_it in (lambda: SqlStore(sqlite_uri(db), str(tmp_path / "artifacts")),
                    lambda: Client(str(db)).search_experiments()):
        with pytest.raises(ForeignStore) as info:
            open_it()
        message = str(info.value)
        assert f"{db} is an MLflow" in message, message
        assert "does not write to it" in message and "MLTRACK_TRACKING_URI" in message
        assert "mltrack import-mlflow" in message  # and how to bring its runs over
        assert "upgrade" not in message
        _reset_fluent()
    assert _fingerprint(db) == before
    _assert_journal_mode_untouched(db)
    assert not (tmp_path / "artifacts").exists()


@pytest.mark.parametrize("tables", [("customers",), ("customers", "tags")])
def test_a_foreign_sqlite_database_is_refused_and_untouched(tmp_path: Path,
                                                           tables: tuple[str, ...]) -> None:
    db = _sqlite_file(tmp_path / "shop.db", "".join(
        f"CREATE TABLE {name} (id INTEGER, name TEXT); INSERT INTO {name} VALUES (1, 'ada');"
        for name in tables))
    before = _fingerprint(db)
    with pytest.raises(ForeignStore) as info:
        SqlStore(sqlite_uri(db), str(tmp_path))
    message = str(info.value)
    assert str(db) in message and "customers" in message and "not a jupyter_mltrack" in message
    assert _fingerprint(db) == before
    _assert_journal_mode_untouched(db)


@pytest.mark.parametrize("content", [b"hello, this is not a database\n" * 20,
                                     b"\x00" * 4096, os.urandom(8192)],
                         ids=["text", "zeros", "random"])
def test_a_file_that_is_not_sqlite_is_refused_and_untouched(tmp_path: Path, content: bytes
                                                           ) -> None:
    db = tmp_path / "mltrack.db"
    db.write_bytes(content)
    before = _fingerprint(db)
    with pytest.raises(ForeignStore) as info:
        SqlStore(sqlite_uri(db), str(tmp_path / "artifacts"))
    message = str(info.value)
    assert f"{db} is not a SQLite database" in message, message
    assert _fingerprint(db) == before


@pytest.mark.parametrize("damage", ["garbage after the header", "truncated"])
def test_a_damaged_sqlite_file_is_refused_and_untouched(tmp_path: Path, damage: str) -> None:
    db = tmp_path / "mltrack.db"
    if damage == "truncated":
        _sqlite_file(db, _MLFLOW_DDL + "".join(
            f"INSERT INTO params VALUES ('k{i}', '{'v' * 500}', 'r');" for i in range(400)))
        db.write_bytes(db.read_bytes()[:30_000])
    else:
        db.write_bytes(b"SQLite format 3\x00" + b"\xff" * 200)
    before = _fingerprint(db)
    with pytest.raises(StoreError) as info:
        SqlStore(sqlite_uri(db), str(tmp_path / "artifacts"))
    message = str(info.value)
    assert f"{db} is a damaged SQLite database" in message, message
    assert ".recover" in message
    assert _fingerprint(db) == before


def test_a_folder_as_the_database_path_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "runs.db"
    folder.mkdir()
    with pytest.raises(StoreError, match="is a folder"):
        SqlStore(sqlite_uri(folder), str(tmp_path / "artifacts"))
    assert list(folder.iterdir()) == []


def _mlruns(folder: Path) -> Path:
    """The layout of MLflow's file store: numbered experiments with meta.yaml, .trash."""
    (folder / ".trash").mkdir(parents=True)
    for exp in ("0", "606108682397513319"):
        (folder / exp).mkdir()
        (folder / exp / "meta.yaml").write_text(
            f"artifact_location: file://{folder}/{exp}\nexperiment_id: '{exp}'\n"
            "lifecycle_stage: active\nname: Default\n")
    (folder / "models").mkdir()
    return folder


def _tree(folder: Path) -> list[tuple[str, int]]:
    return sorted((str(p.relative_to(folder)), p.stat().st_mtime_ns) for p in folder.rglob("*"))


@pytest.mark.parametrize("layout", ["full", "trash-only", "experiment-only"])
def test_an_mlruns_folder_gets_no_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           layout: str) -> None:
    mlruns = _mlruns(tmp_path / "mlruns")
    if layout == "trash-only":
        for exp in ("0", "606108682397513319", "models"):
            for p in sorted((mlruns / exp).rglob("*"), reverse=True):
                p.unlink()
            (mlruns / exp).rmdir()
    elif layout == "experiment-only":
        (mlruns / ".trash").rmdir()
        (mlruns / "models").rmdir()
    before = _tree(mlruns)
    monkeypatch.chdir(tmp_path)
    for target in (str(mlruns), "mlruns", "file:./mlruns"):
        with pytest.raises(ForeignStore) as info:
            Client(target).search_experiments()
        assert f"{mlruns} is an MLflow file store" in str(info.value)
        _reset_fluent()
    monkeypatch.setenv("MLTRACK_TRACKING_URI", "./mlruns")
    with pytest.raises(ForeignStore, match="MLTRACK_TRACKING_URI"):
        Client().search_experiments()
    _reset_fluent()
    assert _tree(mlruns) == before


def test_an_ordinary_folder_still_gets_a_database(tmp_path: Path) -> None:
    folder = tmp_path / "project"
    (folder / "0").mkdir(parents=True)  # a numbered folder without meta.yaml is not MLflow
    client = Client(str(folder))
    assert client.create_experiment("fine")
    assert (folder / "mltrack.db").is_file()
    _reset_fluent()


def _our_store(path: Path) -> None:
    store = SqlStore(sqlite_uri(path), str(path.parent / "artifacts"))
    exp = store.create_experiment("precious")
    store.create_run(exp, "r", 1, "u")
    store.close()


@pytest.mark.parametrize("damage", ["DELETE FROM alembic_version",
                                    "DROP TABLE alembic_version"])
def test_our_schema_without_its_revision_is_explained(tmp_path: Path, damage: str) -> None:
    db = tmp_path / "mltrack.db"
    _our_store(db)
    conn = sqlite3.connect(db)
    conn.execute(damage)
    conn.commit()
    conn.close()
    with pytest.raises(SchemaError) as info:
        SqlStore(sqlite_uri(db), str(tmp_path / "artifacts"))
    message = str(info.value)
    assert "already exists" not in message
    assert str(db) in message and "schema revision" in message
    assert f"INSERT INTO alembic_version (version_num) VALUES ('{migrate.HEAD}')" in message
    conn = sqlite3.connect(db)
    try:  # nothing was changed, the data is there, and the advice works
        assert conn.execute("SELECT name FROM experiments").fetchall() == [("precious",)]
        if damage.startswith("DROP"):
            conn.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL "
                         "PRIMARY KEY)")
        conn.execute(f"INSERT INTO alembic_version (version_num) VALUES ('{migrate.HEAD}')")
        conn.commit()
    finally:
        conn.close()
    store = SqlStore(sqlite_uri(db), str(tmp_path / "artifacts"))
    assert store.get_experiment_by_name("precious") is not None
    store.close()


def test_our_own_store_opens_as_before(tmp_path: Path) -> None:
    db = tmp_path / "mltrack.db"
    _our_store(db)
    store = SqlStore(sqlite_uri(db), str(tmp_path / "artifacts"))
    assert [e.name for e in store.search_experiments()] == ["precious"]
    store.close()


def test_an_empty_file_becomes_a_new_store(tmp_path: Path) -> None:
    db = tmp_path / "mltrack.db"
    db.touch()
    store = SqlStore(sqlite_uri(db), str(tmp_path / "artifacts"))
    assert store.create_experiment("new")
    store.close()


@pytest.mark.postgres
def test_an_mlflow_database_on_postgresql_is_refused_and_untouched(postgres_uri: str,
                                                                   tmp_path: Path) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(postgres_uri.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.begin() as conn:
            for statement in _MLFLOW_DDL.split(";"):
                if statement.strip():
                    conn.exec_driver_sql(statement.replace("BOOLEAN", "INTEGER"))
        with pytest.raises(ForeignStore, match="is an MLflow tracking database"):
            SqlStore(postgres_uri, str(tmp_path))
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT version_num FROM alembic_version"
                                        ).scalar_one() == "dc11669786a5"
            tables = set(sa.inspect(conn).get_table_names())
            assert "metric_chunks" not in tables and "registered_models" not in tables
    finally:
        engine.dispose()


def test_an_artifacts_path_that_is_a_file_is_explained(tmp_path: Path) -> None:
    store_dir = tmp_path / ".mltrack"
    store_dir.mkdir()
    blocker = store_dir / "artifacts"
    blocker.write_text("not a folder")
    client = Client(sqlite_uri(store_dir / "mltrack.db"))
    exp = client.create_experiment("e")
    run = client.create_run(exp)
    local = tmp_path / "notes.txt"
    local.write_text("hello")
    with pytest.raises(ArtifactError) as info:
        client.log_artifact(run.info.run_id, str(local))
    message = str(info.value)
    assert f"{blocker} is a file, not a folder" in message, message
    with pytest.raises(ArtifactError, match="is a file, not a folder"):
        client.log_text(run.info.run_id, "text", "notes/a.txt")
    assert blocker.read_text() == "not a folder"
    _reset_fluent()
