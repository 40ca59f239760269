"""The tracking commands of the ``mltrack`` CLI (cli/__init__.py, cli/tracking.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from jupyter_mltrack import Client
from jupyter_mltrack.cli import main
from tests.fresh import fresh_stdout


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def _run(runner: CliRunner, uri: str, *args: str, code: int = 0) -> Result:
    result = runner.invoke(main, ["--tracking-uri", uri, *args])
    if code == 0 and result.exception is not None and not isinstance(result.exception,
                                                                      SystemExit):
        raise result.exception
    assert result.exit_code == code, result.output
    return result


@pytest.fixture
def populated(client: Client) -> dict[str, str]:
    exp = client.create_experiment("sweep")
    ids = {}
    for i, lr in enumerate([0.1, 0.01, 0.001]):
        run_id = client.create_run(exp, run_name=f"run-{i}", start_time=1_700_000_000_000 + i
                                   ).info.run_id
        client.log_params(run_id, {"lr": lr})
        client.log_metrics(run_id, {"acc": 1 - lr, "loss": lr})
        client.set_tag(run_id, "team", "vision")
        client.log_text(run_id, "x", "notes.txt")
        client.set_terminated(run_id, end_time=1_700_000_001_500 + i)
        ids[f"run-{i}"] = run_id
    return ids


def test_experiments_commands(runner: CliRunner, tracking_uri: str) -> None:
    out = _run(runner, tracking_uri, "experiments", "create", "mnist").output
    assert "Created experiment 'mnist' with id 1." in out
    created = json.loads(_run(runner, tracking_uri, "experiments", "create", "cifar",
                              "--json").output)
    assert created == {"id": "2", "name": "cifar"}
    table = _run(runner, tracking_uri, "experiments", "list").output.splitlines()
    assert table[0].split() == ["ID", "NAME", "LIFECYCLE", "CREATED"]
    assert [line.split()[1] for line in table[1:]] == ["mnist", "cifar"]
    _run(runner, tracking_uri, "experiments", "delete", "mnist")
    listed = json.loads(_run(runner, tracking_uri, "experiments", "list", "--json").output)
    assert [e["name"] for e in listed] == ["cifar"]
    assert set(listed[0]) == {"id", "name", "lifecycle", "created", "artifact_location"}
    listed = json.loads(_run(runner, tracking_uri, "experiments", "list", "--all",
                             "--json").output)
    assert [(e["name"], e["lifecycle"]) for e in listed] == [("mnist", "deleted"),
                                                            ("cifar", "active")]
    out = _run(runner, tracking_uri, "experiments", "restore", "1").output
    assert "Restored experiment '1' (id 1)." in out
    err = _run(runner, tracking_uri, "experiments", "create", "mnist", code=1).output
    assert err.startswith("Error: ") and "exists already" in err
    err = _run(runner, tracking_uri, "experiments", "delete", "nope", code=1).output
    assert "No experiment named or numbered 'nope'" in err


def test_runs_list(runner: CliRunner, tracking_uri: str, populated: dict[str, str],
                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    table = _run(runner, tracking_uri, "runs", "list").output.splitlines()
    assert table[0].split() == ["RUN_ID", "NAME", "STATUS", "START", "DURATION_S", "params.lr",
                                "metrics.acc", "metrics.loss"]
    assert [line.split()[1] for line in table[1:]] == ["run-2", "run-1", "run-0"]
    assert table[1].split()[0] == populated["run-2"][:8]
    assert table[1].split()[2] == "FINISHED" and "1.5" in table[1].split()
    assert table[1].split()[-3:] == ["0.001", "0.999", "0.001"]
    rows = json.loads(_run(runner, tracking_uri, "runs", "list", "--json", "-e", "sweep",
                           "--filter", "params.lr < 0.05", "--order-by",
                           "metrics.acc ASC").output)
    assert [r["name"] for r in rows] == ["run-1", "run-2"]
    assert rows[0]["params"] == {"lr": "0.01"} and rows[0]["metrics"]["acc"] == 0.99
    assert rows[0]["tags"]["team"] == "vision" and rows[0]["duration_s"] == 1.5
    assert rows[0]["run_id"] == populated["run-1"]
    rows = json.loads(_run(runner, tracking_uri, "runs", "list", "--json", "--max-results",
                           "1").output)
    assert [r["name"] for r in rows] == ["run-2"]
    out = _run(runner, tracking_uri, "runs", "list", "--filter", "metrics.acc > 5").output
    assert out.strip() == "(none)"


def test_runs_list_columns_and_terminal_width(runner: CliRunner, tracking_uri: str,
                                              client: Client,
                                              populated: dict[str, str]) -> None:
    table = _run(runner, tracking_uri, "runs", "list", "--columns",
                 "name,params.lr,metrics.acc,tags.team").output.splitlines()
    assert table[0].split() == ["NAME", "params.lr", "metrics.acc", "tags.team"]
    assert table[1].split() == ["run-2", "0.001", "0.999", "vision"]
    rows = json.loads(_run(runner, tracking_uri, "runs", "list", "--columns", "name,metrics.acc",
                           "--json").output)
    assert rows[0] == {"name": "run-2", "metrics.acc": 0.999}
    bad = _run(runner, tracking_uri, "runs", "list", "--columns", "name,accuracy", code=2)
    assert "accuracy" in bad.output and "params.<key>" in bad.output
    # Many params: the default table keeps to the terminal's width and says what it left out.
    run_id = populated["run-2"]
    client.log_params(run_id, {f"option_{i:02d}": "some-long-value" for i in range(12)})
    result = runner.invoke(main, ["--tracking-uri", tracking_uri, "runs", "list"],
                           env={"COLUMNS": "100"})
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert max(len(line) for line in lines) <= 100
    assert "metrics.acc" in lines[0]
    assert lines[-1].startswith("(") and "more columns" in lines[-1] and "--columns" in lines[-1]
    wide = runner.invoke(main, ["--tracking-uri", tracking_uri, "runs", "list"],
                         env={"COLUMNS": "400"})
    assert "params.option_11" in wide.output and "more columns" not in wide.output


def test_runs_are_found_by_unique_id_prefix_and_name(runner: CliRunner, tracking_uri: str,
                                                     client: Client,
                                                     populated: dict[str, str]) -> None:
    run_id = populated["run-0"]
    for ref in (run_id[:8], run_id[:4], "run-0", run_id.upper()[:6]):
        shown = json.loads(_run(runner, tracking_uri, "runs", "show", ref, "--json").output)
        assert shown["run_id"] == run_id, ref
    short = _run(runner, tracking_uri, "runs", "show", run_id[:3], code=1).output
    assert "No run has the id, id prefix or name" in short and "4 characters" in short
    # A name two runs share is refused, listing both.
    twin = client.create_run(client.resolve_experiment_id("sweep"), run_name="run-0").info.run_id
    err = _run(runner, tracking_uri, "runs", "show", "run-0", code=1).output
    assert "2 runs match 'run-0'" in err and run_id[:8] in err and twin[:8] in err
    assert "Traceback" not in err
    _run(runner, tracking_uri, "runs", "delete", run_id[:8])
    assert client.get_run(run_id).info.lifecycle_stage == "deleted"
    # Now only one active run is named run-0; restore finds the deleted one by prefix.
    _run(runner, tracking_uri, "runs", "delete", "run-0")
    assert client.get_run(twin).info.lifecycle_stage == "deleted"
    _run(runner, tracking_uri, "runs", "restore", twin[:6])
    assert client.get_run(twin).info.lifecycle_stage == "active"
    out = _run(runner, tracking_uri, "gc", "--run-id", run_id[:8]).output
    assert run_id in out


def test_runs_show_indents_multi_line_values(runner: CliRunner, tracking_uri: str,
                                             client: Client,
                                             populated: dict[str, str]) -> None:
    run_id = populated["run-0"]
    client.set_tag(run_id, "notes", "first line\nsecond line\n  indented")
    out = _run(runner, tracking_uri, "runs", "show", run_id).output.splitlines()
    at = out.index("  notes =")
    assert out[at + 1:at + 4] == ["      first line", "      second line", "        indented"]
    assert out[at + 4].startswith("  team = ")


@pytest.mark.parametrize(("args", "command", "python"), [
    (["models", "promote", "churn", "7"], "mltrack models list churn", "search_model_versions("),
    (["models", "history", "nope"], "mltrack models register MODEL_URI nope",
     "register_model("),
    (["experiments", "delete", "nope"], "mltrack experiments create NAME", "create_experiment("),
    (["experiments", "create", "sweep"], "mltrack experiments list", "set_experiment("),
    (["runs", "show", "nope"], "mltrack runs list", "search_runs("),
    (["models", "approve", "99"], "mltrack models requests", "transition_requests("),
])
def test_error_hints_name_the_mltrack_command(runner: CliRunner, tracking_uri: str,
                                              client: Client, populated: dict[str, str],
                                              args: list[str], command: str,
                                              python: str) -> None:
    from jupyter_mltrack import registry as r
    from tests.registry_helpers import log_run

    run_id = log_run(client, client.resolve_experiment_id("sweep"))
    r.register_model(f"runs:/{run_id}/model", "churn", client=client)
    err = _run(runner, tracking_uri, *args, code=1).output
    assert f"`{command}`" in err, err
    assert python not in err, err


def test_runs_show_delete_restore(runner: CliRunner, tracking_uri: str,
                                  populated: dict[str, str]) -> None:
    run_id = populated["run-0"]
    out = _run(runner, tracking_uri, "runs", "show", run_id).output
    assert f"run_id:        {run_id}" in out
    assert "status:        FINISHED" in out
    assert "  lr = 0.1" in out and "  acc = 0.9" in out and "  team = vision" in out
    shown = json.loads(_run(runner, tracking_uri, "runs", "show", run_id, "--json").output)
    assert shown["run_id"] == run_id and shown["params"] == {"lr": "0.1"}
    assert shown["lifecycle"] == "active"
    out = _run(runner, tracking_uri, "runs", "delete", run_id, populated["run-1"]).output
    assert out.count("Deleted run") == 2
    rows = json.loads(_run(runner, tracking_uri, "runs", "list", "--json").output)
    assert [r["name"] for r in rows] == ["run-2"]
    rows = json.loads(_run(runner, tracking_uri, "runs", "list", "--deleted", "--json").output)
    assert sorted(r["name"] for r in rows) == ["run-0", "run-1"]
    _run(runner, tracking_uri, "runs", "restore", run_id)
    rows = json.loads(_run(runner, tracking_uri, "runs", "list", "--json").output)
    assert sorted(r["name"] for r in rows) == ["run-0", "run-2"]


def test_gc_removes_deleted_runs_and_artifacts(runner: CliRunner, tracking_uri: str,
                                               client: Client,
                                               populated: dict[str, str]) -> None:
    gone, kept = populated["run-0"], populated["run-1"]
    gone_dir = Path(client.get_run(gone).info.artifact_uri)
    assert (gone_dir / "notes.txt").is_file()
    err = _run(runner, tracking_uri, "gc", "--run-id", gone, code=1).output
    assert "is not deleted; delete it first" in err
    _run(runner, tracking_uri, "runs", "delete", gone)
    removed = json.loads(_run(runner, tracking_uri, "gc", "--older-than", "3600",
                              "--json").output)
    assert removed == {"removed": []}
    out = _run(runner, tracking_uri, "gc").output
    assert "Removed 1 deleted run(s) permanently." in out and gone in out
    assert not gone_dir.exists()
    err = _run(runner, tracking_uri, "runs", "show", gone, code=1).output
    assert f"No run with id '{gone}'" in err
    assert (Path(client.get_run(kept).info.artifact_uri) / "notes.txt").is_file()


def test_errors_are_one_clear_line_and_exit_1(runner: CliRunner, tracking_uri: str,
                                              populated: dict[str, str]) -> None:
    result = _run(runner, tracking_uri, "runs", "list", "--filter", "metrics.acc >> 1", code=1)
    assert result.output.startswith("Error: Expected a number")
    assert "^" in result.output and "Traceback" not in result.output
    assert "Traceback" not in _run(runner, tracking_uri, "runs", "show", "f" * 32,
                                   code=1).output
    _run(runner, tracking_uri, "runs", "delete", "nope", code=1)
    _run(runner, tracking_uri, "runs", "list", "-e", "nope", code=1)
    _run(runner, tracking_uri, "runs", "list", "--order-by", "sideways", code=1)
    _run(runner, tracking_uri, "runs", "list", "--max-results", "0", code=1)
    # Usage errors are click's: exit 2.
    _run(runner, tracking_uri, "runs", "list", "--max-results", "many", code=2)
    _run(runner, tracking_uri, "runs", "show", code=2)
    _run(runner, tracking_uri, "nonsense", code=2)


def test_init_and_the_default_store(runner: CliRunner, tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    project = tmp_path / "project"
    project.mkdir()
    monkeypatch.chdir(project)
    monkeypatch.delenv("MLTRACK_TRACKING_URI", raising=False)
    result = runner.invoke(main, ["init"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"Created store {project.resolve() / '.mltrack'}"
    assert (project / ".mltrack" / "mltrack.db").is_file()
    result = runner.invoke(main, ["init", "."])
    assert result.output.startswith("Found store")
    # Commands run below the project find its store without --tracking-uri.
    sub = project / "notebooks"
    sub.mkdir()
    monkeypatch.chdir(sub)
    assert runner.invoke(main, ["experiments", "create", "here"]).exit_code == 0
    assert not (sub / ".mltrack").exists()
    assert Client(project / ".mltrack").get_experiment_by_name("here") is not None
    other = tmp_path / "other"
    assert runner.invoke(main, ["init", str(other)]).exit_code == 0
    assert (other / ".mltrack" / "mltrack.db").is_file()


def test_tracking_uri_from_the_environment(runner: CliRunner, tmp_path: Path) -> None:
    folder = tmp_path / "envstore"
    result = runner.invoke(main, ["experiments", "create", "e"],
                           env={"MLTRACK_TRACKING_URI": str(folder)})
    assert result.exit_code == 0, result.output
    assert (folder / "mltrack.db").is_file()


def test_version(runner: CliRunner) -> None:
    from jupyter_mltrack import __version__

    result = runner.invoke(main, ["--version"])
    assert result.exit_code == 0 and __version__ in result.output


def test_hints_of_errors_from_the_python_api(client: Client,
                                             populated: dict[str, str]) -> None:
    """Errors the API raises with a Python hint read as commands once the CLI prints them."""
    from jupyter_mltrack import registry as r
    from jupyter_mltrack.cli.hints import shell_hints
    from jupyter_mltrack.errors import MLTrackError

    run_id = populated["run-0"]
    client.delete_run(run_id)
    with pytest.raises(MLTrackError) as deleted:
        client.resume_run(run_id)
    assert "restore_run()" in str(deleted.value)
    assert f"restore it with `mltrack runs restore {run_id[:8]}`" in shell_hints(
        str(deleted.value))
    r.create_registered_model("taken", client=client)
    with pytest.raises(MLTrackError) as taken:
        r.create_registered_model("taken", client=client)
    assert "with `mltrack models register`" in shell_hints(str(taken.value))
    quoted = "'it'\"'\"'s'"  # the shell's quoting of it's
    with pytest.raises(MLTrackError) as no_model:
        r.get_model_version("it's", 3, client=client)
    assert f"`mltrack models register MODEL_URI {quoted}`" in shell_hints(str(no_model.value))
    r.create_registered_model("it's", client=client)
    with pytest.raises(MLTrackError) as no_version:
        r.get_model_version("it's", 3, client=client)
    assert f"`mltrack models list {quoted}`" in shell_hints(str(no_version.value))


def test_serve_command_resolves_without_the_store_stack() -> None:
    """``mltrack models serve -m FOLDER`` starts on the CLI alone: finding the command
    loads no registry, tracking client, store, server or model code (a ``models:/`` or
    ``runs:/`` URI loads them when the command runs)."""
    code = (
        "import sys, click\n"
        "from jupyter_mltrack.cli import main\n"
        "ctx = click.Context(main)\n"
        "serve = main.get_command(ctx, 'models').get_command(ctx, 'serve')\n"
        "heavy = ('registry', 'tracking', 'store', 'server', 'models', 'artifacts')\n"
        "print(serve.name, sorted(m for m in sys.modules if m.split('.')[:2][-1] in heavy\n"
        "                         and m.startswith('jupyter_mltrack.')))\n"
    )
    out = fresh_stdout(code)
    assert out == "serve []"
