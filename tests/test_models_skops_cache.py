"""The cache of skops's default-trusted estimator names: importing skops walks every
scikit-learn module (most of a scoring server's start); later imports read the list
from a cache file that only this user can write, and refuse a cache that is not theirs
alone or names anything outside scikit-learn."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

# Imports skops the way the package does; with WALK=fail, scikit-learn's estimator walk
# raises, so the import only succeeds when the cache stood in for it.
PROBE = """
import json, os, sys
import sklearn.utils
if os.environ.get("WALK") == "fail":
    def walk(*a, **k):
        raise RuntimeError("the estimator walk ran")
    sklearn.utils.all_estimators = walk
from jupyter_mltrack.models.flavors.sklearn import import_skops
try:
    import_skops()
except RuntimeError as exc:
    print(json.dumps({"walked": True}))
    sys.exit(0)
from skops.io import _trusted_types
print(json.dumps({"walked": False, "names": _trusted_types.SKLEARN_ESTIMATOR_TYPE_NAMES}))
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
    path = cache_file(tmp_path)
    assert oct(path.stat().st_mode & 0o777) == oct(0o600)
    assert sorted(json.loads(path.read_text())) == sorted(first["names"])

    second = probe(tmp_path, walk="fail")

    assert second == {"walked": False, "names": sorted(first["names"])}


@pytest.mark.slow
@pytest.mark.parametrize("spoil", ["group-writable", "foreign names", "not json", "empty"])
def test_a_cache_that_is_not_trustworthy_is_walked_past(tmp_path: Path, spoil: str) -> None:
    probe(tmp_path)
    path = cache_file(tmp_path)
    if spoil == "group-writable":
        path.chmod(0o620)
    elif spoil == "foreign names":
        path.write_text(json.dumps(["sklearn.linear_model.LogisticRegression",
                                    "os.system"]))
    elif spoil == "not json":
        path.write_text("{")
    else:
        path.write_text("[]")

    assert probe(tmp_path, walk="fail") == {"walked": True}
