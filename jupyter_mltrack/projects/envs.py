"""Where a project command runs: here (``local``), a cached virtualenv, conda or docker.

* ``local`` runs in this interpreter's environment; ``python`` in the command is the
  interpreter running mltrack.
* ``virtualenv`` builds ``python -m venv`` + pip from the project's ``python_env``
  (``python``, ``build_dependencies``, ``dependencies``), or its ``requirements.txt``,
  cached by their hash in ``MLTRACK_ENVS_DIR`` (default ``~/.cache/jupyter_mltrack/envs``).
  When the environment has this interpreter's Python version, this environment's
  packages stay visible after the project's own (a ``.pth`` file), so the tracking client
  is importable and what the project pins takes precedence.
* ``conda`` and ``docker`` write their spec (``conda.yaml``, ``Dockerfile``) and run
  where ``conda`` / a running docker daemon exist; elsewhere they stop with an error that
  says so, and the spec stays with the run.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ExecutionFailed, InvalidProject
from .spec import Project

MANAGERS = ("local", "virtualenv", "conda", "docker")
ENVS_DIR_ENV = "MLTRACK_ENVS_DIR"
_MARKER = ".mltrack-env.json"


@dataclass
class PythonEnv:
    """The ``python_env.yaml`` of a project: Python version and pip requirements."""

    python: str | None = None
    build_dependencies: list[str] = field(default_factory=list)
    dependencies: list[str] = field(default_factory=list)

    def hash(self) -> str:
        text = json.dumps([self.python, self.build_dependencies, self.dependencies])
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def conda_yaml(self) -> dict[str, Any]:
        deps: list[Any] = [f"python={self.python}" if self.python else "python", "pip"]
        pip = self.build_dependencies + self.dependencies
        if pip:
            deps.append({"pip": pip})
        return {"name": "mltrack-project", "channels": ["conda-forge"], "dependencies": deps}


def python_env_of(project: Project) -> PythonEnv:
    """The project's Python environment from python_env.yaml, conda.yaml or requirements."""
    import yaml

    file = project.env_file
    if file is None:
        reqs = project.directory / "requirements.txt"
        if reqs.is_file():
            return PythonEnv(dependencies=_requirements(reqs))
        return PythonEnv()
    data = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise InvalidProject(f"{file} must be a mapping.")
    if project.env_type == "python_env":
        python = data.get("python")
        return PythonEnv(None if python is None else str(python),
                         _lines(data.get("build_dependencies"), file, project.directory),
                         _lines(data.get("dependencies"), file, project.directory))
    # conda.yaml: the python version and the pip section; conda packages need conda
    env = PythonEnv()
    for dep in data.get("dependencies") or []:
        if isinstance(dep, str) and dep.split("=")[0].strip() == "python" and "=" in dep:
            env.python = dep.split("=", 1)[1].lstrip("=").strip()
        elif isinstance(dep, dict) and "pip" in dep:
            env.dependencies += _lines(dep["pip"], file, project.directory)
    return env


def _lines(value: Any, file: Path, base: Path) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidProject(f"{file}: dependencies are a list of requirement lines.")
    out: list[str] = []
    for item in value:
        text = str(item).strip()
        if text.startswith("-r "):
            out += _requirements(base / text[3:].strip())
        elif text:
            out.append(text)
    return out


def _requirements(path: Path) -> list[str]:
    if not path.is_file():
        raise InvalidProject(f"The requirements file {path} does not exist.")
    lines = path.read_text(encoding="utf-8").splitlines()
    return [s.strip() for s in lines if s.strip() and not s.strip().startswith("#")]


@dataclass
class Environment:
    """How to run a command: the shell prefix and the variables it needs."""

    manager: str
    python: str
    variables: dict[str, str] = field(default_factory=dict)
    wrap: list[str] = field(default_factory=list)  # argv before ``bash -c COMMAND``
    spec_files: dict[str, Path] = field(default_factory=dict)  # artifact name -> file
    notes: list[str] = field(default_factory=list)
    location: str | None = None

    image: str | None = None  # docker: the image the command runs in

    def argv(self, command: str, run_variables: dict[str, str]) -> list[str]:
        """The process to start; a container gets the run's variables with ``-e``."""
        if self.image is None:
            return [*self.wrap, "bash", "-c", command]
        passed = [x for k, v in run_variables.items() for x in ("-e", f"{k}={v}")]
        uri = run_variables.get("MLTRACK_TRACKING_URI", "")
        if uri.startswith("sqlite:///"):  # the store's folder, at the same path inside
            folder = str(Path(uri[len("sqlite:///"):]).parent)
            passed += ["-v", f"{folder}:{folder}"]
        return [*self.wrap, *passed, self.image, "bash", "-c", command]


