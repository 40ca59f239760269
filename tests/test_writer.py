"""The background writer (tracking/writer.py): buffering, flushing, failures, processes.

Failures are real: a trigger in the SQLite database refuses the writes until it is
dropped. Processes are real: subprocesses and multiprocessing children share one
SQLite file, and one of them is killed with SIGKILL in the middle of logging.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from jupyter_mltrack import Client
from jupyter_mltrack.errors import WriteFailed
from jupyter_mltrack.store import schema
from jupyter_mltrack.store.sql import SqlStore
from jupyter_mltrack.tracking.writer import BatchWriter
from tests.processes import run_together, wait_for


@pytest.fixture
def db_uri(tracking_uri: str) -> str:
    """The SQLite file of the ``client`` fixture."""
    return tracking_uri


@pytest.fixture
def observer(db_uri: str, tmp_path: Path) -> Iterator[SqlStore]:
    """A second store on the same file: sees only what was committed to disk."""
    store = SqlStore(db_uri, str(tmp_path / "artifacts"))
    yield store
    store.close()


def _steps(store: SqlStore, run_id: str, key: str = "x") -> list[int]:
    return [int(s) for s in store.get_metric_history(run_id, key)["step"]]


def _refuse_writes(uri: str, on: bool) -> None:
    """Make every metric write fail in the database itself (or stop doing so)."""
    path = uri[len("sqlite:///"):]
    conn = sqlite3.connect(path, timeout=30)
    try:
        if on:
            conn.execute("CREATE TRIGGER refuse BEFORE INSERT ON latest_metrics "
                         "BEGIN SELECT RAISE(ABORT, 'disk on fire'); END")
        else:
            conn.execute("DROP TRIGGER refuse")
        conn.commit()
    finally:
        conn.close()


# -- in one process ----------------------------------------------------------------------


def test_points_are_on_disk_within_a_second_without_flush(client: Client,
                                                          observer: SqlStore) -> None:
    exp = client.create_experiment("e")
    run_id = client.create_run(exp).info.run_id
    for i in range(50):
        client.log_metric(run_id, "x", float(i))
    wait_for(lambda: len(_steps(observer, run_id)) == 50, what="50 points on disk")
    assert _steps(observer, run_id) == list(range(50))
    assert client.writer.pending() == 0


def test_flush_stores_everything_now(client: Client, observer: SqlStore) -> None:
    run_id = client.create_run(client.create_experiment("e")).info.run_id
    client.log_metric_points(run_id, "x", [float(i) for i in range(10_000)])
    client.log_metric(run_id, "y", 1.0)
    client.flush()
    assert client.writer.pending() == 0
    assert _steps(observer, run_id) == list(range(10_000))
    assert _steps(observer, run_id, "y") == [0]
    assert observer.get_run(run_id).data.metrics == {"x": 9999.0, "y": 1.0}


def test_more_points_than_one_batch(client: Client, observer: SqlStore) -> None:
    from jupyter_mltrack.tracking import writer as writer_mod

    run_id = client.create_run(client.create_experiment("e")).info.run_id
    n = writer_mod.MAX_BATCH + 1_234
    client.log_metric_points(run_id, "x", range(n))
    client.log_metric(run_id, "x", -1.0)
    client.flush()
    frame = observer.get_metric_history(run_id, "x")
    assert frame["step"].tolist() == list(range(n + 1))
    assert frame["value"].iloc[-1] == -1.0 and frame["value"].iloc[n - 1] == n - 1


def test_failed_batch_is_kept_and_raised_at_flush(db_uri: str, observer: SqlStore) -> None:
    exp = observer.create_experiment("e")
    run_id = observer.create_run(exp, None, 1, "u").run_id
    store = SqlStore(db_uri, observer.artifact_root)
    writer = BatchWriter(store, interval=3600)  # only flush() drains here
    try:
        _refuse_writes(db_uri, on=True)
        writer.extend([(run_id, "x", float(i), i, 1000 + i) for i in range(5)])
        with pytest.raises(WriteFailed, match="disk on fire") as info:
            writer.flush()
        assert "5 metric points" in str(info.value)
        assert writer.pending() == 5
        writer.append((run_id, "x", 5.0, 5, 1005))
        with pytest.raises(WriteFailed):
            writer.flush()  # still failing: raised again, nothing dropped
        assert writer.pending() == 6
        assert _steps(observer, run_id) == []
        _refuse_writes(db_uri, on=False)
        writer.flush()
        assert writer.pending() == 0
        assert _steps(observer, run_id) == [0, 1, 2, 3, 4, 5]  # each point exactly once
    finally:
        writer.close()
        store.close()


def test_a_transient_failure_is_retried_without_losing_or_raising(observer: SqlStore,
                                                                   db_uri: str) -> None:
    exp = observer.create_experiment("e")
    run_id = observer.create_run(exp, None, 1, "u").run_id
    store = SqlStore(db_uri, observer.artifact_root)
    failures = [4]  # more than the store's own retries: the writer must retry too

    def fail_now() -> int:
        failures[0] -= 1
        return int(failures[0] >= 0)

    @sa.event.listens_for(store.engine, "connect")
    def _register(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.create_function("fail_now", 0, fail_now)

    store.engine.dispose()  # connections from now on know fail_now()
    with store.engine.begin() as conn:  # only this store writes metrics here
        conn.exec_driver_sql("CREATE TRIGGER flaky BEFORE INSERT ON latest_metrics "
                             "WHEN fail_now() BEGIN SELECT RAISE(ABORT, 'flaky'); END")
    writer = BatchWriter(store, interval=3600)
    try:
        writer.extend([(run_id, "x", float(i), i, i) for i in range(3)])
        writer.flush()
        assert failures[0] == -1  # four failed attempts, then one that stored the batch
        assert _steps(observer, run_id) == [0, 1, 2]
    finally:
        writer.close()
        store.close()


def test_failed_background_write_is_raised_at_the_next_call(client: Client, db_uri: str,
                                                            observer: SqlStore) -> None:
    run_id = client.create_run(client.create_experiment("e")).info.run_id
    client.log_metric(run_id, "x", 0.0, step=0)
    client.flush()
    _refuse_writes(db_uri, on=True)
    logged = [0]

    def log_next() -> bool:
        step = logged[-1] + 1
        try:
            client.log_metric(run_id, "x", float(step), step=step)
        except WriteFailed as exc:
            assert "disk on fire" in str(exc)
            return True
        logged.append(step)
        return False

    # The background thread retries, gives up, and the next call says so.
    wait_for(log_next, timeout=15, what="WriteFailed from log_metric")
    _refuse_writes(db_uri, on=False)

    def flushed() -> bool:
        try:
            client.flush()
        except WriteFailed:  # an attempt made before the trigger went away
            return False
        return True

    wait_for(flushed, timeout=15, what="a clean flush")
    assert _steps(observer, run_id) == logged


def test_points_of_a_purged_run_are_dropped_and_said(observer: SqlStore, db_uri: str) -> None:
    exp = observer.create_experiment("e")
    keep = observer.create_run(exp, None, 1, "u").run_id
    gone = observer.create_run(exp, None, 1, "u").run_id
    store = SqlStore(db_uri, observer.artifact_root)
    writer = BatchWriter(store, interval=3600)
    try:
        writer.extend([(keep, "x", 1.0, 0, 1), (gone, "x", 2.0, 0, 1), (keep, "x", 3.0, 1, 2)])
        store.set_run_lifecycle(gone, deleted=True)
        store.purge_runs([gone])
        with pytest.raises(WriteFailed, match="1 metric points were dropped"):
            writer.flush()
        assert _steps(observer, keep) == [0, 1]
        writer.flush()  # said once; nothing left
        assert writer.pending() == 0
    finally:
        writer.close()
        store.close()


def test_a_run_purged_by_another_process_does_not_block_the_others(store_uri: str,
                                                                     tmp_path: Path) -> None:
    observer = SqlStore(store_uri, str(tmp_path))  # another process, say `mltrack gc`
    exp = observer.create_experiment("e")
    keep = observer.create_run(exp, None, 1, "u").run_id
    gone = observer.create_run(exp, None, 1, "u").run_id
    store = SqlStore(store_uri, str(tmp_path))  # this process: it knows both runs
    writer = BatchWriter(store, interval=3600)
    try:
        writer.extend([(keep, "x", 1.0, 0, 1), (gone, "x", 1.0, 0, 1)])
        writer.flush()
        observer.set_run_lifecycle(gone, deleted=True)
        observer.purge_runs([gone])
        writer.extend([(keep, "x", 2.0, 1, 2), (gone, "x", 2.0, 1, 2)])
        with pytest.raises(WriteFailed, match="1 metric points were dropped"):
            writer.flush()
        writer.append((keep, "x", 3.0, 2, 3))
        writer.flush()
        assert writer.pending() == 0
        assert _steps(observer, keep) == [0, 1, 2]
    finally:
        writer.close()
        store.close()
        observer.close()


# -- across processes --------------------------------------------------------------------

_WORKER = textwrap.dedent("""
    import os, sys, time
    from jupyter_mltrack import Client

    uri, n, idx, go = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    client = Client(uri)
    exp = client.get_or_create_experiment("parallel")
    run_id = client.create_run(exp, run_name=f"worker-{idx}").info.run_id
    client.log_params(run_id, {"worker": idx})
    print("ready", flush=True)
    while not os.path.exists(go):
        time.sleep(0.01)
    for i in range(n):
        client.log_metric(run_id, "x", float(i), step=i)
        client.log_metric(run_id, "y", float(idx))
        if i % 500 == 0:
            client.set_tag(run_id, "progress", str(i))
    if idx % 2:
        client.set_terminated(run_id)  # flushes; the others rely on the exit flush
