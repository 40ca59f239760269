"""PyTorch modules: TorchScript, or a state dict plus the importable module class.

A ``torch.jit.ScriptModule`` is saved as it is, where MLflow's loader reads it
(``model_data: data``, ``data/model.pth``; version 0.1 wrote ``model_data: model.pt``).
Any other ``torch.nn.Module`` is saved as its state dict (``state_dict: state_dict.pt``,
loaded back with ``weights_only=True``, so no pickle runs) and the
``module:qualname`` of its class (``module_class``), built again on load with
``init_args``/``init_kwargs`` (JSON values) passed to ``log_model``. The class must be
importable: defined in a module that is installed or shipped with ``code_paths``.

For MLflow, such a module is also pickled whole as MLflow writes it (``model_data: data``,
``data/model.pth``); this package never unpickles that file of its own folders. Version
0.1 named the state dict ``model_data``. Folders MLflow wrote load here: TorchScript as
such, a pickled module or a ``torch.export`` program only with ``trust=True``.
"""

from __future__ import annotations

import json
from typing import Any

from ..._importers import import_optional
from ...errors import InvalidParameter, UntrustedModel
from . import LoadContext, SaveContext, class_path, import_class, in_sys_modules

STATE_FILE = "state_dict.pt"
#: MLflow's layout of a pickled module: a folder with the pickle and the pickle module's name
MLFLOW_DIR = "data"
MLFLOW_PICKLE = "model.pth"
MLFLOW_EXPORT = "model.pt2"
MLFLOW_PICKLE_MODULE = "pickle_module_info.txt"


class PyTorchFlavor:
    """``torch.nn.Module`` (TorchScript or state dict)."""

    name = "pytorch"
    priority = 20

    def can_save(self, model: Any) -> bool:
        if not in_sys_modules("torch"):
            return False
        import torch

        return isinstance(model, torch.nn.Module)

    def save(self, model: Any, ctx: SaveContext) -> dict[str, Any]:
        torch = import_optional("torch", "torch")
        conf: dict[str, Any] = {"pytorch_version": torch.__version__.split("+")[0]}
        init_args = list(ctx.options.pop("init_args", ()))
        init_kwargs = dict(ctx.options.pop("init_kwargs", {}))
        if isinstance(model, torch.jit.ScriptModule):
            folder = ctx.path / MLFLOW_DIR
            folder.mkdir()
            torch.jit.save(model, str(folder / MLFLOW_PICKLE))
            # MLflow's loader reads the archive with torch.load, which hands TorchScript to
            # torch.jit.load only when given a pickle module
            (folder / MLFLOW_PICKLE_MODULE).write_text("pickle", encoding="utf-8")
            conf.update(model_format="torchscript", model_data=MLFLOW_DIR)
            return conf
        cls = type(model)
        if cls.__module__ == "__main__":
            raise InvalidParameter(
                f"{cls.__name__} is defined in this notebook or script, so another process "
                "cannot build it. Move the class into a module file and pass "
                "code_paths=['that_file.py'], or log torch.jit.script(model) instead."
            )
        try:
            json.dumps([init_args, init_kwargs])
        except TypeError as exc:
            raise InvalidParameter(
                f"init_args and init_kwargs must be JSON values (numbers, text, lists): {exc}"
            ) from exc
        _check_rebuild(torch, cls, init_args, init_kwargs, model)
        torch.save(model.state_dict(), str(ctx.path / STATE_FILE))
        conf.update(model_format="state_dict", model_data=_save_for_mlflow(torch, model, ctx),
                    state_dict=STATE_FILE, module_class=class_path(cls), init_args=init_args,
                    init_kwargs=init_kwargs)
        return conf

    def python_function(self, conf: dict[str, Any]) -> dict[str, Any]:
        return {"loader_module": "mlflow.pytorch", "data": conf["model_data"],
                "pickle_module_name": "pickle"}

    def load(self, ctx: LoadContext) -> Any:
        torch = import_optional("torch", "torch")
        conf = ctx.conf
        if conf.get("model_format") == "torchscript":
            path = ctx.file("model_data")
            if path.is_dir():
                path = ctx.file("model_data", inside=MLFLOW_PICKLE)
            model = torch.jit.load(str(path), map_location="cpu")
        elif conf.get("model_format") != "state_dict":
            model, exported = _load_mlflow(torch, ctx)
            if exported:
                return model  # a torch.export program has no eval()
        else:
            path = ctx.file("state_dict") if conf.get("state_dict") else \
                ctx.file("model_data")
            # importing the class's module runs it: only torch's own, modules already
            # imported here, or any module when the model's source is trusted
            cls = import_class(conf.get("module_class", ""), trusted=lambda: ctx.trusted,
                               own_packages=("torch",))
            if not (isinstance(cls, type) and issubclass(cls, torch.nn.Module)):
                raise InvalidParameter(f"{conf['module_class']} is not a torch.nn.Module.")
            model = cls(*conf.get("init_args", ()), **conf.get("init_kwargs", {}))
            state = torch.load(str(path), map_location="cpu", weights_only=True)
            model.load_state_dict(state)
        model.eval()
        return model

    def predict(self, native: Any, data: Any, params: dict[str, Any]) -> Any:
        import numpy as np
        import torch

        def tensor(value: Any) -> Any:
            if hasattr(value, "to_numpy"):
                value = value.to_numpy()
            arr = np.asarray(value)
            if arr.dtype.kind == "f":
                want = _param_dtype(native)
                if want is not None and want.is_floating_point:
                    return torch.from_numpy(np.ascontiguousarray(arr)).to(want)
            return torch.from_numpy(np.ascontiguousarray(arr))

        with torch.no_grad():
            if isinstance(data, dict):
                out = native(**{k: tensor(v) for k, v in data.items()}, **params)
            else:
                out = native(tensor(data), **params)
        return _to_numpy(out)

    def walks_model(self, conf: dict[str, Any]) -> bool:
        return conf.get("model_format") != "torchscript"

    def modules(self, model: Any, conf: dict[str, Any]) -> list[str]:
        return ["torch", "numpy"]


