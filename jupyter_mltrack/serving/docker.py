"""A Docker build context for a model: the same scoring server, on port 8080, as a non-root user.

::

    context/
      Dockerfile          python slim base, pinned requirements, USER mltrack, HEALTHCHECK
      .dockerignore
      requirements.txt    the model's pinned requirements plus the server's
      model/              the model folder (MLmodel, weights, signature, example)
      mltrack/            this package's source, installed with pip in the image

The image runs ``mltrack models serve -m /opt/model --host 0.0.0.0 --port 8080``.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._version import __version__
from ..errors import AlreadyExists, InvalidParameter, MLTrackError, UntrustedModel

if TYPE_CHECKING:
    from ..tracking.client import Client

PORT = 8080
MODEL_DIR = "/opt/model"
#: Distributions the scoring server itself imports (the model's own come from its folder).
SERVER_REQUIREMENTS = ("click", "numpy", "pandas", "PyYAML", "fsspec", "uvicorn", "h11",
                       "httptools")
_SKIP = shutil.ignore_patterns("__pycache__", "*.pyc", "*.so", "node_modules", "labextension",
                               "static")


class NoContainerEngine(MLTrackError):
    """No Docker (or Podman) engine to build an image with."""


def serve_command(port: int = PORT) -> list[str]:
    """The image's entrypoint: the scoring server on all interfaces of the container."""
    host = "0.0.0.0"  # noqa: S104 - inside a container, the published port is the boundary
    return ["mltrack", "models", "serve", "-m", MODEL_DIR, "--host", host, "--port", str(port)]


def write_docker_context(model_uri: str | os.PathLike[str], output_dir: str | os.PathLike[str],
                         *, client: Client | None = None, trust: bool = False,
                         base_image: str | None = None) -> Path:
    """Write a Docker build context serving ``model_uri`` to ``output_dir``; returns it.

    The model is loaded once here, so a model that cannot load fails now, not in the image.
    """
    from ..models import load_model

    out = Path(output_dir).expanduser()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise AlreadyExists(f"{out} already exists and is not empty; pass a new folder.")
    uri = os.fspath(model_uri)
    out.mkdir(parents=True, exist_ok=True)
    try:
        _copy_model(uri, out / "model", client)
        needs_trust = False
        try:
            load_model(out / "model", progress=False)
        except UntrustedModel:
            if not trust:
                raise UntrustedModel(
                    f"{uri} is stored with pickle or ships code, which runs when the model "
                    "loads; the image would load it with --trust. If you trust its source, "
                    "pass --trust (trust=True)."
                ) from None
            load_model(out / "model", trust=True, progress=False)
            needs_trust = True
        _vendor_package(out / "mltrack")
        requirements = _requirements(out / "model" / "requirements.txt")
        (out / "requirements.txt").write_text("\n".join(requirements) + "\n", encoding="utf-8")
        command = serve_command() + (["--trust"] if needs_trust else [])
        (out / "Dockerfile").write_text(dockerfile(command, base_image), encoding="utf-8")
        (out / ".dockerignore").write_text("**/__pycache__\n**/*.pyc\n", encoding="utf-8")
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise
    return out


def dockerfile(command: list[str], base_image: str | None = None) -> str:
    """The Dockerfile text for ``command`` as the entrypoint."""
    base = base_image or f"python:{'.'.join(platform.python_version_tuple()[:2])}-slim"
    probe = ("import sys, urllib.request; "
             f"sys.exit(urllib.request.urlopen('http://127.0.0.1:{PORT}/ping', timeout=3)"
             ".status != 200)")
    return f"""\
# Scoring server for one model, written by jupyter_mltrack {__version__}.
# Build: docker build -t my-model .    Run: docker run -p {PORT}:{PORT} my-model
FROM {base}

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \\
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /opt
COPY requirements.txt /opt/requirements.txt
RUN pip install -r /opt/requirements.txt
COPY mltrack/ /opt/mltrack/
RUN pip install --no-deps /opt/mltrack
COPY model/ {MODEL_DIR}/

RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin mltrack
USER 10001

EXPOSE {PORT}
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \\
    CMD ["python", "-c", {json.dumps(probe)}]
ENTRYPOINT {json.dumps(command)}
"""


def entrypoint(dockerfile_text: str) -> list[str]:
    """The ENTRYPOINT of a Dockerfile written by :func:`dockerfile`."""
    for line in dockerfile_text.splitlines():
        if line.startswith("ENTRYPOINT "):
            return list(json.loads(line[len("ENTRYPOINT "):]))
    raise InvalidParameter("The Dockerfile has no ENTRYPOINT line.")


def _copy_model(uri: str, target: Path, client: Client | None) -> None:
    """The files of the model ``uri`` names, copied to ``target``."""
    source = uri
    if uri.startswith("models:/"):
        from ..registry import resolve_models_uri

        source = resolve_models_uri(uri, client=client)
    if source.startswith("runs:/"):
        from ..tracking import fluent
        from ..uris import parse_runs_uri

        parsed = parse_runs_uri(source)
        staging = target.parent / ".model-download"
        staging.mkdir()
        got = Path((client or fluent.client()).download_artifacts(parsed.run_id, parsed.path,
                                                                  staging))
        os.replace(got, target)
        shutil.rmtree(staging, ignore_errors=True)
    elif "://" in source and not source.startswith("file://"):
        from ..artifacts import artifact_repository

        staging = target.parent / ".model-download"
        staging.mkdir()
        got = Path(artifact_repository(source).download("", staging))
        os.replace(got, target)
        shutil.rmtree(staging, ignore_errors=True)
    else:
        folder = Path(source[len("file://"):] if source.startswith("file://") else source)
        if not (folder / "MLmodel").is_file():
            raise InvalidParameter(f"{uri} holds no model (no MLmodel file); pass a model "
                                   "folder, runs:/<run_id>/<name> or models:/<name>/<version>.")
        shutil.copytree(folder, target, ignore=shutil.ignore_patterns("__pycache__"))
    if not (target / "MLmodel").is_file():
        raise InvalidParameter(f"{uri} holds no model (no MLmodel file).")


