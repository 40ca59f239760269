"""The scoring protocol, in process: every request shape, CSV, bad input, limits, errors."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from jupyter_mltrack.models import PythonModel, infer_signature, save_model
from jupyter_mltrack.serving.app import ScoringApp
from jupyter_mltrack.serving.follow import ServedModel
from tests.serving_helpers import COLUMNS, asgi, save_sklearn, training_frame

ROWS = [[0.5, -1.0, 2.0, 3], [-2.0, 0.1, 0.3, 0], [1.5, 1.5, -0.5, 4]]
FRAME = pd.DataFrame(ROWS, columns=[*COLUMNS, "n"])


@pytest.fixture(scope="module")
def sklearn_folder(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    folder = tmp_path_factory.mktemp("serving") / "model"
    model = save_sklearn(folder)
    return folder, model


@pytest.fixture
def app(sklearn_folder: tuple[Path, Any]) -> ScoringApp:
    return ScoringApp(ServedModel(sklearn_folder[0]), max_body_bytes=200_000)


@pytest.fixture
def expected(sklearn_folder: tuple[Path, Any]) -> list[int]:
    return sklearn_folder[1].predict(FRAME).tolist()


def invoke(app: ScoringApp, body: Any, content_type: str = "application/json") -> Any:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return asgi(app, "POST", "/invocations", content=data,
                headers={"content-type": content_type})


SHAPES = {
    "dataframe_split": {"dataframe_split": {"columns": [*COLUMNS, "n"], "data": ROWS}},
    "dataframe_split with index": {"dataframe_split": {"columns": [*COLUMNS, "n"], "data": ROWS,
                                                       "index": [10, 11, 12]}},
    "dataframe_split, columns reordered": {"dataframe_split": {
        "columns": ["n", "c", "b", "a"], "data": [r[::-1] for r in ROWS]}},
    "dataframe_records": {"dataframe_records": FRAME.to_dict(orient="records")},
    "instances as records": {"instances": FRAME.to_dict(orient="records")},
    "instances as rows": {"instances": ROWS},
    "inputs as columns": {"inputs": FRAME.to_dict(orient="list")},
    "inputs as rows": {"inputs": ROWS},
    "with empty params": {"dataframe_split": {"columns": [*COLUMNS, "n"], "data": ROWS},
                          "params": {}},
}


@pytest.mark.parametrize("shape", list(SHAPES))
def test_every_json_request_shape_scores_like_the_model(app, expected, shape) -> None:
    response = invoke(app, SHAPES[shape])
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"predictions": expected}


@pytest.mark.parametrize("content_type", ["text/csv", "text/csv; charset=utf-8"])
def test_csv_body(app, expected, content_type) -> None:
    response = invoke(app, FRAME.to_csv(index=False).encode(), content_type)
    assert response.status_code == 200, response.text
    assert response.json() == {"predictions": expected}


def test_json_content_type_with_charset(app, expected) -> None:
    response = invoke(app, SHAPES["dataframe_split"], "application/json; charset=utf-8")
    assert response.json() == {"predictions": expected}


def test_ping_health_version_metadata(app, sklearn_folder) -> None:
    from jupyter_mltrack import __version__

    ping = asgi(app, "GET", "/ping")
    assert ping.status_code == 200
    assert asgi(app, "HEAD", "/ping").status_code == 200
    health = asgi(app, "GET", "/health").json()
    assert health["status"] == "ok"
    assert asgi(app, "GET", "/version").text == __version__
    meta = asgi(app, "GET", "/metadata").json()
    assert meta["model_uri"] == str(sklearn_folder[0])
    assert meta["version"] is None and meta["follows_registry"] is False
    assert meta["flavor"] == "sklearn"
    assert [c["name"] for c in meta["signature"]["inputs"]] == [*COLUMNS, "n"]
    assert meta["signature"]["inputs"][3]["type"] == "long"


def _error(response: Any, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error_code", "message"}
    return str(body["message"])


def test_malformed_json_is_400(app) -> None:
    assert "not valid JSON" in _error(invoke(app, b'{"dataframe_split": '), 400)
    assert "JSON object" in _error(invoke(app, b"[1, 2]"), 400)
    assert "not valid JSON" in _error(invoke(app, b"\xff\xfe"), 400)


def test_request_without_or_with_two_input_keys_is_400(app) -> None:
    message = _error(invoke(app, {"data": ROWS}), 400)
    assert "dataframe_split" in message and "'data'" in message
    both = {"inputs": ROWS, "instances": ROWS}
    assert "exactly one" in _error(invoke(app, both), 400)


def test_split_rows_of_the_wrong_length_are_400(app) -> None:
    body = {"dataframe_split": {"columns": [*COLUMNS, "n"], "data": [[1.0, 2.0]]}}
    assert "row 0 has 2 value(s)" in _error(invoke(app, body), 400)


def test_missing_column_is_400_naming_it(app) -> None:
    body = {"dataframe_records": [{"a": 1.0, "b": 2.0, "n": 1}]}
    message = _error(invoke(app, body), 400)
    assert "missing column(s) 'c'" in message


def test_wrong_column_type_is_400_naming_it(app) -> None:
    rows = [dict(r, n=0.5) for r in FRAME.to_dict(orient="records")]
    message = _error(invoke(app, {"dataframe_records": rows}), 400)
    assert "column 'n'" in message and "long" in message
    rows = [dict(r, b="high") for r in FRAME.to_dict(orient="records")]
    assert "column 'b'" in _error(invoke(app, {"dataframe_records": rows}), 400)


def test_bad_csv_is_400(app) -> None:
    assert "empty" in _error(invoke(app, b"  ", "text/csv"), 400)
    assert "column(s) 'b', 'c', 'n'" in _error(invoke(app, b"a\n1.0\n", "text/csv"), 400)


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded",
                                          ""])
def test_unsupported_content_type_is_415(app, content_type) -> None:
    message = _error(invoke(app, b"a,b\n1,2\n", content_type), 415)
    assert "text/csv" in message and "application/json" in message


def test_oversized_body_is_413_by_its_declared_length(app) -> None:
    body = json.dumps({"inputs": [[0.0, 0.0, 0.0, 0]] * 20_000}).encode()
    assert len(body) > 200_000
    message = _error(invoke(app, body), 413)
    assert "200,000 bytes" in message and "--max-body-size" in message


def test_oversized_body_is_413_when_streamed_without_a_length(app) -> None:
    async def chunks() -> Any:
        for _ in range(50):
            yield b" " * 10_000

    assert "200,000 bytes" in _error(asgi(app, "POST", "/invocations", content=chunks(),
                                          headers={"content-type": "application/json"}), 413)


def test_unknown_route_404_and_wrong_method_405(app) -> None:
    assert "/invocations" in _error(asgi(app, "GET", "/predict"), 404)
    response = asgi(app, "GET", "/invocations")
    assert "POST" in _error(response, 405)
    assert response.headers["allow"] == "POST"
    assert _error(asgi(app, "POST", "/ping"), 405)


def test_large_body_is_scored_off_the_event_loop(app, sklearn_folder) -> None:
    frame, _ = training_frame(seed=3, rows=2000)
    body = {"dataframe_split": json.loads(frame.to_json(orient="split", index=False))}
    response = invoke(app, body)
    assert len(json.dumps(body)) > 64 * 1024
    assert response.status_code == 200
    assert response.json()["predictions"] == sklearn_folder[1].predict(frame).tolist()


def test_concurrent_requests_each_get_their_own_answer(app, sklearn_folder) -> None:
    import httpx

    frames = [training_frame(seed=s, rows=1 + s)[0] for s in range(24)]

    async def go() -> list[Any]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return await asyncio.gather(*(client.post(
                "/invocations", json={"dataframe_records": f.to_dict(orient="records")})
                for f in frames))

    responses = asyncio.run(go())
    for frame, response in zip(frames, responses, strict=True):
        assert response.status_code == 200
        assert response.json()["predictions"] == sklearn_folder[1].predict(frame).tolist()


# -- python models: params, failures, odd outputs -----------------------------------------


class Scaled(PythonModel):
    """Returns x * scale; raises on negative input, as a buggy model would."""

    def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
        if (model_input["x"] < 0).any():
            raise ValueError("negative x is not supported")
        scale = (params or {}).get("scale", 1.0)
        out = model_input["x"] * scale
        return out.where(model_input["x"] != 7, np.nan)


@pytest.fixture(scope="module")
def python_app(tmp_path_factory: pytest.TempPathFactory) -> ScoringApp:
    folder = tmp_path_factory.mktemp("serving-py") / "model"
    example = pd.DataFrame({"x": [1.0, 2.0]})
    signature = infer_signature(example, example["x"], params={"scale": 1.0})
    save_model(Scaled(), folder, signature=signature, requirements=[], progress=False)
    return ScoringApp(ServedModel(folder, trust=True))


def test_params_reach_the_model(python_app) -> None:
    body = {"inputs": {"x": [1.0, 2.0]}, "params": {"scale": 3.0}}
    assert invoke(python_app, body).json() == {"predictions": [3.0, 6.0]}
    assert invoke(python_app, {"inputs": {"x": [1.0]}}).json() == {"predictions": [1.0]}


def test_unknown_or_wrong_params_are_400(python_app) -> None:
    message = _error(invoke(python_app, {"inputs": {"x": [1.0]}, "params": {"speed": 2}}), 400)
    assert "'speed'" in message and "scale" in message
    message = _error(invoke(python_app, {"inputs": {"x": [1.0]}, "params": {"scale": "x"}}), 400)
    assert "'scale'" in message
    assert "params" in _error(invoke(python_app, {"inputs": {"x": [1.0]}, "params": [1]}), 400)


def test_a_model_that_raises_is_500_and_the_server_keeps_serving(python_app) -> None:
    message = _error(invoke(python_app, {"inputs": {"x": [-1.0]}}), 500)
    assert message == "The model raised ValueError: negative x is not supported"
    assert invoke(python_app, {"inputs": {"x": [2.0]}}).json() == {"predictions": [2.0]}


def test_nan_predictions_are_null(python_app) -> None:
    response = invoke(python_app, {"inputs": {"x": [7.0, 1.0]}})
    assert response.json() == {"predictions": [None, 1.0]}


def test_access_log_is_one_json_line_per_request(app, caplog) -> None:
    caplog.set_level("INFO", logger="jupyter_mltrack.serving.access")
    invoke(app, SHAPES["dataframe_split"])
    invoke(app, b"{", "application/json")
    records = [json.loads(r.getMessage()) for r in caplog.records
               if r.name == "jupyter_mltrack.serving.access"]
    assert [(r["method"], r["path"], r["status"]) for r in records] == [
        ("POST", "/invocations", 200), ("POST", "/invocations", 400)]
    assert all(r["duration_ms"] >= 0 and r["bytes_in"] > 0 for r in records)


# -- a model of double columns: numeric rows reach it as an array, without pandas ----------

FLOAT_ROWS = [[0.5, -1.0, 2.0], [-2.0, 0.1, 0.3], [1.5, 1, -0.5]]  # an int among the floats


@pytest.fixture(scope="module")
def float_folder(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    from sklearn.linear_model import LogisticRegression

    folder = tmp_path_factory.mktemp("serving-floats") / "model"
    frame, y = training_frame()
    model = LogisticRegression().fit(frame[COLUMNS], y)
    save_model(model, folder, input_example=frame[COLUMNS][:3], progress=False)
    return folder, model


@pytest.fixture(scope="module")
def float_app(float_folder: tuple[Path, Any]) -> ScoringApp:
    return ScoringApp(ServedModel(float_folder[0]))


FLOAT_SHAPES = {
    "dataframe_split": {"dataframe_split": {"columns": COLUMNS, "data": FLOAT_ROWS}},
    "dataframe_split with index": {"dataframe_split": {"columns": COLUMNS, "data": FLOAT_ROWS,
                                                       "index": [4, 5, 6]}},
    "dataframe_split, columns reordered": {"dataframe_split": {
        "columns": COLUMNS[::-1], "data": [r[::-1] for r in FLOAT_ROWS]}},
    "dataframe_records": {"dataframe_records": [dict(zip(COLUMNS, r, strict=True))
                                                for r in FLOAT_ROWS]},
    "records with an extra key": {"dataframe_records": [
        {**dict(zip(COLUMNS, r, strict=True)), "note": "x"} for r in FLOAT_ROWS]},
    "records, keys in another order": {"dataframe_records": [
        dict(zip(COLUMNS[::-1], r[::-1], strict=True)) for r in FLOAT_ROWS]},
    "instances as rows": {"instances": FLOAT_ROWS},
    "inputs as rows": {"inputs": FLOAT_ROWS},
    "inputs as columns": {"inputs": {c: [r[i] for r in FLOAT_ROWS]
                                     for i, c in enumerate(COLUMNS)}},
    "a whole number past 2**63": {"inputs": [[2**70, 0.0, 0.0]]},
}


@pytest.mark.parametrize("shape", list(FLOAT_SHAPES))
def test_float_model_scores_every_shape_as_from_a_dataframe(float_app, float_folder,
                                                            shape) -> None:
    body = FLOAT_SHAPES[shape]
    rows = [[2.0**70, 0.0, 0.0]] if "2**63" in shape else FLOAT_ROWS
    expected = float_folder[1].predict(pd.DataFrame(rows, columns=COLUMNS)).tolist()
    response = invoke(float_app, body)
    assert response.status_code == 200, response.text
    assert response.json() == {"predictions": expected}


def test_float_model_refuses_what_a_dataframe_refuses(float_app) -> None:
    def rows(value: Any) -> dict[str, Any]:
        return {"dataframe_split": {"columns": COLUMNS, "data": [[0.5, value, 1.0]]}}

    message = _error(invoke(float_app, rows(True)), 400)
    assert "column 'b'" in message and "double" in message
    message = _error(invoke(float_app, rows("high")), 400)
    assert "column 'b'" in message and "double" in message
    message = _error(invoke(float_app, rows(None)), 500)  # NaN reaches the model
    assert "NaN" in message
    short = {"dataframe_split": {"columns": COLUMNS, "data": [[0.5, 1.0]]}}
    assert "row 0 has 2 value(s)" in _error(invoke(float_app, short), 400)
    message = _error(invoke(float_app, {"dataframe_records": [{"a": 1.0, "b": 2.0}]}), 400)
    assert "missing column(s) 'c'" in message


def test_signature_names_other_than_the_fitted_ones_still_fail_in_the_model(tmp_path) -> None:
    """The array path is only for a model fitted on the signature's own column names:
    scikit-learn's check of the names still answers for any other."""
    from sklearn.linear_model import LogisticRegression

    frame, y = training_frame()
    model = LogisticRegression().fit(frame[COLUMNS], y)
    renamed = frame[COLUMNS].set_axis(["x", "y", "z"], axis=1)
    save_model(model, tmp_path / "m", signature=infer_signature(renamed[:3]), progress=False)
    served = ServedModel(tmp_path / "m")
    assert served.current.model.array_input is None
    body = {"dataframe_split": {"columns": ["x", "y", "z"], "data": FLOAT_ROWS}}
    assert "feature names" in _error(invoke(ScoringApp(served), body), 500)


