"""The cache of skops's default-trusted names: importing skops walks every scikit-learn
module for its estimators (most of a scoring server's start) and every loaded module for
each numpy and scipy ufunc; later imports read the lists from a cache file that only
this user can write, and refuse a cache that is not theirs alone or names anything
outside the package it lists."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

# Imports skops the way the package does; with WALK=fail, scikit-learn's estimator walk
# and listing scipy.special's ufuncs raise, so the import only succeeds when the cache
# stood in for both.
PROBE = """
import json, os, sys
import scipy.special
import sklearn.utils
if os.environ.get("WALK") == "fail":
    def walk(*a, **k):
        raise RuntimeError("the estimator walk ran")
    sklearn.utils.all_estimators = walk
    def listing():
        raise RuntimeError("the ufunc walk ran")
    scipy.special.__dir__ = listing
from jupyter_mltrack.models.flavors.sklearn import import_skops
try:
    import_skops()
except RuntimeError as exc:
    print(json.dumps({"walked": str(exc)}))
    sys.exit(0)
from skops.io import _trusted_types
if os.environ.get("HGB"):  # what a HistGradientBoosting file needs trusting for
    import skops.io
    print(json.dumps({"untrusted": sorted(skops.io.get_untrusted_types(file=os.environ["HGB"]))}))
print(json.dumps({"walked": False, "names": _trusted_types.SKLEARN_ESTIMATOR_TYPE_NAMES,
                  "ufuncs": _trusted_types.SCIPY_UFUNC_TYPE_NAMES
                  + _trusted_types.NUMPY_UFUNC_TYPE_NAMES,
                  "internal": sorted(_trusted_types.SKLEARN_INTERNAL_TYPE_NAMES),
                  "ensembles_imported": "sklearn.ensemble" in sys.modules}))
"""


def probe(cache_home: Path, walk: str = "ok") -> dict:
    env = {**os.environ, "XDG_CACHE_HOME": str(cache_home), "WALK": walk}
    env.pop("MLTRACK_NO_SKOPS_CACHE", None)
    done = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True,
                          text=True, timeout=300, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def cache_file(cache_home: Path) -> Path:
    found = list((cache_home / "jupyter_mltrack").glob("skops-trusted-*.json"))
    assert len(found) == 1, found
    return found[0]


@pytest.mark.slow
def test_the_second_import_reads_the_names_the_first_walked(tmp_path: Path) -> None:
    first = probe(tmp_path)
    assert first["walked"] is False and len(first["names"]) > 100
    assert any(n.startswith("scipy.special.") for n in first["ufuncs"])
    assert any(n.startswith("numpy.") for n in first["ufuncs"])
    path = cache_file(tmp_path)
    assert oct(path.stat().st_mode & 0o777) == oct(0o600)
    cached = json.loads(path.read_text())
    assert sorted(cached["estimators"]) == sorted(first["names"])
    assert sorted(n for names in cached["public_types"].values() for n in names) == \
        sorted(first["ufuncs"])

    assert any(n.startswith("sklearn.ensemble.") for n in first["internal"])
    assert sorted(cached["internal"]) == first["internal"]

    second = probe(tmp_path, walk="fail")

    # the cache names HistGradientBoosting's _BinMapper: sklearn.ensemble is not imported
    # only to name it
    assert second == {"walked": False, "names": sorted(first["names"]),
                      "ufuncs": first["ufuncs"], "internal": first["internal"],
                      "ensembles_imported": False}


@pytest.mark.slow
@pytest.mark.parametrize("spoil", ["group-writable", "foreign estimator", "foreign ufunc",
                                   "not json", "empty"])
def test_a_cache_that_is_not_trustworthy_is_walked_past(tmp_path: Path, spoil: str) -> None:
    probe(tmp_path)
    path = cache_file(tmp_path)
    cached = json.loads(path.read_text())
    if spoil == "group-writable":
        path.chmod(0o620)
    elif spoil == "foreign estimator":
        cached["estimators"].append("os.system")
        path.write_text(json.dumps(cached))
    elif spoil == "foreign ufunc":
        key = next(k for k in cached["public_types"] if k.startswith("scipy.special:"))
        cached["public_types"][key].append("os.system")
        path.write_text(json.dumps(cached))
    elif spoil == "not json":
        path.write_text("{")
    else:
        path.write_text("[]")

    assert probe(tmp_path, walk="fail") == {"walked": "the estimator walk ran"}


@pytest.mark.slow
def test_a_cached_import_still_trusts_hist_gradient_boosting(tmp_path: Path) -> None:
    """skops trusts HistGradientBoosting's _BinMapper by default; a cached import, which
    does not import scikit-learn's ensembles to name it, trusts it too."""
    import numpy as np
    from sklearn.ensemble import HistGradientBoostingRegressor

    from jupyter_mltrack.models.flavors.sklearn import save_skops

    X = np.random.default_rng(0).normal(size=(200, 2))
    model = HistGradientBoostingRegressor(max_iter=5).fit(X, X[:, 0])
    untrusted = save_skops(model, tmp_path / "hgb.skops")
    assert not any(n.endswith("_BinMapper") for n in untrusted)
    probe(tmp_path)
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                          timeout=300, check=True, env={
                              **os.environ, "XDG_CACHE_HOME": str(tmp_path), "WALK": "fail",
                              "HGB": str(tmp_path / "hgb.skops")})
    lines = [json.loads(line) for line in done.stdout.strip().splitlines()]
    assert lines[0] == {"untrusted": untrusted}
    assert lines[1]["walked"] is False
