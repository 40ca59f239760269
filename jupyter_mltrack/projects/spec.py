"""The project file: MLflow's ``MLproject`` format, read and checked.

::

    name: house_prices
    python_env: python_env.yaml        # or conda_env: conda.yaml, or docker_env: {image: ...}
    entry_points:
      main:
        parameters:
          depth: {type: int, default: 6}
          rate: float                  # a type alone: the value is required
        command: "python fit.py --depth {depth} --rate {rate}"
      explore:
        parameters:
          depth: {type: int, default: 6}
        notebook: explore.ipynb        # a notebook entry point (MLflow ignores this key)

Parameter types are MLflow's ``string``, ``float``, ``path``, ``uri`` and ``int``; values
are checked before anything runs. Values are shell-quoted into ``{name}`` placeholders;
parameters the entry point does not declare are appended as ``--name value``. A folder
without an ``MLproject`` file runs its ``.py``, ``.sh`` and ``.ipynb`` files by name.
"""

from __future__ import annotations

import math
import os
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from ..errors import InvalidProject

PROJECT_FILE = "mlproject"
DEFAULT_PYTHON_ENV = "python_env.yaml"
DEFAULT_CONDA_ENV = "conda.yaml"
TYPES = ("string", "float", "int", "path", "uri")
ENV_KEYS = ("python_env", "conda_env", "docker_env")


@dataclass
class Parameter:
    """One typed parameter of an entry point; ``default`` None means required."""

    name: str
    type: str = "string"
    default: str | None = None

    def check(self, value: Any, where: str) -> str:
        """The value as text for the command; raises InvalidProject when it does not fit."""
        text = _text(value)
        if self.type == "float":
            try:
                number = float(text)
            except ValueError:
                raise InvalidProject(
                    f"Parameter {self.name!r} of {where} is a float, but got {text!r}; "
                    f"pass a number, e.g. -P {self.name}=0.5."
                ) from None
            if math.isnan(number) and text.strip().lower() != "nan":
                raise InvalidProject(f"Parameter {self.name!r} of {where}: {text!r} is not "
                                     "a number.")
        elif self.type == "int":
            try:
                int(text.strip())
            except ValueError:
                raise InvalidProject(
                    f"Parameter {self.name!r} of {where} is an int, but got {text!r}; "
                    f"pass a whole number, e.g. -P {self.name}=10."
                ) from None
        elif self.type == "uri":
            if not urlparse(text).scheme:
                raise InvalidProject(
                    f"Parameter {self.name!r} of {where} is a uri, but {text!r} has no scheme; "
                    f"pass e.g. file:///abs/path, s3://bucket/key or runs:/<run_id>/path."
                )
        return text


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass
class EntryPoint:
    """A named way to run a project: a shell command, or a notebook."""

    name: str
    parameters: dict[str, Parameter] = field(default_factory=dict)
    command: str | None = None
    notebook: str | None = None

    def resolve(self, given: Mapping[str, Any] | None, project_dir: Path,
                fetch_path: Any = None) -> tuple[dict[str, str], dict[str, str]]:
        """Checked values of the declared parameters, and the extra (undeclared) ones.

        ``path`` values become absolute local paths; ``fetch_path(value)`` turns a
        ``runs:/`` URI into a local copy.
        """
        given = {str(k): v for k, v in (given or {}).items()}
        where = f"entry point {self.name!r}"
        missing = [n for n, p in self.parameters.items() if n not in given and p.default is None]
        if missing:
            listed = ", ".join(repr(m) for m in missing)
            example = " ".join(f"-P {m}=..." for m in missing)
            raise InvalidProject(f"No value given for the required parameters {listed} of "
                                 f"{where}; pass {example}.")
        values: dict[str, str] = {}
        for name, param in self.parameters.items():
            value = given[name] if name in given else param.default
            text = param.check(value, where)
            if param.type == "path":
                text = _local_path(name, text, where, project_dir, fetch_path)
            values[name] = text
        extra = {k: _text(v) for k, v in given.items() if k not in self.parameters}
        return values, extra

    def shell_command(self, values: dict[str, str], extra: dict[str, str]) -> str:
        """The command line with quoted values substituted and extras appended."""
        if self.command is None:
            raise InvalidProject(f"Entry point {self.name!r} is a notebook; it has no command.")
        quoted = {k: shlex.quote(v) for k, v in values.items()}
        try:
            line = self.command.format(**quoted)
        except KeyError as exc:
            raise InvalidProject(
                f"The command of entry point {self.name!r} uses {{{exc.args[0]}}}, which is "
                "not one of its parameters; declare it under parameters."
            ) from None
        except (IndexError, ValueError) as exc:
            raise InvalidProject(f"The command of entry point {self.name!r} does not parse: "
                                 f"{exc}. Write a literal brace as {{{{ or }}}}.") from None
        # as written: bash runs it, so a backslash-newline continues the line and quoted
        # values keep their spaces (extras go after the last line)
        parts = [line.strip()]
        parts += [f"--{shlex.quote(k)} {shlex.quote(v)}" for k, v in extra.items()]
        return " ".join(parts)


def _local_path(name: str, text: str, where: str, project_dir: Path, fetch_path: Any) -> str:
    if text.startswith("runs:/") and fetch_path is not None:
        return str(fetch_path(text))
    parsed = urlparse(text)
    if parsed.scheme == "file":
        text = parsed.path
    elif parsed.scheme and len(parsed.scheme) > 1:
        raise InvalidProject(f"Parameter {name!r} of {where} is a path; {text!r} is neither "
                             "a local path nor a runs:/ URI.")
    path = Path(text).expanduser()
    if not path.is_absolute():
        path = Path.cwd() / path
    if not path.exists():
        raise InvalidProject(f"Parameter {name!r} of {where} is a path, but {text!r} does not "
                             f"exist (looked at {path}).")
    return str(path.resolve())


