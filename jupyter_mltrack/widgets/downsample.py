"""Shape-preserving downsampling of long metric histories, and smoothing (numpy only).

A chart of a million points is slow to draw and breaks Vega's row limits; a line
chart a few hundred pixels wide shows at most a few thousand of them anyway. Two
methods keep what the eye sees:

- ``"lttb"``: Largest-Triangle-Three-Buckets (Steinarsson, 2013). One point per
  bucket, the one forming the largest triangle with its neighbours: keeps peaks,
  dips and the overall shape.
- ``"minmax"``: the lowest and highest point of every bucket: keeps every spike
  (the envelope), at the cost of a busier line.
"""

from __future__ import annotations

import numpy as np

from ..errors import InvalidParameter

METHODS = ("lttb", "minmax")


def _arrays(x: object, y: object) -> tuple[np.ndarray, np.ndarray]:
    xs = np.asarray(x, dtype="float64")
    ys = np.asarray(y, dtype="float64")
    if xs.ndim != 1 or ys.ndim != 1 or xs.shape != ys.shape:
        raise InvalidParameter(
            f"x and y must be 1-D and of equal length, not shapes {xs.shape} and {ys.shape}."
        )
    return xs, ys


def downsample_indices(x: object, y: object, n_out: int = 1000, method: str = "lttb"
                       ) -> np.ndarray:
    """Positions of the points to keep (sorted, first and last always kept).

    ``x`` must be sorted ascending (steps are). Non-finite values of ``y`` are never
    kept; drop them first if positions must line up with the input.
    """
    xs, ys = _arrays(x, y)
    if method not in METHODS:
        raise InvalidParameter(f"Unknown downsampling method {method!r}; use 'lttb' or 'minmax'.")
    if not isinstance(n_out, (int, np.integer)) or n_out < 3:
        raise InvalidParameter(f"n_out must be a whole number of at least 3, not {n_out!r}.")
    finite = np.isfinite(ys) & np.isfinite(xs)
    if not finite.all():
        keep = np.flatnonzero(finite)
        return keep[downsample_indices(xs[keep], ys[keep], n_out, method)] if len(keep) else keep
    n = len(xs)
    if n <= n_out:
        return np.arange(n)
    if method == "minmax":
        return _minmax(ys, n_out)
    return _lttb(xs, ys, n_out)


def downsample(x: object, y: object, n_out: int = 1000, method: str = "lttb"
               ) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)`` reduced to about ``n_out`` points that keep the shape of the line."""
    xs, ys = _arrays(x, y)
    keep = downsample_indices(xs, ys, n_out, method)
    return xs[keep], ys[keep]


def _lttb(x: np.ndarray, y: np.ndarray, n_out: int) -> np.ndarray:
    n = len(x)
    # Bucket edges over the inner points 1..n-2; the first and last point stay.
    edges = np.floor(np.linspace(1, n - 1, n_out - 1)).astype(np.int64)
    starts, ends = edges[:-1], edges[1:]
    # The average of every bucket, computed at once; the "next bucket" of the last
    # inner bucket is the final point.
    sums_x = np.add.reduceat(x, starts)
    sums_y = np.add.reduceat(y, starts)
    counts = (ends - starts).astype("float64")
    counts[counts == 0] = 1.0
    avg_x = np.append(sums_x / counts, x[-1])
    avg_y = np.append(sums_y / counts, y[-1])
    out = np.empty(n_out, dtype=np.int64)
    out[0] = 0
    out[-1] = n - 1
    a = 0
    for i in range(n_out - 2):
        lo, hi = starts[i], ends[i]
        if hi <= lo:
            out[i + 1] = a
            continue
        ax, ay = x[a], y[a]
        nx, ny = avg_x[i + 1], avg_y[i + 1]
        # Twice the triangle area (a, candidate, next average); the sign does not matter.
        area = np.abs((ax - nx) * (y[lo:hi] - ay) - (ax - x[lo:hi]) * (ny - ay))
        a = lo + int(area.argmax())
        out[i + 1] = a
    return np.unique(out)


def _minmax(y: np.ndarray, n_out: int) -> np.ndarray:
    n = len(y)
    buckets = max(1, (n_out - 2) // 2)
    size = -(-n // buckets)  # ceil
    padded = np.full(buckets * size, np.nan)
    padded[:n] = y
    grid = padded.reshape(buckets, size)
    base = np.arange(buckets) * size
    # Every bucket holds at least one real value: the last one starts below n.
    lows = base + np.nanargmin(grid, axis=1)
    highs = base + np.nanargmax(grid, axis=1)
    return np.unique(np.concatenate(([0, n - 1], lows, highs)))


def smooth(y: object, weight: float) -> np.ndarray:
    """Exponential moving average with bias correction (TensorBoard's smoothing).

    ``weight`` from 0 (no smoothing) to below 1 (very smooth). NaNs are skipped.
    """
    if not 0 <= weight < 1:
        raise InvalidParameter(f"Smoothing weight must be at least 0 and below 1, not {weight!r}.")
    ys = np.asarray(y, dtype="float64")
    if weight == 0 or len(ys) == 0:
        return ys.copy()
    import pandas as pd

    return pd.Series(ys).ewm(alpha=1.0 - weight, adjust=True, ignore_na=True).mean().to_numpy()