def _vendor_package(target: Path) -> None:
    """This package's Python source plus a pyproject.toml, for ``pip install`` in the image."""
    package = Path(__file__).resolve().parents[1]
    shutil.copytree(package, target / "jupyter_mltrack", ignore=_SKIP)
    try:
        eps = metadata.distribution("jupyter_mltrack").entry_points
        flavors = {ep.name: ep.value for ep in eps if ep.group == "jupyter_mltrack.flavors"}
    except metadata.PackageNotFoundError:
        flavors = {}
    lines = [
        "[build-system]", 'requires = ["setuptools>=68"]',
        'build-backend = "setuptools.build_meta"', "",
        "[project]", 'name = "jupyter_mltrack"', f'version = "{__version__}"',
        'requires-python = ">=3.10"', "",
        "[project.scripts]", 'mltrack = "jupyter_mltrack.cli:main"', "",
        '[project.entry-points."jupyter_mltrack.flavors"]',
        *(f'{name} = "{value}"' for name, value in sorted(flavors.items())), "",
        "[tool.setuptools.packages.find]", 'include = ["jupyter_mltrack*"]', "",
        "[tool.setuptools.package-data]", '"*" = ["*.js", "*.css", "*.ini", "*.mako", "*.json"]',
    ]
    (target / "pyproject.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _requirements(model_requirements: Path) -> list[str]:
    """The model's pinned requirements, then the server's, then everything those need,
    each distribution once, pinned to the version installed here."""
    lines = []
    if model_requirements.is_file():
        lines = [line.strip() for line in model_requirements.read_text("utf-8").splitlines()
                 if line.strip() and not line.startswith("#")
                 and _dist_name(line) != "jupyter-mltrack"]  # the context ships its source
    names = {_dist_name(line) for line in lines}
    queue = [*(_dist_name(line) for line in lines), *SERVER_REQUIREMENTS]
    while queue:
        dist = queue.pop(0)
        if _dist_name(dist) == "jupyter-mltrack":
            continue
        try:
            version = metadata.version(dist)
            requires = metadata.requires(dist) or []
        except metadata.PackageNotFoundError:
            version, requires = "", []
        if _dist_name(dist) not in names:
            names.add(_dist_name(dist))
            lines.append(f"{dist}=={version}" if version else dist)
        queue.extend(r for r in (_needed(req) for req in requires)
                     if r is not None and r not in names)
    return lines


def _needed(requirement: str) -> str | None:
    """The distribution a Requires-Dist line needs here, or None (an extra, another OS)."""
    from packaging.requirements import InvalidRequirement, Requirement

    try:
        req = Requirement(requirement)
    except InvalidRequirement:
        return None
    if req.marker is not None and not req.marker.evaluate({"extra": ""}):
        return None
    return _dist_name(req.name)


def _dist_name(requirement: str) -> str:
    import re

    return re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0].strip().lower().replace("_", "-")


def engine() -> str:
    """The container engine command that can build here; NoContainerEngine otherwise."""
    found = [name for name in ("docker", "podman") if shutil.which(name)]
    if not found:
        raise NoContainerEngine(
            "No container engine found (neither docker nor podman is on PATH). Install Docker "
            "or Podman, or write the build context with `mltrack models dockerfile -m URI -o "
            "DIR` and build it on a machine that has one."
        )
    problems = []
    for name in found:
        probe = subprocess.run([name, "info"], capture_output=True, text=True, timeout=60,
                               check=False)
        if probe.returncode == 0:
            return name
        detail = (probe.stderr or probe.stdout).strip().splitlines()
        problems.append(f"{name}: {detail[-1] if detail else 'exit ' + str(probe.returncode)}")
    raise NoContainerEngine(
        f"{' and '.join(found)} {'is' if len(found) == 1 else 'are'} installed but no engine "
        f"answers ({'; '.join(problems)}). Start the Docker daemon (or Podman), or build the "
        "context written by `mltrack models dockerfile` elsewhere."
    )


def build_image(context: Path, tag: str, engine_name: str | None = None) -> None:
    """``docker build -t tag context``; the engine's output goes to this process's."""
    name = engine_name or engine()
    result = subprocess.run([name, "build", "-t", tag, str(context)], check=False)
    if result.returncode != 0:
        raise MLTrackError(f"`{name} build` failed with exit code {result.returncode}; its "
                           "output above says why.")


def describe(context: Path) -> dict[str, Any]:
    """What a context holds, for the CLI's summary."""
    return {"context": str(context), "entrypoint": entrypoint(
        (context / "Dockerfile").read_text("utf-8")), "files": sorted(
        p.name for p in context.iterdir())}
