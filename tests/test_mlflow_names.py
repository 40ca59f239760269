"""MLflow's names and signatures, so that MLflow code runs with ``import jupyter_mltrack as
mlflow``: the fluent calls, ``MlflowClient``, ``artifacts``, the flavor modules."""

from __future__ import annotations

import inspect
import json
import struct
import zlib
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
import pytest

from jupyter_mltrack.entities import Metric, Param, RunTag
from jupyter_mltrack.errors import InvalidParameter, NotFound

# -- fluent signatures -------------------------------------------------------------------


def test_log_metric_takes_mlflows_arguments_by_position_and_name(fluent: ModuleType) -> None:
    with fluent.start_run() as run:
        # MLflow's order: key, value, step, synchronous, timestamp, run_id
        fluent.log_metric("loss", 0.5, 3, True, 1_700_000_000_000)
        fluent.log_metric("acc", 0.9, step=1, synchronous=None, timestamp=None)
    with fluent.start_run() as other:
        fluent.log_metric("loss", 0.25, step=7, run_id=run.info.run_id)
        fluent.log_metrics({"f1": 0.8}, 2, True, run.info.run_id)
        fluent.log_metrics({"f1": 0.7}, step=3, run_id=run.info.run_id,
                           timestamp=1_700_000_000_001)
    history = fluent.get_metric_history(run.info.run_id, "loss")
    assert [(m.step, m.value) for m in history] == [(3, 0.5), (7, 0.25)]
    assert history[0].timestamp == 1_700_000_000_000
    f1 = fluent.get_metric_history(run.info.run_id, "f1")
    assert [(m.step, m.value, m.timestamp) for m in f1][1] == (3, 0.7, 1_700_000_000_001)
    assert fluent.get_run(other.info.run_id).data.metrics == {}


def test_params_and_tags_accept_synchronous_and_run_id(fluent: ModuleType) -> None:
    with fluent.start_run() as run:
        assert fluent.log_param("alpha", 0.5, synchronous=True) == 0.5
        fluent.set_tag("team", "risk", synchronous=False)
        fluent.set_tags({"stage": "dev"}, synchronous=None)
    with fluent.start_run():
        fluent.log_params({"l1": 0.1}, synchronous=True, run_id=run.info.run_id)
    data = fluent.get_run(run.info.run_id).data
    assert data.params == {"alpha": "0.5", "l1": "0.1"}
    assert data.tags["team"] == "risk" and data.tags["stage"] == "dev"


def test_artifact_calls_take_run_id(fluent: ModuleType, tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "a.txt").write_text("a")
    with fluent.start_run() as run:
        pass
    with fluent.start_run():
        fluent.log_artifact(tmp_path / "out" / "a.txt", "files", run_id=run.info.run_id)
        fluent.log_artifacts(tmp_path / "out", "dir", run_id=run.info.run_id)
        fluent.log_text("hello", "t.txt", run_id=run.info.run_id)
        fluent.log_dict({"k": 1}, "d.json", run_id=run.info.run_id)
    client = fluent.Client(fluent.get_tracking_uri())
    listed = sorted(f.path for f in client.list_artifacts(run.info.run_id))
    assert [p for p in listed if p != "mltrack"] == ["d.json", "dir", "files", "t.txt"]


def test_delete_tag_removes_the_active_runs_tag(fluent: ModuleType) -> None:
    with fluent.start_run() as run:
        fluent.set_tag("temp", "1")
        fluent.delete_tag("temp")
    assert "temp" not in fluent.get_run(run.info.run_id).data.tags


def test_experiment_tags_go_to_the_current_experiment(fluent: ModuleType) -> None:
    exp = fluent.set_experiment("tagged")
    fluent.set_experiment_tag("owner", "ana")
    fluent.set_experiment_tags({"team": "risk", "size": 3})
    tags = fluent.get_experiment(exp.experiment_id).tags
    assert tags["owner"] == "ana" and tags["team"] == "risk" and tags["size"] == "3"


def test_get_parent_run(fluent: ModuleType) -> None:
    with fluent.start_run() as parent:
        with fluent.start_run(nested=True) as child:
            pass
    found = fluent.get_parent_run(child.info.run_id)
    assert found is not None and found.info.run_id == parent.info.run_id
    assert fluent.get_parent_run(parent.info.run_id) is None


def test_start_run_takes_parent_run_id_fifth_as_mlflow_does(fluent: ModuleType) -> None:
    with fluent.start_run() as parent:
        pass
    with fluent.start_run(None, None, "child", False, parent.info.run_id) as child:
        pass
    assert fluent.get_parent_run(child.info.run_id).info.run_id == parent.info.run_id


def test_last_active_run_is_the_run_just_ended(fluent: ModuleType) -> None:
    assert fluent.last_active_run() is None
    with fluent.start_run() as run:
        fluent.log_param("p", 1)
    last = fluent.last_active_run()
    assert last.info.run_id == run.info.run_id and last.info.status == "FINISHED"


# -- images and tables -------------------------------------------------------------------