""")


@pytest.mark.slow
def test_concurrent_writer_processes_lose_nothing(tmp_path: Path, db_uri: str) -> None:
    workers, points = 8, 2_000
    results = run_together(_WORKER, [[db_uri, str(points), str(i)] for i in range(workers)],
                           tmp_path)
    for _, err in results:
        assert "locked" not in err and "Error" not in err, err
    store = SqlStore(db_uri, str(tmp_path / "artifacts"))
    try:
        runs = store.search_runs([], max_results=100)
        assert sorted(r.info.run_name for r in runs) == [f"worker-{i}" for i in range(workers)]
        for run in runs:
            idx = int(run.data.params["worker"])
            assert _steps(store, run.info.run_id) == list(range(points))
            assert _steps(store, run.info.run_id, "y") == list(range(points))
            assert run.data.metrics == {"x": points - 1.0, "y": float(idx)}
            assert run.info.status == ("FINISHED" if idx % 2 else "RUNNING")
    finally:
        store.close()


def _fork_child(uri: str, idx: int, points: int) -> None:
    client = Client(uri)
    run_id = client.create_run(client.get_or_create_experiment("forked"),
                               run_name=f"child-{idx}").info.run_id
    for i in range(points):
        client.log_metric(run_id, "x", float(i), step=i)
    # no flush: a multiprocessing child must not lose its last points either


@pytest.mark.skipif(sys.platform == "win32", reason="fork")
def test_forked_children_neither_lose_nor_duplicate(client: Client,
                                                    observer: SqlStore) -> None:
    """Children forked while the parent has points buffered and a store open."""
    parent = client.create_run(client.create_experiment("parent")).info.run_id
    client.log_metric(parent, "x", 0.0, step=0)
    client.flush()
    ctx = multiprocessing.get_context("fork")
    # Buffered but not yet written when the children are forked.
    client.log_metric_points(parent, "x", [float(i) for i in range(1, 2_001)],
                             steps=range(1, 2_001))
    children = [ctx.Process(target=_fork_child, args=(client.tracking_uri, i, 1_000))
                for i in range(3)]
    for child in children:
        child.start()
    client.log_metric(parent, "x", 2001.0, step=2001)
    for child in children:
        child.join(timeout=120)
        assert child.exitcode == 0
    client.flush()
    assert _steps(observer, parent) == list(range(2_002))
    found = observer.search_runs([], "attributes.run_name LIKE 'child-%'")
    assert len(found) == 3
    for run in found:
        assert _steps(observer, run.info.run_id) == list(range(1_000))


_VICTIM = textwrap.dedent("""
    import sys, time
    from jupyter_mltrack import Client

    client = Client(sys.argv[1])
    run_id = client.create_run(client.get_or_create_experiment("victim")).info.run_id
    print(run_id, flush=True)
    for i in range(1_000):
        client.log_metric(run_id, "x", float(i), step=i)
    print("burst", flush=True)
    sys.stdin.readline()  # the parent says: go on
    i = 1_000
    while True:
        client.log_metric(run_id, "x", float(i), step=i)
        i += 1
        if i % 200 == 0:
            time.sleep(0.005)
