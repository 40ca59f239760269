"""Batch scoring of a file: CSV, Parquet or JSON in; CSV, Parquet or JSON out.

CSV and Parquet are read and scored in chunks of ``chunk_rows`` rows, so a file larger
than memory streams through; JSON is a scoring request body or a list of records.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._importers import import_optional
from ..errors import InvalidParameter
from . import protocol

if TYPE_CHECKING:
    from ..tracking.client import Client

FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".json": "json"}


def file_format(path: str | os.PathLike[str], what: str) -> str:
    """``csv``, ``parquet`` or ``json`` from a file name."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise InvalidParameter(
            f"{what} {os.fspath(path)!r}: cannot tell the format from {suffix or 'no suffix'}; "
            "name it .csv, .parquet or .json."
        )
    return FORMATS[suffix]


def count_rows(path: str | os.PathLike[str]) -> int | None:
    """Rows in an input file, cheaply (None when unknown before reading it)."""
    kind = file_format(path, "Input")
    if kind == "parquet":
        pq = import_optional("pyarrow.parquet", "models", "pyarrow")
        return int(pq.ParquetFile(path).metadata.num_rows)
    if kind == "csv":
        lines = 0
        last = b"\n"
        with open(path, "rb") as fh:
            while block := fh.read(1 << 20):
                lines += block.count(b"\n")
                last = block[-1:]
        return max(0, lines - 1 + (last != b"\n"))
    return None


def read_chunks(path: str | os.PathLike[str], chunk_rows: int
                ) -> Iterator[tuple[Any, dict[str, Any] | None]]:
    """(model input, params) per chunk of the input file."""
    import pandas as pd

    kind = file_format(path, "Input")
    if not Path(path).is_file():
        raise InvalidParameter(f"Input {os.fspath(path)!r} is not a file.")
    if kind == "csv":
        try:
            for chunk in pd.read_csv(path, chunksize=chunk_rows):
                yield chunk, None
        except (ValueError, pd.errors.ParserError) as exc:
            raise InvalidParameter(f"Input {os.fspath(path)!r} is not valid CSV: {exc}") \
                from None
        return
    if kind == "parquet":
        pq = import_optional("pyarrow.parquet", "models", "pyarrow")
        for batch in pq.ParquetFile(path).iter_batches(batch_size=chunk_rows):
            yield batch.to_pandas(), None
        return
    raw = Path(path).read_bytes()
    try:
        payload = json.loads(raw)
    except ValueError as exc:
        raise InvalidParameter(f"Input {os.fspath(path)!r} is not valid JSON: {exc}") from None
    if isinstance(payload, dict) and any(k in payload for k in protocol.INPUT_KEYS):
        yield protocol.parse_json(raw)
    elif isinstance(payload, list) and payload and all(isinstance(r, dict) for r in payload):
        yield pd.DataFrame.from_records(payload), None
    else:
        raise InvalidParameter(
            f"Input {os.fspath(path)!r}: a JSON input is a scoring request (with one of "
            + ", ".join(protocol.INPUT_KEYS) + ") or a list of records."
        )


def as_frame(predictions: Any) -> Any:
    """Predictions as a DataFrame: a ``prediction`` column, or the model's own columns."""
    import numpy as np
    import pandas as pd

    if isinstance(predictions, pd.DataFrame):
        return predictions
    if isinstance(predictions, pd.Series):
        return predictions.rename("prediction").to_frame().reset_index(drop=True)
    if isinstance(predictions, dict):
        return pd.DataFrame({str(k): list(np.asarray(v)) for k, v in predictions.items()})
    arr = np.asarray(protocol.to_jsonable(predictions) if not hasattr(predictions, "ndim")
                     else predictions)
    if arr.ndim <= 1:
        return pd.DataFrame({"prediction": arr.reshape(-1)})
    if arr.ndim == 2:
        return pd.DataFrame(arr, columns=[f"prediction_{i}" for i in range(arr.shape[1])])
    return pd.DataFrame({"prediction": list(arr)})


def check_input(input_path: str | os.PathLike[str]) -> None:
    """Refuse an input path that is not a file, saying what to pass."""
    if not Path(input_path).is_file():
        raise InvalidParameter(f"No input file {os.fspath(input_path)!r}; pass a .csv, .parquet "
                               "or .json file of rows to score.")


def predict_file(model_uri: str, input_path: str | os.PathLike[str],
                 output_path: str | os.PathLike[str] | None = None, *,
                 client: Client | None = None, trust: bool = False, chunk_rows: int = 50_000,
                 on_rows: Callable[[int], None] | None = None) -> int:
    """Score every row of ``input_path``; write predictions to ``output_path`` (or stdout
    as ``{"predictions": [...]}``). Returns the number of rows scored."""
    from ..models import load_model

    if chunk_rows < 1:
        raise InvalidParameter("chunk_rows is 1 or more.")
    check_input(input_path)
    out_kind = file_format(output_path, "Output") if output_path is not None else "json"
    model = load_model(model_uri, trust=trust, client=client, progress=False)
    writer = _Writer(output_path, out_kind)
    rows = 0
    try:
        for data, params in read_chunks(input_path, chunk_rows):
            predictions = model.predict(data, params)
            writer.write(predictions)
            n = len(data) if hasattr(data, "__len__") else 0
            rows += n
            if on_rows is not None:
                on_rows(n)
        writer.close()
    except BaseException:
        writer.abort()
        raise
    return rows


class _Writer:
    """Writes prediction chunks to a temporary file, renamed into place when complete."""

    def __init__(self, path: str | os.PathLike[str] | None, kind: str):
        self.kind = kind
        self.path = Path(path) if path is not None else None
        self.tmp = None if self.path is None else \
            self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        self.first = True
        self.parquet: Any = None
        self.json_parts: list[Any] = []

    def write(self, predictions: Any) -> None:
        if self.kind == "json":
            self.json_parts.append(protocol.to_jsonable(predictions))
            return
        frame = as_frame(predictions)
        assert self.tmp is not None
        if self.kind == "csv":
            frame.to_csv(self.tmp, mode="w" if self.first else "a", header=self.first,
                         index=False)
        else:
            pa = import_optional("pyarrow", "models")
            pq = import_optional("pyarrow.parquet", "models", "pyarrow")
            table = pa.Table.from_pandas(frame, preserve_index=False)
            if self.parquet is None:
                self.parquet = pq.ParquetWriter(self.tmp, table.schema)
            self.parquet.write_table(table)
        self.first = False

    def close(self) -> None:
        if self.kind == "json":
            merged: Any = self.json_parts[0] if len(self.json_parts) == 1 else \
                [x for part in self.json_parts for x in (part if isinstance(part, list)
                                                         else [part])]
            text = json.dumps({"predictions": merged if self.json_parts else []})
            if self.path is None:
                sys.stdout.write(text + "\n")
                return
            assert self.tmp is not None
            self.tmp.write_text(text, encoding="utf-8")
        elif self.parquet is not None:
            self.parquet.close()
        elif self.first and self.tmp is not None:
            self.tmp.write_text("", encoding="utf-8")
        if self.tmp is not None and self.path is not None:
            os.replace(self.tmp, self.path)

    def abort(self) -> None:
        if self.parquet is not None:
            self.parquet.close()
        if self.tmp is not None:
            self.tmp.unlink(missing_ok=True)