def _save_for_mlflow(torch: Any, model: Any, ctx: SaveContext) -> str:
    """Pickle the whole module as MLflow's loader reads it; return ``model_data``."""
    import pickle
    import warnings

    folder = ctx.path / MLFLOW_DIR
    folder.mkdir()
    try:
        torch.save(model, str(folder / MLFLOW_PICKLE), pickle_module=pickle)
    except Exception as exc:  # noqa: BLE001 - the state dict still serves this package
        import shutil

        shutil.rmtree(folder)
        warnings.warn(
            f"{type(model).__name__} cannot be pickled ({type(exc).__name__}: {exc}), so "
            "MLflow will not load this model folder (this package will). Keep open files "
            "and locks out of the module's attributes, or log torch.jit.script(model).",
            stacklevel=5)
        return STATE_FILE
    (folder / MLFLOW_PICKLE_MODULE).write_text("pickle", encoding="utf-8")
    return MLFLOW_DIR


def _load_mlflow(torch: Any, ctx: LoadContext) -> tuple[Any, bool]:
    """A module as MLflow saved it: TorchScript, a pickled module or a torch.export program
    (``model_data`` a file, or a folder holding model.pth or model.pt2); and whether it is
    a torch.export program."""
    path = ctx.file("model_data", MLFLOW_DIR)
    if path.is_dir():
        exported = ctx.file("model_data", inside=MLFLOW_EXPORT)
        if exported.is_file() and not (path / MLFLOW_PICKLE).exists():
            if not ctx.trusted:
                raise UntrustedModel("This PyTorch model is a torch.export program; loading "
                                     "one that log_model did not write into this store can run "
                                     "code. If you trust its source, pass trust=True.")
            return torch.export.load(str(exported)).module(), True
        path = ctx.file("model_data", inside=MLFLOW_PICKLE)
    try:
        return torch.jit.load(str(path), map_location="cpu"), False  # runs no pickle
    except RuntimeError:
        pass
    if not ctx.trusted:
        raise UntrustedModel(
            "This PyTorch model is stored with pickle, and loading a pickle that log_model "
            "did not write into this store can run any code. If you trust its source, pass "
            "trust=True."
        )
    return torch.load(str(path), map_location="cpu", weights_only=False), False


def _check_rebuild(torch: Any, cls: type, args: list[Any], kwargs: dict[str, Any],
                   model: Any) -> None:
    """Build the class on the meta device (no memory) to be sure loading will work."""
    try:
        with torch.device("meta"):
            probe = cls(*args, **kwargs)
    except Exception as exc:
        raise InvalidParameter(
            f"{cls.__name__}(*init_args, **init_kwargs) fails ({type(exc).__name__}: {exc}); "
            "pass the constructor arguments as log_model(..., init_args=[...], "
            "init_kwargs={...})."
        ) from exc
    want = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    got = {k: tuple(v.shape) for k, v in probe.state_dict().items()}
    if want != got:
        diff = sorted(set(want.items()) ^ set(got.items()))[:3]
        raise InvalidParameter(
            f"{cls.__name__} built from init_args/init_kwargs does not match the model's "
            f"weights (first differences: {diff}); pass the arguments the model was built with."
        )


def _param_dtype(module: Any) -> Any:
    for param in module.parameters():
        return param.dtype
    return None


def _to_numpy(out: Any) -> Any:
    if hasattr(out, "detach"):
        return out.detach().cpu().numpy()
    if isinstance(out, (list, tuple)):
        return type(out)(_to_numpy(o) for o in out)
    if isinstance(out, dict):
        return {k: _to_numpy(v) for k, v in out.items()}
    return out


flavor = PyTorchFlavor()
