"""Images and tables as run artifacts: what ``log_image``, ``log_table`` and
``load_table`` write and read, in the files MLflow writes (PNG; JSON in pandas'
``split`` orientation, or Parquet)."""

from __future__ import annotations

import io
import struct
import zlib
from typing import TYPE_CHECKING, Any

from ..errors import InvalidParameter

if TYPE_CHECKING:
    import pandas as pd

TABLE_SUFFIXES = (".json", ".parquet")


def image_bytes(image: Any, artifact_file: str) -> bytes:
    """An image file's bytes: a PIL image in the format its name says, or a numpy array
    (height x width, x1, x3 or x4 channels; floats in [0, 1] or integers 0..255) as PNG."""
    if hasattr(image, "save") and hasattr(image, "size") and hasattr(image, "mode"):
        buffer = io.BytesIO()
        suffix = artifact_file.rsplit(".", 1)[-1].upper() if "." in artifact_file else "PNG"
        image.save(buffer, format={"JPG": "JPEG"}.get(suffix, suffix))
        return buffer.getvalue()
    if not artifact_file.lower().endswith(".png"):
        raise InvalidParameter(
            f"An array is written as PNG; name the file with .png, not {artifact_file!r} "
            "(or pass a PIL image for other formats)."
        )
    return png_bytes(_pixels(image))


def _pixels(image: Any) -> Any:
    import numpy as np

    if not hasattr(image, "shape") or not hasattr(image, "dtype"):
        raise InvalidParameter(
            f"log_image takes a numpy array or a PIL image, not {type(image).__name__}."
        )
    array = np.asarray(image)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (3, 4))):
        raise InvalidParameter(
            f"An image array has shape (height, width) or (height, width, 1|3|4), not "
            f"{array.shape}."
        )
    if array.dtype.kind == "f":
        if array.size and (np.nanmin(array) < 0 or np.nanmax(array) > 1):
            raise InvalidParameter("A float image has values in [0, 1]; scale it first.")
        array = np.round(np.nan_to_num(array) * 255)
    elif array.dtype.kind in "iub":
        if array.size and (array.min() < 0 or array.max() > 255):
            raise InvalidParameter("An integer image has values in 0..255; scale it first.")
    else:
        raise InvalidParameter(f"An image array holds numbers, not {array.dtype}.")
    return array.astype(np.uint8)


def png_bytes(pixels: Any) -> bytes:
    """A PNG of an 8-bit array (height x width grey, or x3 RGB, or x4 RGBA)."""
    height, width = pixels.shape[:2]
    colour = 0 if pixels.ndim == 2 else {3: 2, 4: 6}[pixels.shape[2]]  # grey, RGB, RGBA
    rows = pixels.reshape(height, -1)
    raw = b"".join(b"\x00" + row.tobytes() for row in rows)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", width, height, 8, colour, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))


def table_frame(data: Any) -> pd.DataFrame:
    """A dict of columns (or of scalars: one row) or a DataFrame, as a DataFrame."""
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        return data
    if not isinstance(data, dict):
        raise InvalidParameter(
            f"log_table takes a pandas DataFrame or a dict of columns, not {type(data).__name__}."
        )
    try:
        return pd.DataFrame(data)
    except ValueError:  # only scalars: one row
        return pd.DataFrame([data])


def check_table_file(artifact_file: str) -> None:
    if not artifact_file.endswith(TABLE_SUFFIXES):
        raise InvalidParameter(
            f"A table is saved as .json or .parquet; name the file so, not {artifact_file!r}."
        )


def table_bytes(frame: pd.DataFrame, artifact_file: str) -> bytes:
    check_table_file(artifact_file)
    if artifact_file.endswith(".parquet"):
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        return buffer.getvalue()
    text = frame.to_json(orient="split", index=False, date_format="iso")
    return (text or "").encode("utf-8")


def read_table(data: bytes, artifact_file: str) -> pd.DataFrame:
    import pandas as pd

    if artifact_file.endswith(".parquet"):
        return pd.read_parquet(io.BytesIO(data))
    return pd.read_json(io.StringIO(data.decode("utf-8")), orient="split")
