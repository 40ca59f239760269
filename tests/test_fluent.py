"""The module-level API (tracking/fluent.py), as a notebook or script uses it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType

import pandas as pd
import pytest

from jupyter_mltrack.entities import Metric, Run
from jupyter_mltrack.errors import InvalidParameter, InvalidState, RunNotFound
from jupyter_mltrack.tracking import context
from jupyter_mltrack.tracking import fluent as fluent_mod


def _db(folder: Path) -> str:
    return f"sqlite:///{(folder / '.mltrack' / 'mltrack.db').resolve()}"


# -- where runs go ---------------------------------------------------------------------


def test_default_store_is_created_in_the_working_folder(fluent: ModuleType,
                                                        tmp_path: Path) -> None:
    assert fluent.get_tracking_uri() == _db(tmp_path)
    with fluent.start_run() as run:
        fluent.log_param("p", 1)
        fluent.log_text("x", "x.txt")
    assert (tmp_path / ".mltrack" / "mltrack.db").is_file()
    artifact_uri = fluent.get_run(run.info.run_id).info.artifact_uri
    assert Path(artifact_uri).is_relative_to((tmp_path / ".mltrack" / "artifacts").resolve())
    assert (Path(artifact_uri) / "x.txt").read_text() == "x"


def test_the_nearest_store_upwards_is_used(fluent: ModuleType, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    project = tmp_path / "project"
    (project / ".mltrack").mkdir(parents=True)
    deep = project / "notebooks" / "week1"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)
    assert fluent.get_tracking_uri() == _db(project)
    with fluent.start_run():
        fluent.log_param("p", 1)
    assert not (deep / ".mltrack").exists()
    assert (project / ".mltrack" / "mltrack.db").is_file()


def test_env_var_and_set_tracking_uri_override(fluent: ModuleType, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLTRACK_TRACKING_URI", str(tmp_path / "from-env"))
    assert fluent.get_tracking_uri() == f"sqlite:///{tmp_path / 'from-env' / 'mltrack.db'}"
    fluent.set_tracking_uri(tmp_path / "explicit")
    assert fluent.get_tracking_uri() == f"sqlite:///{tmp_path / 'explicit' / 'mltrack.db'}"
    with fluent.start_run() as run:
        pass
    assert (tmp_path / "explicit" / "mltrack.db").is_file()
    assert not (tmp_path / "from-env").exists()
    fluent.set_tracking_uri(None)
    assert "from-env" in fluent.get_tracking_uri()
    with pytest.raises(RunNotFound):  # a different store now
        fluent.get_run(run.info.run_id)


def test_switching_stores_flushes_the_old_one(fluent: ModuleType, tmp_path: Path) -> None:
    fluent.set_tracking_uri(tmp_path / "one")
    run = fluent.start_run()
    for i in range(100):
        fluent.log_metric("x", i)
    fluent.set_tracking_uri(tmp_path / "two")
    from jupyter_mltrack import Client

    history = Client(tmp_path / "one").get_metric_history(run.info.run_id, "x")
    assert len(history) == 100


# -- experiments -----------------------------------------------------------------------


def test_set_experiment(fluent: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    exp = fluent.set_experiment("mnist")
    assert exp.name == "mnist" and fluent.get_experiment_id() == exp.experiment_id
    assert fluent.set_experiment("mnist").experiment_id == exp.experiment_id  # reused
    assert fluent.set_experiment(experiment_id=exp.experiment_id).name == "mnist"
    with fluent.start_run() as run:
        pass
    assert run.info.experiment_id == exp.experiment_id
    with pytest.raises(InvalidParameter, match="experiment_name or experiment_id"):
        fluent.set_experiment()
    other = fluent.create_experiment("gone")
    fluent.delete_experiment(other)
    with pytest.raises(InvalidState, match="restore"):
        fluent.set_experiment("gone")
    with pytest.raises(InvalidState, match="restore"):
        fluent.set_experiment(experiment_id=other)
    assert [e.name for e in fluent.search_experiments()] == ["mnist"]
    assert fluent.get_experiment_by_name("gone").lifecycle_stage == "deleted"
    assert fluent.get_experiment(other).name == "gone"


def test_default_experiment_and_env(fluent: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    with fluent.start_run() as run:
        pass
    assert fluent.get_experiment(run.info.experiment_id).name == "Default"
    fluent.set_tracking_uri(None)  # forget the current experiment
    monkeypatch.setenv("MLTRACK_EXPERIMENT_NAME", "from-env")
    with fluent.start_run() as run:
        pass
    assert fluent.get_experiment(run.info.experiment_id).name == "from-env"


# -- runs ------------------------------------------------------------------------------


def test_start_run_as_context_manager(fluent: ModuleType) -> None:
    assert fluent.active_run() is None and fluent.last_active_run() is None
    with fluent.start_run(run_name="first", tags={"team": "vision"},
                          description="a note") as run:
        assert fluent.active_run() is run
        assert isinstance(run, Run)
        fluent.log_metric("loss", 0.5)
    assert fluent.active_run() is None
    stored = fluent.last_active_run()
    assert stored is not None and stored.info.run_id == run.info.run_id
    assert stored.info.status == "FINISHED" and stored.info.end_time is not None
    assert stored.info.run_name == "first"
    tags = stored.data.tags
    assert tags["team"] == "vision" and tags[context.NOTE] == "a note"
    assert tags[context.USER] == "tester" and tags[context.PYTHON]
    assert context.HOST in tags
    assert stored.data.metrics == {"loss": 0.5}


def test_an_exception_fails_the_run_with_its_traceback(fluent: ModuleType) -> None:
    with pytest.raises(ValueError, match="boom"):
        with fluent.start_run() as run:
            fluent.log_metric("x", 1.0)
            raise ValueError("boom")
    stored = fluent.get_run(run.info.run_id)
    assert stored.info.status == "FAILED"
    assert "ValueError: boom" in stored.data.tags["mltrack.error"]
    assert "Traceback" in stored.data.tags["mltrack.error"]
    assert stored.data.metrics == {"x": 1.0}
    assert fluent.active_run() is None


def test_keyboard_interrupt_kills_the_run(fluent: ModuleType) -> None:
    with pytest.raises(KeyboardInterrupt):
        with fluent.start_run() as run:
            raise KeyboardInterrupt
    assert fluent.get_run(run.info.run_id).info.status == "KILLED"
    assert fluent.active_run() is None


def test_nested_runs(fluent: ModuleType) -> None:
    with fluent.start_run() as parent:
        with pytest.raises(InvalidState, match="nested=True"):
            fluent.start_run()
        with fluent.start_run(nested=True) as child:
            assert fluent.active_run() is child
            with fluent.start_run(nested=True) as grandchild:
                fluent.log_param("depth", 2)
        assert fluent.active_run() is parent
    for run, parent_id in ((child, parent.info.run_id), (grandchild, child.info.run_id)):
        stored = fluent.get_run(run.info.run_id)
        assert stored.info.parent_run_id == parent_id
        assert stored.data.tags[context.PARENT_RUN] == parent_id
        assert stored.info.status == "FINISHED"
    assert fluent.get_run(parent.info.run_id).info.parent_run_id is None
    found = fluent.search_runs(filter_string=f"attributes.parent_run_id = '{parent.info.run_id}'",
                               output_format="list")
    assert [r.info.run_id for r in found] == [child.info.run_id]


def test_leaving_a_with_block_ends_the_children_left_open(fluent: ModuleType) -> None:
    with fluent.start_run() as parent:
        child = fluent.start_run(nested=True)  # never ended by the user
    assert fluent.active_run() is None
    assert fluent.get_run(parent.info.run_id).info.status == "FINISHED"
    assert fluent.get_run(child.info.run_id).info.status == "FINISHED"
    with fluent.start_run() as run:  # the next run starts normally
        pass
    assert run.info.parent_run_id is None


def test_resume_a_run_by_id(fluent: ModuleType) -> None:
    with fluent.start_run() as run:
        fluent.log_param("lr", 0.1)
        fluent.log_metric("loss", 1.0)
    with fluent.start_run(run_id=run.info.run_id) as again:
        assert again.info.run_id == run.info.run_id
        assert again.info.status == "RUNNING" and again.info.end_time is None
        fluent.log_param("lr", 0.1)  # same value: fine
        fluent.log_metric("loss", 0.5)
    stored = fluent.get_run(run.info.run_id)
    assert stored.info.status == "FINISHED"
    assert stored.data.params == {"lr": "0.1"}
    assert [m.value for m in fluent.get_metric_history(run.info.run_id, "loss")] == [1.0, 0.5]
    with pytest.raises(RunNotFound):
        fluent.start_run(run_id="0" * 32)


def test_end_run(fluent: ModuleType) -> None:
    fluent.end_run()  # nothing active: nothing to do
    run = fluent.start_run()
    fluent.end_run("KILLED")
    assert fluent.active_run() is None
    assert fluent.get_run(run.info.run_id).info.status == "KILLED"


def test_logging_without_a_run_starts_one(fluent: ModuleType) -> None:
    fluent.log_param("p", 1)
    run = fluent.active_run()
    assert run is not None
    fluent.log_metric("m", 2)
    fluent.end_run()
    stored = fluent.get_run(run.info.run_id)
    assert stored.data.params == {"p": "1"} and stored.data.metrics == {"m": 2.0}


# -- logging ---------------------------------------------------------------------------


def test_logging_calls(fluent: ModuleType, tmp_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.csv").write_text("a\n1\n")
    with fluent.start_run() as run:
        assert fluent.log_param("lr", 0.01) == 0.01
        fluent.log_params({"layers": [64, 32], "opt": "adam"})
        fluent.set_tag("stage", "dev")
        fluent.set_tags({"stage": "prod", "owner": "me"})
        fluent.log_metric("loss", 0.9)  # auto step 0
        fluent.log_metric("loss", 0.7)  # auto step 1
        fluent.log_metric("loss", 0.5, step=10, timestamp=1234)
        fluent.log_metrics({"acc": 0.8, "f1": 0.6}, step=3)
        fluent.log_batch(metrics=[Metric("b", 1.0, 5, 2)], params={"bp": 1}, tags={"bt": "x"})
        fluent.log_artifact(tmp_path / "data" / "a.csv", "tables")
        fluent.log_artifacts(tmp_path / "data", "all")
        fluent.log_text("hello", "notes/hello.txt")
        fluent.log_dict({"k": 1}, "cfg.json")
        fig, ax = plt.subplots()
        ax.plot([1, 2])
        fluent.log_figure(fig, "fig.png")
        plt.close(fig)
        assert fluent.get_artifact_uri() == run.info.artifact_uri
        assert fluent.get_artifact_uri("notes/hello.txt") == \
            run.info.artifact_uri + "/notes/hello.txt"
        fluent.flush()
    stored = fluent.get_run(run.info.run_id)
    assert stored.data.params == {"lr": "0.01", "layers": "[64, 32]", "opt": "adam", "bp": "1"}
    assert stored.data.tags["stage"] == "prod" and stored.data.tags["bt"] == "x"
    assert stored.data.metrics == {"loss": 0.5, "acc": 0.8, "f1": 0.6, "b": 1.0}
    history = fluent.get_metric_history(run.info.run_id, "loss")
    assert [(m.step, m.value) for m in history] == [(0, 0.9), (1, 0.7), (10, 0.5)]
    assert history[-1].timestamp == 1234
    frame = fluent.get_metric_history(run.info.run_id, "loss", as_frame=True)
    assert isinstance(frame, pd.DataFrame) and frame["step"].tolist() == [0, 1, 10]
    artifacts = Path(run.info.artifact_uri)
    assert (artifacts / "tables" / "a.csv").read_text() == "a\n1\n"
    assert (artifacts / "all" / "a.csv").is_file()
    assert (artifacts / "notes" / "hello.txt").read_text() == "hello"
    assert json.loads((artifacts / "cfg.json").read_text()) == {"k": 1}
    assert (artifacts / "fig.png").read_bytes().startswith(b"\x89PNG")


def test_validation_errors_reach_the_caller(fluent: ModuleType) -> None:
    with fluent.start_run() as run:
        with pytest.raises(InvalidParameter, match="not allowed"):
            fluent.log_metric("bad|key", 1.0)
        with pytest.raises(InvalidParameter, match="metrics are numbers"):
            fluent.log_metric("m", "0.5")
        with pytest.raises(InvalidParameter, match="limit is 8000"):
            fluent.log_param("p", "x" * 9000)
        with pytest.raises(InvalidParameter, match="relative path inside"):
            fluent.log_text("x", "../escape.txt")
        fluent.log_param("lr", 1)
        with pytest.raises(InvalidParameter, match="immutable"):
            fluent.log_param("lr", 2)
    assert fluent.get_run(run.info.run_id).info.status == "FINISHED"


# -- reading ---------------------------------------------------------------------------


def test_search_runs(fluent: ModuleType) -> None:
    fluent.set_experiment("a")
    for lr in (0.1, 0.01):
        with fluent.start_run():
            fluent.log_param("lr", lr)
            fluent.log_metric("acc", 1 - lr)
    fluent.set_experiment("b")
    with fluent.start_run(run_name="in-b"):
        fluent.log_param("lr", 0.5)
    frame = fluent.search_runs()  # the current experiment
    assert isinstance(frame, pd.DataFrame)
    assert frame["run_name"].tolist() == ["in-b"]
    frame = fluent.search_runs(experiment_names=["a"], order_by="metrics.acc DESC")
    assert frame["params.lr"].tolist() == ["0.01", "0.1"]
    assert frame["metrics.acc"].tolist() == [0.99, 0.9]
    runs = fluent.search_runs(search_all_experiments=True, filter_string="params.lr < 0.2",
                              output_format="list")
    assert sorted(r.data.params["lr"] for r in runs) == ["0.01", "0.1"]
    exp_a = fluent.get_experiment_by_name("a").experiment_id
    assert len(fluent.search_runs(experiment_ids=exp_a)) == 2
    assert len(fluent.search_runs(experiment_ids=[exp_a], max_results=1)) == 1
    with pytest.raises(InvalidParameter, match="'pandas' or 'list'"):
        fluent.search_runs(output_format="json")


def test_delete_and_restore_runs(fluent: ModuleType) -> None:
    with fluent.start_run() as run:
        pass
    fluent.delete_run(run.info.run_id)
    assert fluent.search_runs(output_format="list") == []
    assert len(fluent.search_runs(run_view_type="deleted_only", output_format="list")) == 1
    fluent.restore_run(run.info.run_id)
    assert len(fluent.search_runs(output_format="list")) == 1


# -- process exit ----------------------------------------------------------------------

_SCRIPT = textwrap.dedent("""
    import sys
    import jupyter_mltrack as mltrack

    mltrack.set_tracking_uri(sys.argv[1])
    run = mltrack.start_run()
    print(run.info.run_id, flush=True)
    for i in range(500):
        mltrack.log_metric("x", i)
    if sys.argv[2] == "error":
        raise ValueError("boom at the end")
    if sys.argv[2] == "interrupt":
        raise KeyboardInterrupt
