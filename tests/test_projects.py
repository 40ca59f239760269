"""Projects: the MLproject format, typed parameters, `mltrack run` of script projects,
environments that cannot run here, and the environment every run stores."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from jupyter_mltrack import Client, ExecutionFailed, InvalidProject
from jupyter_mltrack.cli import main
from jupyter_mltrack.projects import load_project, run
from jupyter_mltrack.projects import tags as T
from jupyter_mltrack.tracking import environment

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "sklearn_diabetes"
REPO_ROOT = str(Path(__file__).resolve().parents[1])

# A project file written the way MLflow's multi-step examples are: several entry points,
# typed parameters (int, float, string), commands folded over several lines, and YAML
# numbers such as `1e-1` (a string to YAML 1.1) and `.0` (a float).
SEARCH_MLPROJECT = '''\
name: IrisBoostingSearch

conda_env: environment.yaml

entry_points:
  # one boosted-tree classifier on the iris measurements
  fit:
    parameters:
      table: {type: string, default: "../shared/iris.csv"}
      rounds: {type: int, default: 40}
      depth: {type: int, default: 3}
      shrinkage: {type: float, default: 1e-1}
      dropout: {type: float, default: .0}
      seed: {type: int, default: 2024}
    command: "python fit.py {table}
                --rounds {rounds}
                --depth {depth}
                --shrinkage {shrinkage}
                --dropout {dropout}"

  # a handful of fit runs with settings drawn at random
  sweep:
    parameters:
      table: {type: string, default: "../shared/iris.csv"}
      trials: {type: int, default: 6}
      rounds: {type: int, default: 40}
      objective: {type: string, default: "log_loss"}
      seed: {type: int, default: 2024}
      into_experiment: {type: string, default: ""}
    command: "python sweep.py {table}
                --trials {trials}
                --rounds {rounds}
                --objective {objective}
                --seed {seed}
                --into-experiment {into_experiment}"
'''


def child_env() -> dict[str, str]:
    """Scripts started by the runner import this checkout of jupyter_mltrack."""
    path = os.environ.get("PYTHONPATH", "")
    return {"PYTHONPATH": REPO_ROOT + (os.pathsep + path if path else "")}


@pytest.fixture
def store(tracking_uri: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    import jupyter_mltrack as mltrack
    from tests.conftest import _reset_fluent

    monkeypatch.chdir(tmp_path)
    for key, value in child_env().items():
        monkeypatch.setenv(key, value)
    _reset_fluent()
    mltrack.set_tracking_uri(tracking_uri)
    yield Client(tracking_uri)
    _reset_fluent()


def write_project(folder: Path, mlproject: str, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "MLproject").write_text(mlproject)
    for name, text in files.items():
        (folder / name).write_text(textwrap.dedent(text))
    return folder


# -- the project file -----------------------------------------------------------------------

def test_the_example_project_has_typed_entry_points_and_a_notebook() -> None:
    project = load_project(EXAMPLE)
    assert project.name == "sklearn_diabetes"
    assert project.env_type == "python_env"
    assert project.env_file == EXAMPLE / "python_env.yaml"
    assert set(project.entry_points) == {"main", "validate", "explore"}
    main_point = project.entry_point("main")
    assert {n: (p.type, p.default) for n, p in main_point.parameters.items()} == {
        "alpha": ("float", "0.5"), "l1_ratio": ("float", "0.1"), "seed": ("int", "42")}
    assert project.entry_point("explore").notebook == "explore.ipynb"


def test_a_multi_entry_point_mlproject_resolves_as_mlflow_does(tmp_path: Path) -> None:
    folder = write_project(tmp_path / "search", SEARCH_MLPROJECT,
                           {"environment.yaml": "dependencies: [python=3.10, {pip: [mlflow]}]\n"})
    project = load_project(folder)
    assert project.name == "IrisBoostingSearch"
    assert project.env_type == "conda_env"
    assert set(project.entry_points) == {"fit", "sweep"}
    fit = project.entry_point("fit")
    values, extra = fit.resolve({"rounds": "8", "seed": 5}, folder)
    assert values["shrinkage"] == "1e-1" and values["dropout"] == "0.0"
    assert values["seed"] == "5" and extra == {}
    command = fit.shell_command(values, extra)
    assert command == ("python fit.py ../shared/iris.csv "
                       "--rounds 8 --depth 3 --shrinkage 1e-1 --dropout 0.0")
    sweep = project.entry_point("sweep")
    values, extra = sweep.resolve({"trials": "3", "note": "two words"}, folder)
    assert sweep.shell_command(values, extra).endswith(
        "--seed 2024 --into-experiment '' --note 'two words'")


def test_values_are_shell_quoted_and_extras_appended(tmp_path: Path) -> None:
    folder = write_project(tmp_path / "p", 'entry_points:\n  main:\n    parameters:\n'
                           '      name: string\n    command: "python x.py {name}"\n', {})
    point = load_project(folder).entry_point("main")
    values, extra = point.resolve({"name": "a b; rm -rf /", "x;y": "$(id)"}, folder)
    assert point.shell_command(values, extra) == \
        "python x.py 'a b; rm -rf /' --'x;y' '$(id)'"


def test_a_multi_line_command_runs_as_bash_reads_it(store: Client, tmp_path: Path) -> None:
    """Block commands with backslash continuations, as MLflow projects write them; a
    value's inner spaces survive."""
    folder = write_project(tmp_path / "multi", (
        "entry_points:\n"
        "  main:\n"
        "    parameters:\n"
        "      rate: {type: float, default: 0.1}\n"
        "      label: {type: string, default: 'a   b'}\n"
        "    command: |\n"
        "      python show.py \\\n"
        "        --rate={rate} \\\n"
        "        --label={label}\n"), {"show.py": (
        "import argparse, jupyter_mltrack as m\n"
        "p = argparse.ArgumentParser(); p.add_argument('--rate', type=float)\n"
        "p.add_argument('--label'); a = p.parse_args()\n"
        "m.log_metric('rate', a.rate); m.set_tag('label', a.label)\n")})
    done = run(folder, parameters={"rate": "0.25"}, quiet=True)
    stored = store.get_run(done.run_id)
    assert stored.info.status == "FINISHED"
    assert stored.data.metrics == {"rate": 0.25}
    assert stored.data.tags["label"] == "a   b"


@pytest.mark.parametrize(("kind", "value", "words"), [
    ("float", "abc", ["'alpha'", "float", "'abc'", "-P alpha=0.5"]),
    ("int", "1.5", ["'alpha'", "int", "'1.5'", "whole number"]),
    ("uri", "data/x.csv", ["'alpha'", "uri", "no scheme"]),
    ("path", "missing.csv", ["'alpha'", "path", "does not exist"]),
])
def test_a_value_of_the_wrong_type_is_refused(tmp_path: Path, kind: str, value: str,
                                               words: list[str]) -> None:
    folder = write_project(tmp_path / "p", f'entry_points:\n  main:\n    parameters:\n'
                           f'      alpha: {kind}\n    command: "echo {{alpha}}"\n', {})
    point = load_project(folder).entry_point("main")
    with pytest.raises(InvalidProject) as info:
        point.resolve({"alpha": value}, folder)
    for word in words:
        assert word in str(info.value)


def test_paths_become_absolute_and_missing_values_are_listed(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    folder = write_project(tmp_path / "p", 'entry_points:\n  main:\n    parameters:\n'
                           '      data: path\n      n: int\n'
                           '    command: "cat {data}"\n', {"d.csv": "x\n"})
    monkeypatch.chdir(folder)
    point = load_project(folder).entry_point("main")
    values, _ = point.resolve({"data": "d.csv", "n": "3"}, folder)
    assert values["data"] == str(folder / "d.csv")
    with pytest.raises(InvalidProject, match=r"required parameters 'data', 'n'.*-P data=\.\.\."):
        point.resolve({}, folder)


@pytest.mark.parametrize(("text", "message"), [
    ("entry_points:\n  main:\n    parameters: {a: {type: bool}}\n    command: x\n",
     "type 'bool'; use one of string, float, int, path, uri"),
    ("python_env: env.yaml\nentry_points: {}\n", "env.yaml"),
    ("python_env: a.yaml\nconda_env: b.yaml\n", "several environments"),
    ("entry_points:\n  main: {parameters: {}}\n", "exactly one of command or notebook"),
    ("docker_env: {volumes: []}\n", "docker_env in"),
    ("entry_points: [1, 2\n", "not valid YAML"),
])
def test_a_bad_project_file_says_what_to_fix(tmp_path: Path, text: str, message: str) -> None:
    folder = write_project(tmp_path / "p", text, {})
    with pytest.raises(InvalidProject, match=message.replace("(", r"\(")):
        load_project(folder)


def test_unknown_entry_points_name_the_known_ones(tmp_path: Path) -> None:
    project = load_project(EXAMPLE)
    with pytest.raises(InvalidProject, match="entry points: explore, main, validate"):
        project.entry_point("nope")
    assert project.entry_point("train.py").command == "python train.py"


# -- running script projects --------------------------------------------------------------

@pytest.mark.slow
def test_the_example_runs_with_typed_params_into_one_run(store: Client) -> None:
    done = run(EXAMPLE, "main", {"alpha": "0.3", "seed": 1}, experiment_name="diabetes",
               run_name="first", quiet=True)
    assert done.wait() and done.status == "FINISHED"
    stored = store.get_run(done.run_id)
    assert stored.info.run_name == "first"
    assert stored.data.params == {"alpha": "0.3", "l1_ratio": "0.1", "seed": "1"}
    assert set(stored.data.metrics) == {"rmse", "mae", "r2"}
    tags = stored.data.tags
    assert tags[T.ENTRY_POINT] == "main" and tags[T.PROJECT_NAME] == "sklearn_diabetes"
    assert tags[T.COMMAND] == "python train.py --alpha 0.3 --l1-ratio 0.1 --seed 1"
    assert tags["mltrack.source.type"] == "PROJECT"
    # the script's start_run() attached to the run the runner created: no second run
    assert len(store.search_runs([stored.info.experiment_id])) == 1
    env = environment.load_environment(store, done.run_id)
    assert env is not None and "scikit-learn" in env["packages"]

    folds = run(EXAMPLE, "validate", {"folds": 3}, experiment_name="diabetes", quiet=True)
    history = store.get_metric_history(folds.run_id, "fold_rmse")
    assert [m.step for m in history] == [0, 1, 2]


def test_a_bad_type_is_refused_by_the_cli_and_creates_no_run(store: Client,
                                                            tracking_uri: str) -> None:
    result = CliRunner().invoke(main, ["--tracking-uri", tracking_uri, "run", str(EXAMPLE),
                                       "-P", "alpha=zero", "--experiment", "diabetes"])
    assert result.exit_code == 1
    assert "Error: Parameter 'alpha' of entry point 'main' is a float, but got 'zero'" in \
        result.output
    assert store.get_experiment_by_name("diabetes") is None or \
        not store.search_runs(None, None, "all")


@pytest.mark.slow
def test_a_failing_command_ends_its_run_failed(store: Client, tmp_path: Path) -> None:
    folder = write_project(tmp_path / "p", 'entry_points:\n  main:\n    parameters:\n'
                           '      code: {type: int, default: 3}\n'
                           '    command: "python fail.py {code}"\n',
                           {"fail.py": "import sys\nsys.exit(int(sys.argv[1]))\n"})
    with pytest.raises(ExecutionFailed, match="exited with code 3"):
        run(folder, quiet=True)
    (failed,) = store.search_runs(None, None, "all")
    assert failed.info.status == "FAILED"
    assert "exited with code 3" in failed.data.tags["mltrack.error"]


@pytest.mark.parametrize(("mlproject", "manager", "tool", "artifact"), [
    ("conda_env: conda.yaml\n", "conda", "conda, mamba or micromamba", "mltrack/conda.yaml"),
    ("python_env: python_env.yaml\n", "conda", "conda, mamba or micromamba",
     "mltrack/conda.yaml"),
    ("docker_env: {image: 'python:3.11-slim'}\n", None, "docker is not on PATH",
     "mltrack/Dockerfile"),
])
def test_conda_and_docker_say_clearly_when_the_tool_is_missing(
        store: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mlproject: str,
        manager: str | None, tool: str, artifact: str) -> None:
    folder = write_project(tmp_path / "p", mlproject + 'entry_points:\n  main:\n'
                           '    command: "python -c pass"\n',
                           {"conda.yaml": "dependencies: [python=3.11, pip, {pip: [six]}]\n",
                            "python_env.yaml": "python: '3.11'\ndependencies: [six]\n"})
    bare = tmp_path / "bin"  # a PATH with git and nothing that manages environments
    bare.mkdir()
    git = shutil.which("git")
    assert git is not None
    (bare / "git").symlink_to(git)
    monkeypatch.setenv("PATH", str(bare))
    with pytest.raises(ExecutionFailed, match=tool):
        run(folder, env_manager=manager, quiet=True)
    (failed,) = store.search_runs(None, None, "all")
    assert failed.info.status == "FAILED"
    spec = store.read_artifact(failed.info.run_id, artifact).decode()
    assert ("six" in spec) if artifact.endswith("yaml") else ("FROM python:3.11-slim" in spec)


# -- the environment of every run ---------------------------------------------------------

def test_every_run_stores_its_environment(fluent) -> None:
    with fluent.start_run() as active:
        pass
    env = environment.load_environment(fluent.Client(fluent.get_tracking_uri()), active.info.run_id)
    assert env is not None
    import pytest as pytest_module

    assert env["packages"]["pytest"] == pytest_module.__version__
    assert env["python"] == ".".join(map(str, sys.version_info[:3]))


def test_environment_can_be_turned_off(fluent, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(environment.DISABLE_ENV, "false")
    with fluent.start_run() as active:
        pass
    client = fluent.Client(fluent.get_tracking_uri())
    assert environment.load_environment(client, active.info.run_id) is None


def test_env_diff_lists_added_removed_and_changed_packages(store: Client,
                                                          tracking_uri: str) -> None:
    exp = store.create_experiment("envs")
    ids = []
    for packages in ({"numpy": "1.26.0", "pandas": "2.1.0", "Old_Pkg": "1"},
                     {"numpy": "2.0.0", "pandas": "2.1.0", "new-pkg": "0.3"}):
        run_id = store.create_run(exp).info.run_id
        store.log_text(run_id, json.dumps({"python": "3.11.7", "packages": packages}),
                       environment.ARTIFACT)
        ids.append(run_id)
    result = CliRunner().invoke(main, ["--tracking-uri", tracking_uri, "env", "diff", *ids])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[1:] == [
        "+ new-pkg==0.3", "- Old_Pkg==1", "~ numpy 1.26.0 -> 2.0.0"]
    as_json = CliRunner().invoke(main, ["--tracking-uri", tracking_uri, "env", "diff",
                                        "--json", *ids])
    assert json.loads(as_json.output)["changed"] == {"numpy": ["1.26.0", "2.0.0"]}


def test_env_diff_says_when_a_run_has_no_environment(store: Client, tracking_uri: str) -> None:
    exp = store.create_experiment("envs")
    a, b = (store.create_run(exp).info.run_id for _ in range(2))
    result = CliRunner().invoke(main, ["--tracking-uri", tracking_uri, "env", "diff", a, b])
    assert f"! run {a} has no stored environment" in result.output


# -- virtualenv ---------------------------------------------------------------------------

def tiny_wheel(folder: Path) -> Path:
    """A wheel with one module, built by hand: installing it needs no network."""
    import base64
    import hashlib
    import zipfile

    name = "mltrack_tiny_dep"
    files = {
        f"{name}.py": "VERSION = '1.0'\n",
        f"{name}-1.0.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {name}\n"
                                          "Version: 1.0\n",
        f"{name}-1.0.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: hand\n"
                                       "Root-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record.append(f"{path},sha256={digest.decode()},{len(text.encode())}")
    record.append(f"{name}-1.0.dist-info/RECORD,,")
    files[f"{name}-1.0.dist-info/RECORD"] = "\n".join(record) + "\n"
    wheel = folder / f"{name}-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
    return wheel


@pytest.mark.slow
def test_virtualenv_is_built_from_python_env_cached_and_diffed(
        store: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        tracking_uri: str) -> None:
    monkeypatch.setenv("MLTRACK_ENVS_DIR", str(tmp_path / "envs"))
    wheel = tiny_wheel(tmp_path)
    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    folder = write_project(tmp_path / "p", 'python_env: python_env.yaml\nentry_points:\n'
                           '  main:\n    command: "python use.py"\n', {
                               "python_env.yaml": f"python: '{here}'\n"
                                                  f"dependencies: ['{wheel}']\n",
                               "use.py": """\
                                   import sys
                                   import mltrack_tiny_dep
                                   import jupyter_mltrack as mltrack
                                   with mltrack.start_run():
                                       venv = sys.prefix != sys.base_prefix
                                       mltrack.log_metric("in_env", float(venv))
                               """})
    first = run(folder, env_manager="virtualenv", quiet=True)
    location = store.get_run(first.run_id).data.tags[T.ENV_LOCATION]
    marker = Path(location) / ".mltrack-env.json"
    built = marker.stat().st_mtime_ns
    second = run(folder, env_manager="virtualenv", quiet=True)
    assert store.get_run(second.run_id).data.tags[T.ENV_LOCATION] == location
    assert marker.stat().st_mtime_ns == built  # the cached environment was reused
    assert store.get_run(second.run_id).data.metrics == {"in_env": 1.0}

    with pytest.raises(ExecutionFailed):  # the local environment lacks the project's package
        run(folder, env_manager="local", quiet=True)
    failed = store.search_runs(None, "attributes.status = 'FAILED'")[0]
    result = CliRunner().invoke(main, ["--tracking-uri", tracking_uri, "env", "diff",
                                       failed.info.run_id, second.run_id])
    assert "+ mltrack_tiny_dep==1.0" in result.output.splitlines()


def test_no_project_file_runs_files_by_name(store: Client, tmp_path: Path) -> None:
    folder = tmp_path / "bare"
    folder.mkdir()
    (folder / "job.py").write_text("print('hi')\n")
    project = load_project(folder)
    assert project.file is None and project.env_type == "local"
    point = project.entry_point("job.py")
    assert point.shell_command(*point.resolve({"n": 3}, folder)) == "python job.py --n 3"


def test_started_script_attaches_to_the_runner_run(store: Client, tmp_path: Path) -> None:
    run_id = store.create_run(store.create_experiment("attach")).info.run_id
    code = ("import jupyter_mltrack as m\n"
            "with m.start_run() as r:\n    m.log_metric('x', 2.0)\n    print(r.info.run_id)\n")
    env = {**os.environ, "MLTRACK_RUN_ID": run_id, "MLTRACK_TRACKING_URI": store.tracking_uri}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True, timeout=300).stdout.split()
    assert out == [run_id]
    assert store.get_run(run_id).data.metrics == {"x": 2.0}
    assert len(store.search_runs(None, None, "all")) == 1


def test_a_docker_command_gets_the_run_and_the_store() -> None:
    from jupyter_mltrack.projects.envs import Environment

    env = Environment("docker", "python", wrap=["docker", "run", "--rm"], image="img:1")
    argv = env.argv("python train.py", {"MLTRACK_RUN_ID": "abc",
                                        "MLTRACK_TRACKING_URI": "sqlite:////data/s/mltrack.db"})
    assert argv == ["docker", "run", "--rm", "-e", "MLTRACK_RUN_ID=abc", "-e",
                    "MLTRACK_TRACKING_URI=sqlite:////data/s/mltrack.db", "-v", "/data/s:/data/s",
                    "img:1", "bash", "-c", "python train.py"]


def test_cli_lookups_of_unknown_runs_name_the_cli_command(store: Client,
                                                          tracking_uri: str) -> None:
    for args in (["reproduce", "abcd"], ["env", "diff", "abcd", "efgh"]):
        result = CliRunner().invoke(main, ["--tracking-uri", tracking_uri, *args])
        assert result.exit_code == 1, result.output
        assert "No run has the id, id prefix or name 'abcd'" in result.output
        assert "`mltrack runs list`" in result.output and "%mltrack" not in result.output
