"""The front door: exactly these names are public, and importing stays light."""

import inspect
import subprocess
import sys
import types

import jupyter_mltrack
from jupyter_mltrack import errors

EXTENSION_HOOKS = {"load_ipython_extension", "unload_ipython_extension"}


def test_exported_names_are_exactly_all() -> None:
    """Everything public in the package is in __all__ and nothing else (subpackages and
    the IPython extension hooks aside), as httpx's exports test checks."""
    public = {name for name in dir(jupyter_mltrack) if not name.startswith("_")
              and (not isinstance(getattr(jupyter_mltrack, name), types.ModuleType)
                   or callable(getattr(jupyter_mltrack, name)))}  # autolog: a callable module
    assert public - EXTENSION_HOOKS == set(jupyter_mltrack.__all__) - {"__version__"}
    assert sorted(jupyter_mltrack.__all__[:-1], key=str.lower) == sorted(
        jupyter_mltrack.__all__[:-1], key=str.lower)


def test_every_error_a_user_can_receive_is_exported() -> None:
    raised = {name for name, cls in inspect.getmembers(errors, inspect.isclass)
              if issubclass(cls, errors.MLTrackError)}
    assert raised <= set(jupyter_mltrack.__all__)


def test_exported_names_keep_their_types() -> None:
    """Names are real objects, not a lazy __getattr__ (so type checkers and editors see
    them); only the faces that load Altair, anywidget or the scoring server wait."""
    import jupyter_mltrack as m

    assert m.load_model.__module__ == "jupyter_mltrack.models.load"
    assert m.register_model.__module__ == "jupyter_mltrack.registry.versions"
    assert "load_model" in vars(m) and "WriteFailed" in vars(m)
    code = ("import jupyter_mltrack as m\n"
            "print(sorted(n for n in m.__all__ if n not in vars(m)))")
    waiting = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True).stdout.strip()
    assert waiting == str(sorted(["autolog", "compare", "registry_panel", "reproduce", "run",
                                  "run_notebook", "serve", "show_run"]))


def test_every_exported_name_resolves() -> None:
    for name in jupyter_mltrack.__all__:
        assert getattr(jupyter_mltrack, name) is not None, name


def test_import_does_not_load_heavy_libraries() -> None:
    code = (
        "import sys, jupyter_mltrack\n"
        "heavy = [m for m in ('sqlalchemy', 'pandas', 'altair', 'ipywidgets', 'torch', "
        "'sklearn', 'xgboost', 'lightgbm', 'boto3', 'alembic', 'numpy', 'uvicorn', "
        "'httptools', 'pyarrow') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == ""


def test_serve_is_the_scoring_server_front_door() -> None:
    from jupyter_mltrack.serving.handle import serve

    assert jupyter_mltrack.serve is serve
    assert "serve" in jupyter_mltrack.__all__


def test_project_functions_are_exported_as_functions() -> None:
    import importlib

    # importing the modules first must not turn the exported names into modules
    reproduction = importlib.import_module("jupyter_mltrack.projects.reproduction")
    runner = importlib.import_module("jupyter_mltrack.projects.runner")
    notebooks = importlib.import_module("jupyter_mltrack.projects.notebooks")
    assert jupyter_mltrack.reproduce is reproduction.reproduce
    assert jupyter_mltrack.run is runner.run
    assert jupyter_mltrack.run_notebook is notebooks.run_notebook
