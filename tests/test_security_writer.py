"""One bad number must never cost the points logged around it.

Numbers out of the range a store can hold are refused where they are logged, on every
entry point (Client and module-level API, one point or a batch). Behind that boundary,
the background writer isolates a batch that the store refuses for its data: the good
points are stored, the bad ones are said once at the next call and not retried forever,
and the run can still end. Everything runs on a real SQLite file with the real
background writer, and once in a real process that exits without flushing.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from jupyter_mltrack import Client
from jupyter_mltrack.entities import Metric
from jupyter_mltrack.errors import InvalidParameter, WriteFailed
from jupyter_mltrack.store.sql import SqlStore
from jupyter_mltrack.tracking.writer import BatchWriter
from tests.processes import wait_for

INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)


@pytest.fixture
def observer(tracking_uri: str, tmp_path: Path) -> Iterator[SqlStore]:
    """A second store on the client's file: it sees only what was committed."""
    store = SqlStore(tracking_uri, str(tmp_path / "artifacts"))
    yield store
    store.close()


def _steps(store: SqlStore, run_id: str, key: str = "x") -> list[int]:
    return [int(s) for s in store.get_metric_history(run_id, key)["step"]]


# -- refused at the call -----------------------------------------------------------------

_LOGGERS: dict[str, Callable[[Client, str, dict[str, Any]], None]] = {
    "log_metric": lambda c, r, a: c.log_metric(r, "k", a.get("value", 1.0),
                                               step=a.get("step"), timestamp=a.get("timestamp")),
    "log_metrics": lambda c, r, a: c.log_metrics(r, {"k": a.get("value", 1.0)},
                                                 step=a.get("step"),
                                                 timestamp=a.get("timestamp")),
    "log_metric_points": lambda c, r, a: c.log_metric_points(
        r, "k", [a.get("value", 1.0)],
        steps=None if a.get("step") is None else [a["step"]],
        timestamps=None if a.get("timestamp") is None else [a["timestamp"]]),
    "log_batch": lambda c, r, a: c.log_batch(r, [Metric(
        "k", a.get("value", 1.0),
        1 if a.get("timestamp") is None else a["timestamp"],
        0 if a.get("step") is None else a["step"])]),
}

_OUT_OF_RANGE = [
    pytest.param({"timestamp": 2**70}, "timestamp", id="timestamp-2**70"),
    pytest.param({"timestamp": 2**63}, "timestamp", id="timestamp-2**63"),
    pytest.param({"timestamp": INT64_MIN - 1}, "timestamp", id="timestamp-below"),
    pytest.param({"timestamp": 1e30}, "timestamp", id="timestamp-float-1e30"),
    pytest.param({"timestamp": np.uint64(2**64 - 1)}, "timestamp", id="timestamp-uint64"),
    pytest.param({"step": 2**70}, "step", id="step-2**70"),
    pytest.param({"step": INT64_MIN - 1}, "step", id="step-below"),
    pytest.param({"value": 10**400}, "value", id="value-10**400"),
    pytest.param({"value": -(10**400)}, "value", id="value--10**400"),
]


@pytest.mark.parametrize("logger", list(_LOGGERS))
@pytest.mark.parametrize(("args", "what"), _OUT_OF_RANGE)
def test_out_of_range_numbers_are_refused_at_the_call(client: Client, observer: SqlStore,
                                                      logger: str, args: dict[str, Any],
                                                      what: str) -> None:
    run_id = client.create_run(client.create_experiment("e")).info.run_id
    client.log_metric(run_id, "k", 0.5, step=0, timestamp=1, synchronous=True)
    with pytest.raises(InvalidParameter) as info:
        _LOGGERS[logger](client, run_id, args)
    message = str(info.value)
    assert "'k'" in message and what in message
    assert "64-bit" in message if what != "value" else "float" in message
    # Nothing half-stored, nothing held back: the next point goes through as usual.
    client.log_metric(run_id, "k", 2.5, step=1, timestamp=2)
    client.flush()
    assert client.writer.pending() == 0
    assert _steps(observer, run_id, "k") == [0, 1]


def test_the_fluent_api_refuses_them_too(fluent: ModuleType) -> None:
    with fluent.start_run() as run:
        with pytest.raises(InvalidParameter, match="timestamp"):
            fluent.log_metric("k", 1.0, timestamp=2**70)
        with pytest.raises(InvalidParameter, match=r"'k'.*float"):
            fluent.log_metric("k", 10**400)
        with pytest.raises(InvalidParameter, match="step"):
            fluent.log_metrics({"k": 1.0}, step=2**64)
        with pytest.raises(InvalidParameter, match="timestamp"):
            fluent.log_batch([Metric("k", 1.0, 2**70, 0)])
        fluent.log_metric("k", 1.0, step=0)
        fluent.log_param("big", 10**400)  # params and tags are text: unaffected
        fluent.set_tag("big", 10**400)
    stored = fluent.get_run(run.info.run_id)
    assert stored.info.status == "FINISHED"
    assert stored.data.metrics == {"k": 1.0}
    assert stored.data.params["big"] == str(10**400)


def test_the_edges_of_the_ranges_and_special_values_are_kept(client: Client) -> None:
    run_id = client.create_run(client.create_experiment("e")).info.run_id
    points = [(INT64_MIN, INT64_MIN, float("nan")), (0, INT64_MAX, float("-inf")),
              (INT64_MAX, 0, float("inf")), (INT64_MAX - 1, 5, 10**300)]
    for step, ts, value in points:
        client.log_metric(run_id, "k", value, step=step, timestamp=ts)
    client.log_batch(run_id, [Metric("b", 1.0, INT64_MAX, INT64_MIN)])
    history = client.get_metric_history(run_id, "k")
    assert [(m.step, m.timestamp) for m in history] == sorted((s, t) for s, t, _ in points)
    values = [m.value for m in history]
    assert math.isnan(values[0])
    assert values[1:] == [float("-inf"), float(10**300), float("inf")]
    assert client.get_metric_history(run_id, "b") == [Metric("b", 1.0, INT64_MAX, INT64_MIN)]


