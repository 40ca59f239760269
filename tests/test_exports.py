"""The front door: exactly these names are public, and importing stays light."""

import inspect
import types

import jupyter_mltrack
from jupyter_mltrack import errors
from tests.fresh import fresh_stdout

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
    """Names resolve to the real objects of the modules that define them (the faces,
    autolog a callable module, as before)."""
    import jupyter_mltrack as m

    assert m.load_model.__module__ == "jupyter_mltrack.models.load"
    assert m.register_model.__module__ == "jupyter_mltrack.registry.versions"
    assert isinstance(m.autolog, types.ModuleType) and callable(m.autolog)
    assert "WriteFailed" in vars(m)


def test_type_checkers_see_what_first_use_imports() -> None:
    """The imports under ``TYPE_CHECKING`` (what mypy and editors read) name exactly the
    modules that ``__getattr__`` imports on first use, name for name."""
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(jupyter_mltrack))
    block = next(node for node in tree.body if isinstance(node, ast.If)
                 and ast.unparse(node.test) == "typing.TYPE_CHECKING")
    seen = {alias.name: f"jupyter_mltrack.{node.module}" for node in block.body
            if isinstance(node, ast.ImportFrom) for alias in node.names}
    assert seen == jupyter_mltrack._ON_FIRST_USE
    eager = {n for n in jupyter_mltrack.__all__ if n not in jupyter_mltrack._ON_FIRST_USE}
    assert eager == {n for n, v in vars(errors).items() if isinstance(v, type)
                     and issubclass(v, (errors.MLTrackError, UserWarning))
                     } | {"MlflowException", "__version__"}


def test_import_loads_no_service_until_a_name_is_used() -> None:
    """``import jupyter_mltrack`` (and so every ``mltrack`` command) loads the errors
    only; the tracking, registry and model modules load when a name needs them."""
    code = (
        "import sys, jupyter_mltrack as m\n"
        "ours = sorted(n for n in sys.modules if n.startswith('jupyter_mltrack.'))\n"
        "m.load_model\n"
        "print(ours, 'jupyter_mltrack.models' in sys.modules,"
        " 'jupyter_mltrack.registry' in sys.modules)\n"
    )
    out = fresh_stdout(code)
    assert out == ("['jupyter_mltrack._version', 'jupyter_mltrack.errors', "
                   "'jupyter_mltrack.exceptions'] True False")


def test_star_import_binds_every_exported_name() -> None:
    """In a fresh interpreter, ``from jupyter_mltrack import *`` binds every name of
    ``__all__`` to the object the attribute gives."""
    code = (
        "import jupyter_mltrack as m\n"
        "space = {}\n"
        "exec('from jupyter_mltrack import *', space)\n"
        "print(sorted(n for n in m.__all__ if space.get(n) is not getattr(m, n)))\n"
        "print(sorted(set(m.__all__) - set(dir(m))))\n"
    )
    out = fresh_stdout(code).split()
    assert out == ["[]", "[]"]


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
    out = fresh_stdout(code)
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