@dataclass
class Project:
    """A project folder and what its ``MLproject`` file says."""

    directory: Path
    name: str | None = None
    entry_points: dict[str, EntryPoint] = field(default_factory=dict)
    env_type: str = "local"  # python_env, conda_env, docker_env or local
    env_file: Path | None = None
    docker_env: dict[str, Any] | None = None
    file: Path | None = None

    def entry_point(self, name: str) -> EntryPoint:
        """An entry point by name, or a ``.py``/``.sh``/``.ipynb`` file of the project."""
        if name in self.entry_points:
            return self.entry_points[name]
        suffix = Path(name).suffix
        if suffix in (".py", ".sh", ".ipynb"):
            if not (self.directory / name).is_file():
                raise InvalidProject(f"{name} is not a file of the project {self.directory}.")
            if suffix == ".ipynb":
                return EntryPoint(name, {}, notebook=name)
            runner = "python" if suffix == ".py" else os.environ.get("SHELL", "bash")
            return EntryPoint(name, {}, command=f"{runner} {shlex.quote(name)}")
        known = ", ".join(sorted(self.entry_points)) or "none"
        raise InvalidProject(
            f"No entry point {name!r} in {self.file or self.directory} (entry points: {known}); "
            "name one with -e, or a .py, .sh or .ipynb file of the project."
        )


def find_project_file(directory: Path) -> Path | None:
    if not directory.is_dir():
        return None
    for child in sorted(directory.iterdir()):
        if child.name.lower() == PROJECT_FILE and child.is_file():
            return child
    return None


def load_project(directory: str | os.PathLike[str]) -> Project:
    """Read and check the project in ``directory`` (its ``MLproject`` file, if any)."""
    import yaml

    folder = Path(directory).expanduser().resolve()
    if not folder.is_dir():
        raise InvalidProject(f"{directory} is not a folder; give the folder of a project "
                             "(the one holding its MLproject file).")
    file = find_project_file(folder)
    data: Any = {}
    if file is not None:
        try:
            data = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise InvalidProject(f"{file} is not valid YAML: {exc}") from None
        if not isinstance(data, dict):
            raise InvalidProject(f"{file} must be a mapping with name, entry_points and an "
                                 "environment (python_env, conda_env or docker_env).")
    where = str(file or folder)
    envs = [k for k in ENV_KEYS if data.get(k)]
    if len(envs) > 1:
        raise InvalidProject(f"{where} names several environments ({', '.join(envs)}); "
                             "keep one.")
    project = Project(directory=folder, name=data.get("name"), file=file)
    raw_points = data.get("entry_points") or {}
    if not isinstance(raw_points, dict):
        raise InvalidProject(f"entry_points in {where} must be a mapping of names to entry "
                             "points.")
    for name, spec in raw_points.items():
        project.entry_points[str(name)] = _entry_point(str(name), spec, where, folder)
    if envs == ["docker_env"]:
        docker = data["docker_env"]
        if not isinstance(docker, dict) or not docker.get("image"):
            raise InvalidProject(f"docker_env in {where} needs an image, e.g. "
                                 "docker_env: {image: python:3.11-slim}.")
        project.env_type, project.docker_env = "docker_env", docker
    elif envs:
        key = envs[0]
        path = folder / str(data[key])
        if not path.is_file():
            raise InvalidProject(f"{where} names the {key} file {data[key]}, but {path} does "
                                 "not exist.")
        project.env_type, project.env_file = key, path
    elif (folder / DEFAULT_PYTHON_ENV).is_file():
        project.env_type, project.env_file = "python_env", folder / DEFAULT_PYTHON_ENV
    elif (folder / DEFAULT_CONDA_ENV).is_file():
        project.env_type, project.env_file = "conda_env", folder / DEFAULT_CONDA_ENV
    return project


def _entry_point(name: str, spec: Any, where: str, folder: Path) -> EntryPoint:
    if not isinstance(spec, dict):
        raise InvalidProject(f"Entry point {name!r} in {where} must be a mapping with a "
                             "command (or a notebook) and parameters.")
    command, notebook = spec.get("command"), spec.get("notebook")
    if (command is None) == (notebook is None):
        raise InvalidProject(f"Entry point {name!r} in {where} needs exactly one of command "
                             "or notebook.")
    if notebook is not None and not (folder / str(notebook)).is_file():
        raise InvalidProject(f"Entry point {name!r} in {where} names the notebook {notebook}, "
                             "which is not in the project folder.")
    params: dict[str, Parameter] = {}
    raw = spec.get("parameters") or {}
    if not isinstance(raw, dict):
        raise InvalidProject(f"parameters of entry point {name!r} in {where} must be a mapping.")
    for key, value in raw.items():
        if isinstance(value, str):
            ptype, default = value, None
        elif isinstance(value, dict):
            ptype, default = value.get("type", "string"), value.get("default")
        elif value is None:
            ptype, default = "string", None
        else:
            raise InvalidProject(f"Parameter {key!r} of entry point {name!r} in {where}: write "
                                 "a type (float) or {type: float, default: 0.5}.")
        ptype = str(ptype)
        if ptype not in TYPES:
            raise InvalidProject(f"Parameter {key!r} of entry point {name!r} in {where} has "
                                 f"type {ptype!r}; use one of {', '.join(TYPES)}.")
        params[str(key)] = Parameter(str(key), ptype, None if default is None else
                                     _text(default))
    return EntryPoint(name, params, command=None if command is None else str(command),
                      notebook=None if notebook is None else str(notebook))
