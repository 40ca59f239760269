"""Downsampling keeps the shape of long histories; smoothing is TensorBoard's EMA."""

from __future__ import annotations

import numpy as np
import pytest

from jupyter_mltrack.errors import InvalidParameter
from jupyter_mltrack.widgets.downsample import downsample, downsample_indices, smooth


@pytest.fixture
def spiky() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    x = np.arange(1_000_000)
    y = np.sin(x / 40_000) + 0.05 * rng.standard_normal(len(x))
    y[123_457] = 9.0   # a one-point spike
    y[876_543] = -7.0  # a one-point dip
    return x, y


@pytest.mark.parametrize("method", ["lttb", "minmax"])
def test_a_million_points_keep_extremes_and_ends(spiky, method: str) -> None:
    x, y = spiky
    keep = downsample_indices(x, y, 1000, method)
    assert len(keep) <= 1000
    assert len(keep) > 900
    assert keep[0] == 0 and keep[-1] == len(x) - 1
    assert np.all(np.diff(keep) > 0)
    assert 123_457 in keep and 876_543 in keep


def test_lttb_follows_the_curve() -> None:
    rng = np.random.default_rng(2)
    x = np.arange(200_000)
    y = np.sin(x / 8_000) + 0.05 * rng.standard_normal(len(x))
    xs, ys = downsample(x, y, 500)
    # The downsampled line stays within the noise band of the signal everywhere.
    assert np.max(np.abs(np.interp(x[::97], xs, ys) - np.sin(x[::97] / 8_000))) < 0.35


def test_short_series_are_untouched() -> None:
    keep = downsample_indices(np.arange(10), np.arange(10.0), 50)
    assert keep.tolist() == list(range(10))


def test_non_finite_values_are_never_kept() -> None:
    y = np.array([1.0, np.nan, 3.0, np.inf, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0])
    keep = downsample_indices(np.arange(10), y, 5)
    assert 1 not in keep and 3 not in keep
    assert np.isfinite(y[keep]).all()


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"n_out": 2}, "at least 3"),
    ({"method": "median"}, "lttb"),
])
def test_bad_arguments_say_how_to_fix(kwargs, message: str) -> None:
    with pytest.raises(InvalidParameter, match=message):
        downsample_indices(np.arange(10), np.arange(10.0), **kwargs)


def test_mismatched_lengths_are_refused() -> None:
    with pytest.raises(InvalidParameter, match="equal length"):
        downsample(np.arange(3), np.arange(4.0))


def test_smoothing_is_a_debiased_exponential_average() -> None:
    y = np.array([1.0, 3.0, 2.0, 5.0, 4.0])
    w = 0.6
    expected, last = [], 0.0
    for i, v in enumerate(y, start=1):
        last = w * last + (1 - w) * v
        expected.append(last / (1 - w ** i))
    assert np.allclose(smooth(y, w), expected)
    assert np.array_equal(smooth(y, 0.0), y)
    with pytest.raises(InvalidParameter, match="below 1"):
        smooth(y, 1.0)