# -- the writer isolates what the store refuses ------------------------------------------


def test_a_poisoned_point_does_not_hold_later_points_hostage(client: Client,
                                                             observer: SqlStore) -> None:
    client.writer.interval = 3600  # the background thread drains when woken below
    run_id = client.create_run(client.create_experiment("e")).info.run_id
    client.log_metric(run_id, "x", 0.0, step=0)
    # What the boundary refuses now, put behind it: the writer must survive it anyway.
    client.writer.append((run_id, "x", 1.0, 1, 2**70))
    for i in range(2, 200):
        client.log_metric(run_id, "x", float(i), step=i)
    expected = [0, *range(2, 200)]
    # No flush: the background writer stores the good points on its own.
    client.writer._wake.set()
    wait_for(lambda: _steps(observer, run_id) == expected, timeout=30.0,
             what="the valid points on disk")
    with pytest.raises(WriteFailed) as info:
        client.log_metric(run_id, "x", 200.0, step=200)
    message = str(info.value)
    assert "1 metric point" in message and "'x'" in message and "step 1" in message
    assert run_id in message
    client.log_metric(run_id, "x", 200.0, step=200)  # the call that raised logged nothing
    client.flush()  # said once, not retried forever
    assert client.writer.pending() == 0
    client.set_terminated(run_id)
    assert observer.get_run(run_id).info.status == "FINISHED"
    assert _steps(observer, run_id) == [*expected, 200]


def test_a_batch_with_several_bad_points_stores_all_the_good_ones(
        store_uri: str, tmp_path: Path) -> None:
    observer = SqlStore(store_uri, str(tmp_path / "artifacts"))
    exp = observer.create_experiment("e")
    run_id = observer.create_run(exp, None, 1, "u").run_id
    store = SqlStore(store_uri, observer.artifact_root)
    writer = BatchWriter(store, interval=3600)  # only flush() drains: one batch
    bad_steps = {3, 500, 501, 998}
    rows = [(run_id, "x", float(i), i, 2**64 if i in bad_steps else i) for i in range(1000)]
    rows[700] = (run_id, "x", 10**400, 700, 700)  # a value no float holds
    try:
        writer.extend(rows)  # type: ignore[arg-type]
        with pytest.raises(WriteFailed, match="5 metric points") as info:
            writer.flush()
        assert "kept" not in str(info.value)  # given up, not promised again
        assert writer.pending() == 0
        good = [i for i in range(1000) if i not in bad_steps | {700}]
        assert _steps(observer, run_id) == good
        assert observer.get_run(run_id).data.metrics == {"x": 999.0}
        writer.flush()
    finally:
        writer.close()
        store.close()
        observer.close()


def test_a_store_that_fails_for_every_point_keeps_them_all(tracking_uri: str,
                                                           observer: SqlStore) -> None:
    """Isolating bad points must not turn an outage into dropped points."""
    import sqlite3

    exp = observer.create_experiment("e")
    run_id = observer.create_run(exp, None, 1, "u").run_id
    store = SqlStore(tracking_uri, observer.artifact_root)
    writer = BatchWriter(store, interval=3600)
    conn = sqlite3.connect(tracking_uri[len("sqlite:///"):])
    try:
        conn.execute("CREATE TRIGGER refuse BEFORE INSERT ON latest_metrics "
                     "BEGIN SELECT RAISE(ABORT, 'disk on fire'); END")
        conn.commit()
        writer.extend([(run_id, "x", float(i), i, i) for i in range(4)])
        writer.append((run_id, "x", 1.0, 4, 2**70))
        with pytest.raises(WriteFailed, match="disk on fire"):
            writer.flush()
        assert writer.pending() >= 4
        conn.execute("DROP TRIGGER refuse")
        conn.commit()
        with pytest.raises(WriteFailed, match="1 metric point"):
            writer.flush()
        assert writer.pending() == 0
        assert _steps(observer, run_id) == [0, 1, 2, 3]
    finally:
        conn.close()
        writer.close()
        store.close()


_EXITS_WITHOUT_FLUSH = textwrap.dedent("""
    import sys
    import jupyter_mltrack as mltrack
    from jupyter_mltrack.tracking import fluent

    mltrack.set_tracking_uri(sys.argv[1])
    run = mltrack.start_run()
    print(run.info.run_id, flush=True)
    mltrack.log_metric("x", 0.0, step=0)
    fluent.client().writer.append((run.info.run_id, "x", 1.0, 1, 2**70))
    for i in range(2, 1000):
        mltrack.log_metric("x", float(i), step=i)
    # no flush, no end_run: the exit ends the run and stores what is buffered
""")


@pytest.mark.slow
def test_a_process_with_a_poisoned_point_exits_with_its_points_stored(
        tmp_path: Path, tracking_uri: str, observer: SqlStore) -> None:
    script = tmp_path / "script.py"
    script.write_text(_EXITS_WITHOUT_FLUSH)
    proc = subprocess.run([sys.executable, str(script), tracking_uri], capture_output=True,
                          text=True, timeout=120,
                          env={**os.environ, "MLTRACK_FLUSH_INTERVAL": "3600"})
    run_id = proc.stdout.strip()
    assert len(run_id) == 32, proc.stderr
    assert _steps(observer, run_id) == [0, *range(2, 1000)]
    assert observer.get_run(run_id).info.status == "FINISHED"
    assert "1 metric point" in proc.stderr  # said, not swallowed