# A fresh process: load a double-column model, score numeric requests through the ASGI
# app; report whether pandas was ever imported.
NO_PANDAS_PROBE = """
import asyncio, json, sys
from jupyter_mltrack.serving.app import ScoringApp
from jupyter_mltrack.serving.follow import ServedModel

app = ScoringApp(ServedModel(sys.argv[1]))
loaded = "pandas" in sys.modules

async def call(body):
    sent = []
    async def receive():
        return {"type": "http.request", "body": body, "more_body": False}
    async def send(message):
        sent.append(message)
    scope = {"type": "http", "path": "/invocations", "method": "POST",
             "headers": [(b"content-type", b"application/json")]}
    await app(scope, receive, send)
    return sent[0]["status"], json.loads(sent[1]["body"])

answers = [asyncio.run(call(body.encode())) for body in json.loads(sys.argv[2])]
after = "pandas" in sys.modules
tables = [asyncio.run(call(body.encode())) for body in json.loads(sys.argv[3])]
print(json.dumps({"pandas_at_load": loaded, "pandas_after": after, "answers": answers,
                  "tables": tables, "pandas_for_tables": "pandas" in sys.modules}))
"""


def test_float_model_loads_and_scores_without_importing_pandas(float_folder) -> None:
    """pandas costs about half a second of a scoring server's start; a model of double
    columns, scored from JSON rows, never needs it. A request that needs a table later
    imports it then, and scikit-learn still checks the frame's columns."""
    import subprocess
    import sys

    folder, model = float_folder
    bodies = [json.dumps(FLOAT_SHAPES[s]) for s in
              ("dataframe_split", "dataframe_records", "instances as rows")]
    tables = [json.dumps(FLOAT_SHAPES[s]) for s in
              ("records with an extra key", "dataframe_split with index")]
    done = subprocess.run([sys.executable, "-c", NO_PANDAS_PROBE, str(folder),
                           json.dumps(bodies), json.dumps(tables)], capture_output=True,
                          text=True, timeout=300, check=True)
    report = json.loads(done.stdout.strip().splitlines()[-1])
    expected = [200, {"predictions": model.predict(
        pd.DataFrame(FLOAT_ROWS, columns=COLUMNS)).tolist()}]
    assert report == {"pandas_at_load": False, "pandas_after": False,
                      "answers": [expected] * 3, "tables": [expected] * 2,
                      "pandas_for_tables": True}