""")


def _heartbeat(store: SqlStore, run_id: str) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(sa.select(schema.runs.c.heartbeat)
                                .where(schema.runs.c.run_uuid == run_id)).scalar_one())


@pytest.mark.slow
def test_sigkilled_process_keeps_its_points_and_its_run_is_marked_killed(
        tmp_path: Path, db_uri: str, observer: SqlStore) -> None:
    script = tmp_path / "victim.py"
    script.write_text(_VICTIM)
    env = {**os.environ, "MLTRACK_HEARTBEAT_INTERVAL": "0.2", "MLTRACK_FLUSH_INTERVAL": "0.2"}
    proc = subprocess.Popen([sys.executable, str(script), db_uri], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None and proc.stdin is not None
        run_id = proc.stdout.readline().strip()
        assert len(run_id) == 32, proc.stderr.read() if proc.stderr else ""
        assert proc.stdout.readline().strip() == "burst"
        # Logged, not flushed, the process still alive: on disk within the interval.
        wait_for(lambda: len(_steps(observer, run_id)) == 1_000, what="the burst on disk")
        # The living process sends heartbeats.
        first = _heartbeat(observer, run_id)
        wait_for(lambda: _heartbeat(observer, run_id) > first, what="a heartbeat")
        assert Client(db_uri).mark_stale_runs(stale_after=30) == []
        proc.stdin.write("go\n")
        proc.stdin.flush()
        wait_for(lambda: len(_steps(observer, run_id)) > 3_000, timeout=20,
                  what="continuous logging")
        seen = len(_steps(observer, run_id))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    steps = _steps(observer, run_id)
    # What was on disk stays; what is there is a gapless, duplicate-free prefix.
    assert len(steps) >= seen
    assert steps == list(range(len(steps)))
    last_beat = _heartbeat(observer, run_id)
    # The dead run is marked KILLED once its heartbeat is stale, by anyone who looks.
    monitor = ("import sys; from jupyter_mltrack import Client; "
               "print(','.join(Client(sys.argv[1]).mark_stale_runs()))")

    def marked() -> bool:
        out = subprocess.run([sys.executable, "-c", monitor, db_uri], check=True,
                             capture_output=True, text=True,
                             env={**os.environ, "MLTRACK_HEARTBEAT_TIMEOUT": "1"}).stdout
        return out.strip() == run_id

    wait_for(marked, timeout=30, what="the run marked KILLED")
    info = observer.get_run(run_id).info
    assert info.status == "KILLED"
    assert info.end_time == last_beat
    with observer.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA integrity_check").scalar_one() == "ok"
    # The store is still perfectly usable.
    client = Client(db_uri)
    again = client.create_run(client.get_or_create_experiment("victim")).info.run_id
    client.log_metric(again, "x", 1.0, synchronous=True)
    assert _steps(observer, again) == [0]


_IDLE = textwrap.dedent("""
    import sys, time
    from jupyter_mltrack import Client

    client = Client(sys.argv[1])
    run_id = client.create_run(client.get_or_create_experiment("idle")).info.run_id
    client.log_param(run_id, "p", 1)
    print(run_id, flush=True)
    time.sleep(120)  # training without logging metrics yet
