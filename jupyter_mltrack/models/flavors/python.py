"""Plain Python models: a :class:`~jupyter_mltrack.models.PythonModel` subclass, or any
callable. Both are stored with cloudpickle, so loading one from outside the store needs
``trust=True``.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from ..._importers import import_optional
from ...errors import InvalidParameter, NotFound, UntrustedModel
from ..format import model_file
from ..pyfunc import PythonModel, PythonModelContext, takes_context
from . import LoadContext, SaveContext

MODEL_FILE = "python_model.pkl"
ARTIFACTS_DIR = "artifacts"


class PythonFlavor:
    """``PythonModel`` subclasses and callables (the last flavor asked)."""

    name = "python_function"
    priority = -100

    def can_save(self, model: Any) -> bool:
        return isinstance(model, PythonModel) or (callable(model) and not isinstance(model, type))

    def save(self, model: Any, ctx: SaveContext) -> dict[str, Any]:
        from ...artifacts import clean_artifact_path

        cloudpickle = import_optional("cloudpickle", "models")
        artifacts = ctx.options.pop("artifacts", None) or {}
        model_config = ctx.options.pop("model_config", None) or {}
        if artifacts and not isinstance(model, PythonModel):
            raise InvalidParameter("artifacts= is for PythonModel subclasses (load_context).")
        conf: dict[str, Any] = {
            "python_model": MODEL_FILE,
            "kind": "python_model" if isinstance(model, PythonModel) else "callable",
            "cloudpickle_version": cloudpickle.__version__,
        }
        saved = {}
        for name, local in artifacts.items():
            source = Path(local)
            if not source.exists():
                raise NotFound(f"Artifact {name!r}: {source} does not exist.")
            rel = f"{ARTIFACTS_DIR}/{clean_artifact_path(name)}/{source.name}"
            target = ctx.path / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            if source.is_dir():
                shutil.copytree(source, target)
            else:
                shutil.copy2(source, target)
            saved[name] = rel
        if saved:
            conf["artifacts"] = saved
        if model_config:
            conf["model_config"] = model_config
        try:
            (ctx.path / MODEL_FILE).write_bytes(cloudpickle.dumps(model))
        except Exception as exc:
            raise InvalidParameter(
                f"This {type(model).__name__} cannot be pickled ({type(exc).__name__}: {exc}). "
                "Keep open files, connections and locks out of the model's attributes; "
                "open them in load_context() instead."
            ) from exc
        return conf

    def load(self, ctx: LoadContext) -> Any:
        if not ctx.trusted:
            raise UntrustedModel(
                "This Python model is stored with pickle, and loading a pickle that "
                "log_model did not write into this store can run any code. If you trust its "
                "source, pass trust=True."
            )
        import pickle

        with open(ctx.file("python_model", MODEL_FILE), "rb") as handle:
            model = pickle.load(handle)  # noqa: S301 - only for trusted sources
        if isinstance(model, PythonModel):
            context = PythonModelContext(
                artifacts={k: str(model_file(ctx.path, v, f"artifacts.{k}"))
                           for k, v in (ctx.conf.get("artifacts") or {}).items()},
                model_config=dict(ctx.conf.get("model_config") or {}),
            )
            model.load_context(context)
            model._mltrack_context = context  # type: ignore[attr-defined]
        return model

    def predict(self, native: Any, data: Any, params: dict[str, Any]) -> Any:
        if isinstance(native, PythonModel):
            context = getattr(native, "_mltrack_context", PythonModelContext())
            if takes_context(native.predict):
                return native.predict(context, data, params=params or None)
            return native.predict(data, params=params or None)  # type: ignore[call-arg]
        if params:
            return native(data, params=params)
        return native(data)

    def modules(self, model: Any, conf: dict[str, Any]) -> list[str]:
        return ["cloudpickle"]


flavor = PythonFlavor()
