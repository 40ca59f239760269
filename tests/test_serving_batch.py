"""``mltrack models predict``: batch scoring of CSV, Parquet and JSON files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from click.testing import CliRunner

from jupyter_mltrack.cli import main
from tests.serving_helpers import save_sklearn, training_frame


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    folder = tmp_path_factory.mktemp("batch") / "model"
    return folder, save_sklearn(folder)


def predict(*args: str) -> Any:
    return CliRunner().invoke(main, ["models", "predict", *args], catch_exceptions=False)


def test_csv_in_csv_out_in_chunks_with_a_progress_bar(model, tmp_path: Path) -> None:
    folder, sk = model
    frame, _ = training_frame(seed=4, rows=2500)
    frame.to_csv(tmp_path / "in.csv", index=False)
    result = predict("-m", str(folder), "-i", str(tmp_path / "in.csv"), "-o",
                     str(tmp_path / "out.csv"), "--chunk-rows", "1000", "--progress")
    assert result.exit_code == 0, result.output
    out = pd.read_csv(tmp_path / "out.csv")
    assert list(out.columns) == ["prediction"]
    assert out["prediction"].tolist() == sk.predict(frame).tolist()
    assert "Scoring: [" in result.output and "2,500/2,500 rows" in result.output
    assert "1,000/2,500 rows" in result.output  # redrawn after each chunk
    assert "Scored 2,500 rows" in result.output


def test_parquet_in_parquet_out(model, tmp_path: Path) -> None:
    folder, sk = model
    frame, _ = training_frame(seed=6, rows=300)
    frame.to_parquet(tmp_path / "in.parquet")
    result = predict("-m", str(folder), "-i", str(tmp_path / "in.parquet"), "-o",
                     str(tmp_path / "out.parquet"), "--chunk-rows", "128")
    assert result.exit_code == 0, result.output
    out = pd.read_parquet(tmp_path / "out.parquet")
    assert out["prediction"].tolist() == sk.predict(frame).tolist()


def test_json_request_body_to_stdout(model, tmp_path: Path) -> None:
    folder, sk = model
    frame, _ = training_frame(seed=7, rows=4)
    body = {"dataframe_split": json.loads(frame.to_json(orient="split", index=False))}
    (tmp_path / "in.json").write_text(json.dumps(body))
    result = CliRunner().invoke(main, ["models", "predict", "-m", str(folder), "-i",
                                       str(tmp_path / "in.json")], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"predictions": sk.predict(frame).tolist()}


def test_json_records_to_json_file(model, tmp_path: Path) -> None:
    folder, sk = model
    frame, _ = training_frame(seed=8, rows=3)
    (tmp_path / "in.json").write_text(frame.to_json(orient="records"))
    result = predict("-m", str(folder), "-i", str(tmp_path / "in.json"), "-o",
                     str(tmp_path / "out.json"))
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "out.json").read_text()) == {
        "predictions": sk.predict(frame).tolist()}


def test_unknown_format_is_refused_clearly(model, tmp_path: Path) -> None:
    (tmp_path / "in.txt").write_text("a,b\n")
    result = predict("-m", str(model[0]), "-i", str(tmp_path / "in.txt"))
    assert result.exit_code == 1
    assert ".csv, .parquet or .json" in result.output


def test_a_failing_chunk_leaves_no_partial_output(model, tmp_path: Path) -> None:
    folder, _ = model
    frame, _ = training_frame(seed=9, rows=30)
    text = frame.to_csv(index=False).splitlines()
    text[25] = "1.0,2.0,3.0,not-a-number"
    (tmp_path / "in.csv").write_text("\n".join(text) + "\n")
    (tmp_path / "out.csv").write_text("earlier results\n")
    result = predict("-m", str(folder), "-i", str(tmp_path / "in.csv"), "-o",
                     str(tmp_path / "out.csv"), "--chunk-rows", "10")
    assert result.exit_code == 1
    assert "column 'n'" in result.output
    assert (tmp_path / "out.csv").read_text() == "earlier results\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_a_missing_input_file_is_refused_clearly(model, tmp_path: Path) -> None:
    result = predict("-m", str(model[0]), "-i", str(tmp_path / "nofile.csv"))
    assert result.exit_code == 1
    assert "No input file" in result.output and "nofile.csv" in result.output
    assert "Traceback" not in result.output