""")


@pytest.mark.slow
def test_a_live_run_that_logs_no_metrics_still_sends_heartbeats(
        tmp_path: Path, db_uri: str, observer: SqlStore) -> None:
    script = tmp_path / "idle.py"
    script.write_text(_IDLE)
    env = {**os.environ, "MLTRACK_HEARTBEAT_INTERVAL": "0.2"}
    proc = subprocess.Popen([sys.executable, str(script), db_uri], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        run_id = proc.stdout.readline().strip()
        assert len(run_id) == 32
        first = _heartbeat(observer, run_id)
        wait_for(lambda: _heartbeat(observer, run_id) > first, what="a heartbeat")
    finally:
        proc.kill()
        proc.wait()


_LIVE = textwrap.dedent("""
    import sys, time
    from jupyter_mltrack import Client

    client = Client(sys.argv[1])
    run_id = client.create_run(client.get_or_create_experiment("live")).info.run_id
    print(run_id, flush=True)
    time.sleep(600)  # alive, logging nothing: only its heartbeats say so
""")

_READER = textwrap.dedent("""
    import sys, time
    from jupyter_mltrack import Client

    client = Client(sys.argv[1])
    deadline = time.monotonic() + float(sys.argv[2])
    marked = client.mark_stale_runs()
    while time.monotonic() < deadline:
        time.sleep(0.1)
        marked += client.mark_stale_runs()
    print(",".join(marked))