""")


@pytest.mark.slow
@pytest.mark.parametrize(("mode", "status", "code"), [("ok", "FINISHED", 0),
                                                      ("error", "FAILED", 1),
                                                      ("interrupt", "KILLED", None)])
def test_runs_still_active_at_exit_are_ended(fluent: ModuleType, tmp_path: Path, mode: str,
                                             status: str, code: int | None) -> None:
    script = tmp_path / "script.py"
    script.write_text(_SCRIPT)
    proc = subprocess.run([sys.executable, str(script), str(tmp_path / "store"), mode],
                          capture_output=True, text=True, timeout=120,
                          env={k: v for k, v in os.environ.items()
                               if k != "MLTRACK_TRACKING_URI"})
    if code is not None:
        assert proc.returncode == code, proc.stderr
    else:
        assert proc.returncode != 0
    assert "could not store" not in proc.stderr
    run_id = proc.stdout.strip()
    fluent.set_tracking_uri(tmp_path / "store")
    stored = fluent.get_run(run_id)
    assert stored.info.status == status
    assert len(fluent.get_metric_history(run_id, "x")) == 500
    if mode == "error":
        assert "ValueError: boom at the end" in stored.data.tags["mltrack.error"]


def test_module_state_is_reset_between_tests(fluent: ModuleType) -> None:
    # The fixture leaves no active run and no store behind (guards the other tests).
    assert fluent_mod._all_active() == [] and fluent_mod._client is None
