"""Input examples: written beside the model as JSON, read back as a DataFrame or array.

Tables use pandas' ``split`` orient (``{"columns": [...], "data": [[...]]}``), tensors the
TF-serving form (``{"inputs": [...]}``), with ``saved_input_example_info`` in the MLmodel
saying which. ``serving_input_example.json`` holds the same data as a scoring server
request body.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .format import INPUT_EXAMPLE_FILE, SERVING_EXAMPLE_FILE, ModelMeta, model_file
from .signature import ModelSignature, as_table_or_array, enforce_input


def write_input_example(example: Any, folder: Path) -> tuple[Any, dict[str, Any]]:
    """Write ``example``; return it as the model will see it, and the MLmodel info."""
    import numpy as np
    import pandas as pd

    data = as_table_or_array(example)
    if isinstance(data, pd.DataFrame):
        body = json.loads(data.to_json(orient="split", index=False, date_format="iso",
                                       default_handler=str))
        info = {"artifact_path": INPUT_EXAMPLE_FILE, "type": "dataframe",
                "pandas_orient": "split"}
        serving: dict[str, Any] = {"dataframe_split": body}
    elif isinstance(data, np.ndarray):
        body = {"inputs": data.tolist()}
        info = {"artifact_path": INPUT_EXAMPLE_FILE, "type": "ndarray", "format": "tf-serving"}
        serving = body
    else:
        from ..errors import InvalidParameter

        raise InvalidParameter(
            f"An input example is a DataFrame, a numpy array, a list of records or a dict "
            f"of columns, not {type(example).__name__}."
        )
    text = json.dumps(body, default=_json_default)
    (folder / INPUT_EXAMPLE_FILE).write_text(text, encoding="utf-8")
    (folder / SERVING_EXAMPLE_FILE).write_text(
        json.dumps(serving, default=_json_default, indent=2), encoding="utf-8")
    info["serving_input_path"] = SERVING_EXAMPLE_FILE
    return data, info


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray)):
        import base64

        return base64.b64encode(value).decode("ascii")
    return str(value)


def read_input_example(path: Path, meta: ModelMeta) -> Any:
    """The saved input example as a DataFrame (tables) or numpy array (tensors)."""
    info = meta.saved_input_example_info
    if not info:
        return None
    file = model_file(path, info.get("artifact_path", INPUT_EXAMPLE_FILE),
                      "saved_input_example_info.artifact_path")
    if not file.is_file():
        return None
    data = json.loads(file.read_text(encoding="utf-8"))
    return decode_example(data, info, meta.signature)


def decode_example(data: Any, info: dict[str, Any], signature: ModelSignature | None) -> Any:
    import numpy as np
    import pandas as pd

    if info.get("type") == "dataframe":
        frame = pd.DataFrame(data["data"], columns=data["columns"])
        if signature is not None and signature.inputs is not None \
                and not signature.inputs.is_tensor:
            return enforce_input(frame, signature.inputs)
        return frame
    inputs = data.get("inputs", data) if isinstance(data, dict) else data
    if isinstance(inputs, dict):
        return {k: np.asarray(v) for k, v in inputs.items()}
    arr = np.asarray(inputs)
    if signature is not None and signature.inputs is not None and signature.inputs.is_tensor:
        return enforce_input(arr, signature.inputs)
    return arr
