"""The front door: exactly these names are public, and importing stays light."""

import subprocess
import sys

import jupyter_mltrack


def test_exported_names_are_exactly_all() -> None:
    public = {n for n in dir(jupyter_mltrack) if not n.startswith("_")}
    modules = {"entities", "errors", "tracking", "store", "artifacts", "uris", "cli",
               "notebook", "widgets", "models", "registry", "serving", "projects", "server"}
    extension_hooks = {"load_ipython_extension", "unload_ipython_extension"}
    assert public - modules - extension_hooks == set(jupyter_mltrack.__all__) - {"__version__"}


def test_every_exported_name_resolves() -> None:
    for name in jupyter_mltrack.__all__:
        assert getattr(jupyter_mltrack, name) is not None, name


def test_import_does_not_load_heavy_libraries() -> None:
    code = (
        "import sys, jupyter_mltrack\n"
        "heavy = [m for m in ('sqlalchemy', 'pandas', 'altair', 'ipywidgets', 'torch', "
        "'sklearn', 'xgboost', 'lightgbm', 'boto3', 'alembic', 'numpy') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == ""


def test_project_functions_are_exported_as_functions() -> None:
    import importlib

    # importing the modules first must not turn the exported names into modules
    reproduction = importlib.import_module("jupyter_mltrack.projects.reproduction")
    runner = importlib.import_module("jupyter_mltrack.projects.runner")
    notebooks = importlib.import_module("jupyter_mltrack.projects.notebooks")
    assert jupyter_mltrack.reproduce is reproduction.reproduce
    assert jupyter_mltrack.run is runner.run
    assert jupyter_mltrack.run_notebook is notebooks.run_notebook
