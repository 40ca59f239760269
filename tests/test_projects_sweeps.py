"""Sweeps over project entry points, as MLflow's hyperparameter-search example writes
them: a parent run that creates child runs, ``mlflow.projects.run(run_id=...)`` into
each and ``synchronous=False`` with a thread pool; and the per-thread run stacks that
make concurrent ``start_run``/``end_run`` in threads safe."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

import jupyter_mltrack as mltrack
from jupyter_mltrack import Client, InvalidState
from jupyter_mltrack.projects import run
from jupyter_mltrack.projects.mlflow_compat import local_has_mlflow
from tests.test_projects import store as store  # the fixture
from tests.test_projects import write_project

# One training entry point (its loss depends on the learning rate) and a search entry
# point that runs it in child runs, several at a time.
SWEEP_MLPROJECT = '''\
name: sweep

entry_points:
  train:
    parameters:
      learning_rate: {type: float, default: 0.1}
    command: "python train.py {learning_rate}"
  search:
    parameters:
      trials: {type: int, default: 4}
      parallel: {type: int, default: 2}
    command: "python search.py {trials} {parallel}"
'''
SWEEP_TRAIN = '''\
import sys
import mlflow

rate = float(sys.argv[1])
with mlflow.start_run():
    mlflow.log_param("learning_rate", rate)
    if rate < 0:
        raise SystemExit("a negative learning rate diverges")
    for epoch in range(3):
        mlflow.log_metric("loss", (rate - 0.05) ** 2 + 1.0 / (epoch + 1), step=epoch)
'''
SWEEP_SEARCH = '''\
import sys
from concurrent.futures import ThreadPoolExecutor

import mlflow
import mlflow.projects
import mlflow.tracking

trials, parallel = int(sys.argv[1]), int(sys.argv[2])
client = mlflow.tracking.MlflowClient()

with mlflow.start_run() as parent:
    experiment = parent.info.experiment_id

    def evaluate(rate):
        child = client.create_run(experiment, tags={"mlflow.parentRunId": parent.info.run_id})
        submitted = mlflow.projects.run(uri=".", entry_point="train", run_id=child.info.run_id,
                                        parameters={"learning_rate": str(rate)},
                                        experiment_id=experiment, synchronous=False)
        if submitted.wait():
            loss = client.get_run(submitted.run_id).data.metrics["loss"]
        else:
            client.set_terminated(submitted.run_id, "FAILED")
            loss = float("inf")
        mlflow.log_metric("trial_loss", loss)  # from a worker thread: the parent's run
        return submitted.run_id, loss

    rates = [0.05 * (i + 1) for i in range(trials - 1)] + [-1.0]
    with ThreadPoolExecutor(max_workers=parallel) as pool:
        results = list(pool.map(evaluate, rates))
    best_run, best_loss = min(results, key=lambda item: item[1])
    mlflow.log_metric("best_loss", best_loss)
    mlflow.set_tag("best_run", best_run)
'''


@pytest.mark.slow
def test_an_mlflow_style_sweep_runs_children_into_given_runs_in_parallel(
        store: Client, tmp_path: Path) -> None:
    if local_has_mlflow():
        pytest.skip("MLflow is installed here; the compatibility layer is not used")
    project = write_project(tmp_path / "sweep", SWEEP_MLPROJECT,
                            {"train.py": SWEEP_TRAIN, "search.py": SWEEP_SEARCH})

    done = run(project, "search", {"trials": "4", "parallel": "2"}, quiet=True)

    experiment = store.get_run(done.run_id).info.experiment_id
    runs = {r.info.run_id: r for r in store.search_runs([experiment])}
    parent = runs[done.run_id]
    children = [r for r in runs.values()
                if r.data.tags.get("mlflow.parentRunId") == done.run_id]
    assert len(children) == 4, sorted(r.data.tags for r in runs.values())
    # Every child ran its entry point in the run the parent created for it: no extra runs.
    assert len(runs) == 5
    by_rate = {float(c.data.params["learning_rate"]): c for c in children}
    assert sorted(by_rate) == [-1.0, 0.05, 0.1, 0.15000000000000002]
    assert by_rate[-1.0].info.status == "FAILED"
    for rate in (0.05, 0.1):
        child = by_rate[rate]
        assert child.info.status == "FINISHED"
        assert child.data.metrics["loss"] == pytest.approx((rate - 0.05) ** 2 + 1 / 3)
        assert child.data.tags["mltrack.project.entry_point"] == "train"
    # The worker threads logged to the parent's run; the best is the lowest loss.
    history = store.get_metric_history(done.run_id, "trial_loss")
    assert len(history) == 4
    finite = [m.value for m in history if m.value != float("inf")]
    assert parent.data.metrics["best_loss"] == pytest.approx(min(finite))
    assert parent.data.tags["best_run"] == by_rate[0.05].info.run_id
    assert parent.info.status == "FINISHED"


def test_run_id_logs_into_the_given_run_and_refuses_an_unknown_one(
        store: Client, tmp_path: Path) -> None:
    project = write_project(tmp_path / "p", 'entry_points:\n  main:\n    parameters:\n'
                            '      n: {type: int, default: 1}\n'
                            '    command: "python -c \\"print({n})\\""\n', {})
    experiment = store.create_experiment("given")
    made = store.create_run(experiment, run_name="made-first")

    done = run(project, parameters={"n": "7"}, run_id=made.info.run_id, quiet=True)

    assert done.run_id == made.info.run_id
    stored = store.get_run(made.info.run_id)
    assert stored.info.status == "FINISHED"
    assert stored.info.run_name == "made-first"
    assert stored.data.params["n"] == "7"
    assert len(store.search_runs([experiment])) == 1
    with pytest.raises(mltrack.MLTrackError, match="0123456789abcdef"):
        run(project, run_id="0123456789abcdef0123456789abcdef", quiet=True)


def test_synchronous_false_returns_while_the_command_runs(store: Client,
                                                           tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    project = write_project(
        tmp_path / "p",
        'entry_points:\n  main:\n    command: "python wait.py"\n',
        {"wait.py": f"import pathlib, time\n"
                    f"while not pathlib.Path({str(gate)!r}).exists():\n"
                    f"    time.sleep(0.05)\n"})

    submitted = run(project, synchronous=False, quiet=True)

    # The command cannot end before the gate exists: the call returned while it ran.
    assert submitted.get_status() == "RUNNING"
    assert store.get_run(submitted.run_id).info.status == "RUNNING"
    gate.touch()
    assert submitted.wait() is True
    assert store.get_run(submitted.run_id).info.status == "FINISHED"


def test_a_failed_or_cancelled_background_run_ends_so_and_wait_says_false(
        store: Client, tmp_path: Path) -> None:
    project = write_project(
        tmp_path / "p",
        'entry_points:\n  fail:\n    command: "python -c \\"raise SystemExit(3)\\""\n'
        '  forever:\n    command: "python -c \\"import time; time.sleep(600)\\""\n', {})

    failed = run(project, "fail", synchronous=False, quiet=True)
    assert failed.wait() is False
    assert store.get_run(failed.run_id).info.status == "FAILED"
    assert "code 3" in str(failed.error)

    forever = run(project, "forever", synchronous=False, quiet=True)
    forever.cancel()
    assert forever.wait() is False
    assert store.get_run(forever.run_id).info.status == "KILLED"


# -- runs per thread ------------------------------------------------------------------------

def test_threads_start_and_end_their_own_runs_concurrently(fluent) -> None:
    errors: list[BaseException] = []
    started: dict[str, list[str]] = {}
    go = threading.Barrier(4)

    def worker(name: str) -> None:
        try:
            go.wait()
            for i in range(5):
                with fluent.start_run(run_name=f"{name}-{i}") as r:
                    fluent.log_metric("i", i)
                    assert fluent.active_run().info.run_id == r.info.run_id
                    started.setdefault(name, []).append(r.info.run_id)
        except BaseException as exc:
            errors.append(exc)

    with fluent.start_run(run_name="main") as main_run:
        threads = [threading.Thread(target=worker, args=(f"t{n}",)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        # The main thread's run is still the active one here, untouched by the workers.
        assert fluent.active_run().info.run_id == main_run.info.run_id

    assert errors == []
    c = fluent.Client(fluent.get_tracking_uri())
    ids = [i for names in started.values() for i in names]
    assert len(set(ids)) == 20
    for run_id in ids:
        got = c.get_run(run_id)
        assert got.info.status == "FINISHED"
        assert got.data.tags.get("mltrack.parentRunId") is None
    assert c.get_run(main_run.info.run_id).info.status == "FINISHED"


def test_a_worker_thread_logs_to_the_main_threads_run(fluent) -> None:
    with fluent.start_run() as main_run:
        worker = threading.Thread(target=lambda: fluent.log_metric("from_thread", 1.5))
        worker.start()
        worker.join()
        fluent.flush()
        assert fluent.get_run(main_run.info.run_id).data.metrics == {
            "from_thread": 1.5}


def test_starting_a_second_run_in_one_thread_still_needs_nested(fluent) -> None:
    with fluent.start_run():
        with pytest.raises(InvalidState, match="nested=True"):
            fluent.start_run()
        with fluent.start_run(nested=True) as child:
            assert fluent.active_run().info.run_id == child.info.run_id