""")


@pytest.mark.slow
def test_a_reader_with_a_short_timeout_never_kills_a_live_run(
        tmp_path: Path, db_uri: str, observer: SqlStore) -> None:
    """The writer's interval is recorded with the run; a run is stale only when it
    missed several of its own heartbeats, whatever the reader's timeout."""
    (tmp_path / "live.py").write_text(_LIVE)
    (tmp_path / "reader.py").write_text(_READER)
    proc = subprocess.Popen([sys.executable, str(tmp_path / "live.py"), db_uri],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "MLTRACK_HEARTBEAT_INTERVAL": "2"})

    def read(seconds: float) -> list[str]:
        out = subprocess.run([sys.executable, str(tmp_path / "reader.py"), db_uri,
                              str(seconds)], check=True, capture_output=True, text=True,
                             env={**os.environ, "MLTRACK_HEARTBEAT_TIMEOUT": "0.5"}).stdout
        return [r for r in out.strip().split(",") if r]

    try:
        assert proc.stdout is not None
        run_id = proc.stdout.readline().strip()
        assert len(run_id) == 32, proc.stderr.read() if proc.stderr else ""
        assert observer.get_run(run_id).data.tags["mltrack.heartbeat_interval"] == "2.0"
        # Five of the writer's intervals, each checked by a reader that would give up
        # on any run silent for half a second.
        assert read(10) == []
        assert proc.poll() is None
        assert observer.get_run(run_id).info.status == "RUNNING"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    last_beat = _heartbeat(observer, run_id)

    def marked() -> int | None:
        found = read(0)
        return time.time_ns() // 1_000_000 if found == [run_id] else None

    # The dead process is found, and not before three of its intervals have passed.
    marked_by = wait_for(marked, timeout=60, what="the dead run marked KILLED")
    assert marked_by - last_beat >= 3 * 2000
    info = observer.get_run(run_id).info
    assert info.status == "KILLED" and info.end_time == last_beat


def test_the_stale_rule_takes_the_longer_of_timeout_and_three_intervals(
        client: Client) -> None:
    run_ids = {}
    for interval in ("1.0", "100.0", None, "not a number"):
        run_id = client.create_run(client.get_or_create_experiment("e")).info.run_id
        client.writer.unwatch(run_id)  # no heartbeats from here: set them by hand
        if interval is None:
            client.delete_tag(run_id, "mltrack.heartbeat_interval")
        else:
            client.set_tag(run_id, "mltrack.heartbeat_interval", interval)
        run_ids[interval] = run_id
    now = time.time_ns() // 1_000_000
    client.store.heartbeat(list(run_ids.values()), now - 120_000)  # two minutes ago
    # A 60 s timeout: the runs beating every second or never saying are stale; the run
    # that beats every 100 s has 300 s before it is.
    assert sorted(client.mark_stale_runs(stale_after=60)) == sorted(
        [run_ids["1.0"], run_ids[None], run_ids["not a number"]])
    assert client.mark_stale_runs(stale_after=1) == []
    client.store.heartbeat([run_ids["100.0"]], now - 301_000)
    assert client.mark_stale_runs(stale_after=1) == [run_ids["100.0"]]


# -- SIGTERM -----------------------------------------------------------------------------