SERVE_PROBE = """
import http.client, json, os, sys, threading, time
from jupyter_mltrack.cli import main

folder, port = sys.argv[1], int(sys.argv[2])

def probe():
    while True:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/ping")
            if conn.getresponse().status == 200:
                break
        except OSError:
            time.sleep(0.05)
    ours = ("registry", "tracking", "store", "server", "artifacts", "entities", "models.save")
    print(json.dumps(sorted(
        name for name in sys.modules
        if name.split(".")[0] in ("pandas", "sqlalchemy", "httpx", "requests", "fsspec")
        or any(name.startswith(f"jupyter_mltrack.{o}") for o in ours))))
    sys.stdout.flush()
    os._exit(0)

threading.Thread(target=probe, daemon=True).start()
main(["models", "serve", "-m", folder, "--port", str(port), "--no-access-log"])
"""


def test_serving_a_folder_loads_only_the_model_code(sklearn_folder) -> None:
    """``mltrack models serve -m FOLDER`` answers its first ping having loaded neither
    the registry, the tracking API, a store, the artifact stores nor the code that saves
    models, and no pandas, HTTP client or SQLAlchemy (a models:/ or runs:/ URI needs
    the store; a folder of double columns needs no table)."""
    import subprocess
    import sys

    from tests.serving_helpers import free_port

    done = subprocess.run([sys.executable, "-c", SERVE_PROBE, str(sklearn_folder[0]),
                           str(free_port())], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []
