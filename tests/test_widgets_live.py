"""Live updates: running runs refresh table and charts, reading only what is new."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from jupyter_mltrack.errors import InvalidParameter, StoreError
from jupyter_mltrack.widgets import compare, show_run
from jupyter_mltrack.widgets.live import HistoryCache, LiveLoop
from tests.widget_runs import make_runs


def _history_rows(widget) -> list[dict]:
    return [row for rows in widget.chart_views["history"].spec["datasets"].values() for row in rows]


def test_history_cache_extends_from_the_last_step(client) -> None:
    run_id = make_runs(client, n=1, steps=10, running=1)[0]
    cache = HistoryCache(client)
    assert len(cache.get(run_id, "loss")) == 10
    assert cache.extend(run_id, "loss") is False  # nothing new
    client.log_metric_points(run_id, "loss", [0.5, 0.4, 0.3], steps=[10, 11, 12])
    assert cache.extend(run_id, "loss") is True
    full = client.get_metric_history_frame(run_id, "loss")
    assert cache.get(run_id, "loss")["value"].tolist() == full["value"].tolist()
    assert len(full) == 13
    # The incremental read returned the last known step onwards only.
    assert len(client.get_metric_history_frame(run_id, "loss", min_step=12)) == 1


def test_history_cache_is_bounded(client) -> None:
    ids = make_runs(client, n=4, steps=30)
    cache = HistoryCache(client, max_points=70)
    for run_id in ids:
        cache.get(run_id, "loss")
    assert cache.points <= 70
    assert cache.holds(ids[-1], "loss")  # the newest stays
    assert not cache.holds(ids[0], "loss")
    assert len(cache.get(ids[0], "loss")) == 30  # read again when asked


def test_a_tick_refreshes_status_duration_values_and_histories(client) -> None:
    ids = make_runs(client, n=3, steps=20, running=1)
    live_id = ids[-1]
    w = compare("sweep", client=client, refresh_interval=None)
    w.table._selected = [live_id]
    assert "1 running" in w.header_html
    assert len(_history_rows(w)) == 20
    reads = w.histories.reads
    client.log_metric_points(live_id, "loss", np.linspace(0.2, 0.1, 30), steps=range(20, 50))
    assert w.poll() is True  # still running: keep polling
    assert len(_history_rows(w)) == 50
    assert w.histories.reads == reads + 1  # one incremental read, not a full one
    assert "updated" in w.header_html
    client.set_terminated(live_id)
    assert w.poll() is False  # nothing runs any more: the loop ends
    row = w.frame.set_index("run_id").loc[live_id]
    assert row["status"] == "FINISHED"
    assert row["metrics.loss"] == pytest.approx(0.1)
    assert "running" not in w.header_html
    w.close()


def test_new_runs_matching_the_filter_appear(client) -> None:
    make_runs(client, n=2, steps=5, running=1)
    w = compare("sweep", filter="params.optimizer = 'sgd'", client=client, refresh_interval=None)
    assert w.table._total == 1
    exp = client.get_experiment_by_name("sweep").experiment_id
    for opt in ("sgd", "adam"):
        run = client.create_run(exp, run_name=f"late-{opt}")
        client.log_params(run.info.run_id, {"optimizer": opt})
    w.poll()
    assert sorted(w.frame["run_name"]) == ["late-sgd", "run-1"]
    w.close()


def test_the_thread_updates_while_a_run_trains_and_stops_after(client) -> None:
    run_id = make_runs(client, n=1, steps=5, running=1)[0]
    w = compare("sweep", client=client, refresh_interval=0.2)
    assert w.live
    w.table._selected = [run_id]
    seen = threading.Event()

    def watch(change) -> None:
        rows = [r for rows in (change["new"] or {}).get("datasets", {}).values() for r in rows]
        if len(rows) >= 8:
            seen.set()

    w.chart_views["history"].observe(watch, "spec")
    client.log_metric_points(run_id, "loss", [0.3, 0.2, 0.1], steps=[5, 6, 7])
    assert seen.wait(30), "the live thread did not redraw the history"
    client.set_terminated(run_id)
    assert w._live.finished.wait(30), "the live thread did not stop when the run ended"
    assert not w.live
    assert w.frame["status"].tolist() == ["FINISHED"]
    w.close()


def test_no_thread_when_nothing_runs(client) -> None:
    make_runs(client, n=2, steps=5)
    w = compare("sweep", client=client, refresh_interval=0.2)
    assert not w.live
    w.close()


def test_an_error_stops_the_loop_and_is_shown(client) -> None:
    make_runs(client, n=1, steps=5, running=1)
    w = compare("sweep", client=client, refresh_interval=None)

    def broken() -> bool:
        raise StoreError("database went away")

    loop = LiveLoop(broken, 0.2, on_error=w._live_failed)
    loop.start()
    assert loop.finished.wait(30)
    assert isinstance(loop.error, StoreError)
    assert "Live updates stopped: database went away" in w.message_html
    w.close()


def test_intervals_are_bounded() -> None:
    with pytest.raises(InvalidParameter, match=r"at least 0\.2 seconds"):
        LiveLoop(lambda: False, 0.0)


def test_run_view_follows_a_running_run(client) -> None:
    run_id = make_runs(client, n=1, steps=5, running=1)[0]
    view = show_run(run_id, client=client, refresh_interval=None)
    assert "RUNNING" in view.header_html
    client.log_metric_points(run_id, "loss", [0.01], steps=[5])
    client.set_terminated(run_id)
    assert view.poll() is False
    assert "FINISHED" in view.header_html
    assert "0.01" in view._metrics.value
    panels = view.history_view.spec
    loss = [r for rows in panels["datasets"].values() for r in rows if r["metric"] == "loss"]
    assert len(loss) == 6
    view.close()
