"""PyTorch modules: TorchScript, or a state dict plus the importable module class.

A ``torch.jit.ScriptModule`` is saved as it is. Any other ``torch.nn.Module`` is saved as
its state dict (loaded back with ``weights_only=True``, so no pickle runs) and the
``module:qualname`` of its class, built again on load with ``init_args``/``init_kwargs``
(JSON values) passed to ``log_model``. The class must be importable: defined in a module
that is installed or shipped with ``code_paths``.
"""

from __future__ import annotations

import json
from typing import Any

from ..._importers import import_optional
from ...errors import InvalidParameter
from . import LoadContext, SaveContext, class_path, import_class, in_sys_modules

SCRIPT_FILE = "model.pt"
STATE_FILE = "state_dict.pt"


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
            torch.jit.save(model, str(ctx.path / SCRIPT_FILE))
            conf.update(model_format="torchscript", model_data=SCRIPT_FILE)
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
        conf.update(model_format="state_dict", model_data=STATE_FILE,
                    module_class=class_path(cls), init_args=init_args, init_kwargs=init_kwargs)
        return conf

    def load(self, ctx: LoadContext) -> Any:
        torch = import_optional("torch", "torch")
        conf = ctx.conf
        path = str(ctx.file("model_data"))
        if conf.get("model_format") == "torchscript":
            model = torch.jit.load(path, map_location="cpu")
        else:
            # importing the class's module runs it: only torch's own, modules already
            # imported here, or any module when the model's source is trusted
            cls = import_class(conf.get("module_class", ""), trusted=lambda: ctx.trusted,
                               own_packages=("torch",))
            if not (isinstance(cls, type) and issubclass(cls, torch.nn.Module)):
                raise InvalidParameter(f"{conf['module_class']} is not a torch.nn.Module.")
            model = cls(*conf.get("init_args", ()), **conf.get("init_kwargs", {}))
            state = torch.load(path, map_location="cpu", weights_only=True)
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