def _png_size(data: bytes) -> tuple[int, int, int]:
    """Width, height and colour type of a PNG, read from its header."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height, _, colour = struct.unpack(">IIBB", data[16:26])
    return width, height, colour


def _png_pixels(data: bytes) -> bytes:
    """The raw IDAT payload (filter bytes included) of a PNG."""
    pos, idat = 8, b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        if kind == b"IDAT":
            idat += data[pos + 8:pos + 8 + length]
        pos += 12 + length
    return zlib.decompress(idat)


def test_log_image_writes_a_png_from_an_array(fluent: ModuleType) -> None:
    rgb = np.zeros((4, 5, 3), dtype=np.uint8)
    rgb[0, 0] = (255, 0, 0)
    grey = np.linspace(0.0, 1.0, 6).reshape(2, 3)  # floats in [0, 1] scale to 0..255
    with fluent.start_run() as run:
        fluent.log_image(rgb, "plots/rgb.png")
        fluent.log_image(grey, artifact_file="grey.png")
        fluent.log_image(rgb, key="sample", step=2)
        fluent.log_image(rgb, key="sample", step=3)
    client = fluent.Client(fluent.get_tracking_uri())
    data = client.read_artifact(run.info.run_id, "plots/rgb.png")
    assert _png_size(data) == (5, 4, 2)
    assert _png_pixels(data)[:4] == b"\x00\xff\x00\x00"
    grey_png = client.read_artifact(run.info.run_id, "grey.png")
    assert _png_size(grey_png) == (3, 2, 0)
    assert list(_png_pixels(grey_png)[:4]) == [0, 0, 51, 102]
    steps = [f.path for f in client.list_artifacts(run.info.run_id, "images/sample")]
    assert len(steps) == 2 and all(p.endswith(".png") for p in steps)
    assert "step_2" in steps[0] and "step_3" in steps[1]


def test_log_image_refuses_what_it_cannot_write(fluent: ModuleType) -> None:
    with fluent.start_run():
        with pytest.raises(InvalidParameter, match="artifact_file or key"):
            fluent.log_image(np.zeros((2, 2), dtype=np.uint8))
        with pytest.raises(InvalidParameter, match="not both"):
            fluent.log_image(np.zeros((2, 2), dtype=np.uint8), "a.png", key="a")
        with pytest.raises(InvalidParameter, match=r"height, width"):
            fluent.log_image(np.zeros((2, 2, 2, 2), dtype=np.uint8), "a.png")
        with pytest.raises(InvalidParameter, match=r"\.png"):
            fluent.log_image(np.zeros((2, 2), dtype=np.uint8), "a.jpg")
        with pytest.raises(InvalidParameter, match="numpy array"):
            fluent.log_image("not an image", "a.png")


def test_log_table_and_load_table(fluent: ModuleType) -> None:
    fluent.set_experiment("tables")
    with fluent.start_run() as first:
        fluent.log_table({"q": ["a", "b"], "score": [0.1, 0.2]}, "eval.json")
        fluent.log_table(pd.DataFrame({"q": ["c"], "score": [0.3]}), "eval.json")  # appends
    with fluent.start_run() as second:
        fluent.log_table({"q": "d", "score": 0.4}, artifact_file="eval.json")
    with fluent.start_run():
        fluent.log_param("no_table", 1)
    raw = json.loads(fluent.Client(fluent.get_tracking_uri()).read_artifact(
        first.info.run_id, "eval.json"))
    assert raw["columns"] == ["q", "score"] and len(raw["data"]) == 3  # MLflow's split JSON
    both = fluent.load_table("eval.json", extra_columns=["run_id"])
    assert sorted(both["q"]) == ["a", "b", "c", "d"]
    assert set(both["run_id"]) == {first.info.run_id, second.info.run_id}
    only = fluent.load_table("eval.json", run_ids=[second.info.run_id])
    assert only["q"].tolist() == ["d"] and "run_id" not in only
    with pytest.raises(NotFound, match=r"missing\.json"):
        fluent.load_table("missing.json")
    with fluent.start_run(), pytest.raises(InvalidParameter, match=r"\.json"):
        fluent.log_table({"a": [1]}, "eval.csv")


# -- the Client's MLflow signatures ------------------------------------------------------


def test_client_log_batch_takes_mlflow_entities(client: object) -> None:
    c = client
    run = c.create_run(c.get_or_create_experiment("e"))
    c.log_batch(run.info.run_id, metrics=[Metric("m", 1.0, 1, 0)],
                params=[Param("p", "1")], tags=[RunTag("t", "x")], synchronous=True)
    c.log_param(run.info.run_id, "q", 2, synchronous=True)
    c.set_tag(run.info.run_id, "u", "y", synchronous=False)
    c.set_terminated(run.info.run_id, None)
    got = c.get_run(run.info.run_id)
    assert got.data.params == {"p": "1", "q": "2"}
    assert got.data.tags["t"] == "x" and got.data.tags["u"] == "y"
    assert got.data.metrics == {"m": 1.0} and got.info.status == "FINISHED"


def test_fluent_signatures_match_mlflows_positional_order() -> None:
    """The parameters MLflow code passes by position come in MLflow's order."""
    import jupyter_mltrack as mlflow

    def names(fn: object, n: int) -> list[str]:
        return list(inspect.signature(fn).parameters)[:n]  # type: ignore[arg-type]

    assert names(mlflow.log_metric, 6) == ["key", "value", "step", "synchronous", "timestamp",
                                           "run_id"]
    assert names(mlflow.log_metrics, 5) == ["metrics", "step", "synchronous", "run_id",
                                            "timestamp"]
    assert names(mlflow.log_params, 3) == ["params", "synchronous", "run_id"]
    assert names(mlflow.start_run, 6) == ["run_id", "experiment_id", "run_name", "nested",
                                          "parent_run_id", "tags"]
    assert names(mlflow.log_image, 6) == ["image", "artifact_file", "key", "step",
                                          "timestamp", "synchronous"]