def choose_manager(project: Project, requested: str | None) -> str:
    if requested is None:
        return "docker" if project.env_type == "docker_env" else "local"
    if requested not in MANAGERS:
        raise InvalidProject(f"--env-manager {requested!r}: use one of {', '.join(MANAGERS)}.")
    if requested == "docker" and project.docker_env is None:
        raise InvalidProject("--env-manager docker needs a docker_env in the MLproject file.")
    return requested


def prepare(project: Project, manager: str, work: Path) -> Environment:
    """The environment to run in, built (or found in the cache) now."""
    if manager == "local":
        return local_environment()
    if manager == "virtualenv":
        return virtualenv_environment(python_env_of(project))
    if manager == "conda":
        return conda_environment(project, work)
    return docker_environment(project, work)


def local_environment() -> Environment:
    bindir = str(Path(sys.executable).parent)
    path = bindir + os.pathsep + os.environ.get("PATH", "")
    return Environment("local", sys.executable, {"PATH": path})


# -- virtualenv -----------------------------------------------------------------------------

def envs_dir() -> Path:
    folder = os.environ.get(ENVS_DIR_ENV)
    if folder:
        return Path(folder).expanduser()
    return Path.home() / ".cache" / "jupyter_mltrack" / "envs"


def _find_python(version: str | None) -> tuple[str, list[str]]:
    """An interpreter for ``version`` (``3.9``, ``3.9.7``), and notes when none matches."""
    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    if not version:
        return sys.executable, []
    wanted = ".".join(version.split(".")[:2])
    if wanted == here:
        return sys.executable, []
    found = shutil.which(f"python{wanted}")
    if found and _version_of(found) == wanted:  # a pyenv shim may name a missing version
        return found, []
    return sys.executable, [f"python_env asks for Python {version}, but no python{wanted} "
                            f"runs here; the environment uses Python {here} instead."]


def _version_of(python: str) -> str | None:
    try:
        out = subprocess.run([python, "-c", "import sys;print('%d.%d' % sys.version_info[:2])"],
                             capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _without_mlflow(env: PythonEnv) -> tuple[PythonEnv, list[str]]:
    """MLflow itself is left out when mltrack's MLflow-compatible API stands in for it."""
    import re

    from . import mlflow_compat

    if not mlflow_compat.wanted(False):
        return env, []
    pattern = re.compile(r"^\s*mlflow(-skinny)?\s*([<>=!~;\[ ]|$)", re.IGNORECASE)
    dropped = [d for d in env.dependencies if pattern.match(d)]
    if not dropped:
        return env, []
    kept = [d for d in env.dependencies if d not in dropped]
    return PythonEnv(env.python, env.build_dependencies, kept), [
        f"left out {', '.join(dropped)}: `import mlflow` in the project uses mltrack's "
        "MLflow-compatible API and logs to this run (MLTRACK_MLFLOW_COMPAT=never keeps "
        "MLflow)."]


def virtualenv_environment(env: PythonEnv) -> Environment:
    """A virtualenv with the project's requirements, built once per requirement set."""
    env, dropped = _without_mlflow(env)
    python, notes = _find_python(env.python)
    notes += dropped
    version = _version_of(python)
    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    key = hashlib.sha256(f"{env.hash()}:{version}:{sys.prefix}".encode()).hexdigest()[:16]
    folder = envs_dir() / key
    with _locked(envs_dir() / f"{key}.lock"):
        if not (folder / _MARKER).is_file():
            _build_virtualenv(folder, python, env, layered=version == here)
    bindir = folder / "bin"
    variables = {"PATH": str(bindir) + os.pathsep + os.environ.get("PATH", ""),
                 "VIRTUAL_ENV": str(folder)}
    if version != here:
        notes.append(f"The environment runs Python {version}: jupyter_mltrack must be among "
                     "its dependencies for the project to log to this run.")
    return Environment("virtualenv", str(bindir / "python"), variables, notes=notes,
                       location=str(folder))


def _build_virtualenv(folder: Path, python: str, env: PythonEnv, layered: bool) -> None:
    if folder.exists():
        shutil.rmtree(folder)  # a build that stopped half way
    _check([python, "-m", "venv", "--without-pip", str(folder)], "create the virtualenv")
    target = str(folder / "bin" / "python")
    if layered:
        purelib = subprocess.run(
            [target, "-c", "import sysconfig;print(sysconfig.get_paths()['purelib'])"],
            capture_output=True, text=True, check=True, timeout=60).stdout.strip()
        host = [sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]
        package_root = str(Path(__file__).resolve().parents[2])
        lines = list(dict.fromkeys([*host, package_root]))
        Path(purelib, "_mltrack_host.pth").write_text("\n".join(lines) + "\n")
    requirements = env.build_dependencies + env.dependencies
    if requirements:
        _check([sys.executable, "-m", "pip", "--python", target, "install",
                "--disable-pip-version-check", *requirements],
               f"install the project's requirements ({', '.join(requirements)})")
    (folder / _MARKER).write_text(json.dumps({"python": python, "requirements": requirements}))


def _check(argv: list[str], what: str) -> None:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=3600)
    except OSError as exc:
        raise ExecutionFailed(f"Could not {what}: {exc}") from exc
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-15:]
        raise ExecutionFailed(f"Could not {what} (exit code {done.returncode}):\n" +
                              "\n".join(tail))


# -- conda and docker -----------------------------------------------------------------------

def conda_environment(project: Project, work: Path) -> Environment:
    import yaml

    spec = work / "conda.yaml"
    if project.env_type == "conda_env" and project.env_file is not None:
        shutil.copyfile(project.env_file, spec)
    else:
        spec.write_text(yaml.safe_dump(python_env_of(project).conda_yaml(), sort_keys=False))
    files = {"mltrack/conda.yaml": spec}
    conda = next((shutil.which(c) for c in ("conda", "mamba", "micromamba") if shutil.which(c)),
                 None)
    if conda is None:
        raise ExecutionFailed(
            "--env-manager conda needs conda, mamba or micromamba on PATH, and none is there. "
            "Install Miniforge (https://conda-forge.org/download/), or run with "
            "--env-manager virtualenv or local. The environment spec is stored with the run "
            "as mltrack/conda.yaml.")
    digest = hashlib.sha256(spec.read_bytes()).hexdigest()[:16]
    prefix = envs_dir() / f"conda-{digest}"
    with _locked(envs_dir() / f"conda-{digest}.lock"):
        if not (prefix / _MARKER).is_file():
            _check([conda, "env", "create", "--yes", "-p", str(prefix), "-f", str(spec)],
                   "create the conda environment")
            (prefix / _MARKER).write_text("{}")
    return Environment("conda", str(prefix / "bin" / "python"), {},
                       wrap=[conda, "run", "--no-capture-output", "-p", str(prefix)],
                       spec_files=files, location=str(prefix))


def dockerfile(project: Project) -> str:
    image = str((project.docker_env or {}).get("image"))
    return (f"FROM {image}\n"
            "COPY . /mltrack/project\n"
            "WORKDIR /mltrack/project\n")


def docker_environment(project: Project, work: Path) -> Environment:
    spec = work / "Dockerfile"
    spec.write_text(dockerfile(project))
    files = {"mltrack/Dockerfile": spec}
    docker = shutil.which("docker")
    problem = None
    if docker is None:
        problem = "docker is not on PATH"
    else:
        info = subprocess.run([docker, "info", "--format", "{{.ServerVersion}}"],
                              capture_output=True, text=True, timeout=60)
        if info.returncode != 0:
            problem = "the docker daemon does not answer (" + \
                " ".join((info.stderr or info.stdout).split())[:200] + ")"
    if problem is not None:
        raise ExecutionFailed(
            f"This project runs in docker (docker_env), but {problem}. Start docker, or run "
            "with --env-manager local or virtualenv. The Dockerfile is stored with the run "
            "as mltrack/Dockerfile.")
    assert docker is not None
    digest = hashlib.sha256(spec.read_bytes()).hexdigest()[:12]
    tag = f"mltrack-{(project.name or 'project').lower().replace(' ', '-')}:{digest}"
    _check([docker, "build", "-t", tag, "-f", str(spec), str(project.directory)],
           "build the docker image")
    wrap = [docker, "run", "--rm"]
    for volume in (project.docker_env or {}).get("volumes") or []:
        wrap += ["-v", str(volume)]
    for entry in (project.docker_env or {}).get("environment") or []:
        if isinstance(entry, list) and len(entry) == 2:
            wrap += ["-e", f"{entry[0]}={entry[1]}"]
        elif isinstance(entry, str):
            if entry not in os.environ:
                raise ExecutionFailed(f"docker_env copies the variable {entry} from here, but "
                                      "it is not set; set it and run again.")
            wrap += ["-e", f"{entry}={os.environ[entry]}"]
    return Environment("docker", "python", {}, wrap=wrap, spec_files=files, location=tag,
                       image=tag)


#: Spec files an environment writes into the run's work folder, by artifact name.
SPEC_FILES = {"mltrack/conda.yaml": "conda.yaml", "mltrack/Dockerfile": "Dockerfile"}
