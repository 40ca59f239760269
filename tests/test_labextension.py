"""The lab extension's sources agree with the Python package: one stylesheet for both
faces, one version, the settings the server extension reads."""

from __future__ import annotations

import json
import os
from pathlib import Path

from jupyter_mltrack import __version__
from jupyter_mltrack.widgets.style import CSS

LABEXT = Path(__file__).resolve().parents[1] / "labextension"
HEADER = """/* The notebook widgets' stylesheet (jupyter_mltrack/widgets/style.py CSS), so that
   the lab extension and the widgets look alike; tests/test_labextension.py keeps it
   equal (MLTRACK_UPDATE_CSS=1 python -m pytest tests/test_labextension.py rewrites it). */
"""


def test_the_extension_uses_the_widgets_stylesheet() -> None:
    expected = HEADER + CSS.strip() + "\n"
    path = LABEXT / "style" / "widgets.css"
    if os.environ.get("MLTRACK_UPDATE_CSS"):
        path.write_text(expected)
    assert path.read_text() == expected, (
        "labextension/style/widgets.css differs from jupyter_mltrack/widgets/style.py; "
        "rewrite it with MLTRACK_UPDATE_CSS=1 python -m pytest tests/test_labextension.py")
    assert "@import url('widgets.css');" in (LABEXT / "style" / "index.css").read_text()


def test_package_json_carries_the_package_version() -> None:
    package = json.loads((LABEXT / "package.json").read_text())
    assert package["version"] == __version__
    assert package["jupyterlab"]["outputDir"] == "../jupyter_mltrack/labextension"


def test_settings_schema_names_tracking_uri_and_refresh_interval() -> None:
    schema = json.loads((LABEXT / "schema" / "plugin.json").read_text())
    props = schema["properties"]
    assert props["trackingUri"]["default"] == ""
    assert props["refreshInterval"]["default"] > 0
    assert schema["additionalProperties"] is False
