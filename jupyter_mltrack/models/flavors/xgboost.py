"""XGBoost boosters and their scikit-learn wrappers, in XGBoost's own JSON or UBJ format.

MLflow's layout: ``data`` names the file, ``model_class`` is a dotted path
(``xgboost.sklearn.XGBClassifier``); version 0.1 wrote ``xgboost.sklearn:XGBClassifier``,
which still loads.
"""

from __future__ import annotations

from typing import Any

from ..._importers import import_optional
from ...errors import InvalidParameter
from . import LoadContext, SaveContext, dotted_class_path, import_class, in_sys_modules


class XGBoostFlavor:
    """``xgboost.Booster`` and ``XGBClassifier``/``XGBRegressor``/``XGBRanker``..."""

    name = "xgboost"
    priority = 20

    def can_save(self, model: Any) -> bool:
        if not in_sys_modules("xgboost"):
            return False
        import xgboost

        return isinstance(model, (xgboost.Booster, xgboost.XGBModel))

    def save(self, model: Any, ctx: SaveContext) -> dict[str, Any]:
        xgb = import_optional("xgboost", "models")
        fmt = ctx.options.pop("model_format", "json")
        if fmt not in ("json", "ubj"):
            raise InvalidParameter(f"model_format is 'json' or 'ubj', not {fmt!r}.")
        data = f"model.{fmt}"
        model.save_model(str(ctx.path / data))
        return {"data": data, "model_class": dotted_class_path(model), "model_format": fmt,
                "xgb_version": xgb.__version__}

    def python_function(self, conf: dict[str, Any]) -> dict[str, Any]:
        return {"loader_module": "mlflow.xgboost", "data": conf["data"]}

    def load(self, ctx: LoadContext) -> Any:
        import_optional("xgboost", "models")
        cls = import_class(ctx.conf.get("model_class", "xgboost.core.Booster"),
                           allowed_prefixes=("xgboost",))
        model = cls()
        model.load_model(str(ctx.file("data")))
        return model

    def predict(self, native: Any, data: Any, params: dict[str, Any]) -> Any:
        import xgboost

        if isinstance(native, xgboost.Booster):
            return native.inplace_predict(data, **params)
        return native.predict(data, **params)

    def walks_model(self, conf: dict[str, Any]) -> bool:
        return False

    def modules(self, model: Any, conf: dict[str, Any]) -> list[str]:
        modules = ["xgboost", "numpy"]
        if not conf.get("model_class", "").endswith((":Booster", ".Booster")):
            modules.append("sklearn")
        return modules


flavor = XGBoostFlavor()