_TERMINATED = textwrap.dedent("""
    import signal, sys, time
    import jupyter_mltrack as mltrack
    from jupyter_mltrack import Client

    uri, mode = sys.argv[1], sys.argv[2]
    if mode == "chained":
        def previous(signum, frame):
            print("previous handler", flush=True)
            sys.exit(7)
        signal.signal(signal.SIGTERM, previous)
    mltrack.set_tracking_uri(uri)
    run = mltrack.start_run(run_name="fluent")
    client = Client(uri)
    other = client.create_run(client.get_or_create_experiment("other")).info.run_id
    for i in range(1_000):
        mltrack.log_metric("x", float(i), step=i)
        client.log_metric(other, "y", float(i), step=i)
    print(run.info.run_id, other, flush=True)
    with run:
        time.sleep(600)  # buffered, not flushed, when SIGTERM comes
""")


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["default", "chained"])
def test_sigterm_stores_the_buffered_points_and_kills_the_runs(
        tmp_path: Path, db_uri: str, observer: SqlStore, mode: str) -> None:
    script = tmp_path / "terminated.py"
    script.write_text(_TERMINATED)
    proc = subprocess.Popen([sys.executable, str(script), db_uri, mode],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "MLTRACK_FLUSH_INTERVAL": "3600",
                                 "MLTRACK_HEARTBEAT_INTERVAL": "3600"})
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().split()
        assert len(line) == 2, proc.stderr.read() if proc.stderr else ""
        fluent_run, client_run = line
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if mode == "default":  # terminated as SIGTERM terminates (a shell shows 143)
        assert proc.returncode == -signal.SIGTERM, err
    else:  # the handler that was there before ours still decides
        assert proc.returncode == 7, err
        assert "previous handler" in out
    assert _steps(observer, fluent_run) == list(range(1_000))
    assert _steps(observer, client_run, "y") == list(range(1_000))
    for run_id in (fluent_run, client_run):
        run = observer.get_run(run_id)
        assert run.info.status == "KILLED", (run_id, err)
        assert run.info.end_time is not None
        assert "SIGTERM" in run.data.tags["mltrack.error"]


_HANDLER_STATES = textwrap.dedent("""
    import signal, sys, threading
    from jupyter_mltrack import Client

    def state():
        handler = signal.getsignal(signal.SIGTERM)
        print("default" if handler is signal.SIG_DFL else
              "ignored" if handler is signal.SIG_IGN else "installed", flush=True)

    client = Client(sys.argv[1])
    exp = client.get_or_create_experiment("e")
    client.search_runs(exp)
    state()  # a process that only reads installs nothing
    a = client.create_run(exp).info.run_id
    b = client.create_run(exp).info.run_id
    state()
    client.set_terminated(a)
    state()  # b still runs
    client.set_terminated(b)
    state()  # no run left: the previous handler is back
    worker = threading.Thread(target=lambda: client.create_run(exp))
    worker.start()
    worker.join()
    state()  # only the main thread may install a handler; the run starts all the same
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    client.create_run(exp)
    state()  # a process that ignores SIGTERM keeps ignoring it
""")


def test_the_sigterm_handler_is_there_only_while_runs_are(tmp_path: Path, db_uri: str) -> None:
    script = tmp_path / "states.py"
    script.write_text(_HANDLER_STATES)
    out = subprocess.run([sys.executable, str(script), db_uri], check=True,
                         capture_output=True, text=True, timeout=120).stdout.split()
    assert out == ["default", "installed", "installed", "default", "default", "ignored"]


@pytest.mark.slow
@pytest.mark.kernel
def test_a_kernel_stopped_with_sigterm_stores_its_points_and_kills_its_run(
        tmp_path: Path, db_uri: str, observer: SqlStore) -> None:
    from jupyter_client.manager import KernelManager

    km = KernelManager(kernel_name="python3")
    km.start_kernel(cwd=str(tmp_path), env={**os.environ, "MLTRACK_FLUSH_INTERVAL": "3600",
                                            "MLTRACK_HEARTBEAT_INTERVAL": "3600"})
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=120)
        code = ("import jupyter_mltrack as mltrack\n"
                f"mltrack.set_tracking_uri({db_uri!r})\n"
                "run = mltrack.start_run(run_name='in-kernel')\n"
                "for i in range(500):\n"
                "    mltrack.log_metric('x', float(i), step=i)\n")
        reply = kc.execute_interactive(code, timeout=120, output_hook=lambda msg: None)
        assert reply["content"]["status"] == "ok", reply["content"]
        km.signal_kernel(signal.SIGTERM)  # what a kernel manager sends a kernel that lingers
        wait_for(lambda: not km.is_alive(), timeout=60, what="the kernel gone")
    finally:
        kc.stop_channels()
        if km.is_alive():
            km.shutdown_kernel(now=True)
        km.cleanup_resources()
    [run] = observer.search_runs([], "attributes.run_name = 'in-kernel'")
    assert run.info.status == "KILLED"
    assert _steps(observer, run.info.run_id) == list(range(500))
