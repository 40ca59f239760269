"""Layout of the widgets in a real browser, narrow and wide, light and dark: nothing
squeezed, nothing past the panel's edge, no clipped text beside the sticky column,
badges readable. Keeps screenshots (``MLTRACK_UPDATE_SCREENSHOTS=1``: docs/screenshots)."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from tests import browser_support as bs

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SETUP = """
import jupyter_mltrack as mltrack
from jupyter_mltrack import registry


def setup():
    from sklearn.dummy import DummyClassifier
    from jupyter_mltrack.models import log_model
    client = mltrack.Client()
    exp = client.create_experiment("layout")
    ids = []
    for i in range(6):
        run = client.create_run(exp, run_name=f"mlp-hidden-{i}")
        client.log_params(run.info.run_id, {"hidden_layers": 64 * (i + 1), "activation": "relu",
                                            "optimizer": "adam", "learning_rate": 0.07 / (i + 1),
                                            "batch_size": 32, "weight_decay": 0.0001,
                                            "dropout": 0.1 * i, "epochs": 30, "seed": i,
                                            "scheduler": "cosine"})
        client.log_metric_points(run.info.run_id, "loss", [1 / (s + 1 + i) for s in range(30)],
                                 steps=list(range(30)))
        client.log_metric(run.info.run_id, "val_accuracy", 0.8 + i / 100)
        ids.append(run.info.run_id)
    log_model(DummyClassifier().fit([[0], [1]], [0, 1]), "model", run_id=ids[0], client=client,
              progress=False)
    for run_id in ids:
        client.set_terminated(run_id)
    client.flush()
    for note in ("baseline model trained on the March export with the default features",
                 "second cut with the customer tenure features and a longer description"):
        registry.register_model(f"runs:/{ids[0]}/model", "churn", description=note)
    registry.transition_stage("churn", 1, "Archived")



# Run All runs this cell again (for the dark theme): the runs are made once.
if mltrack.Client().get_experiment_by_name("layout") is None:
    setup()
"""


@pytest.fixture(scope="module", params=["lab", "notebook"])
def lab(request, tmp_path_factory):
    """JupyterLab, then Notebook 7, each with its own store and notebook."""
    root = tmp_path_factory.mktemp(f"layout-{request.param}")
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell(SETUP),
        nbformat.v4.new_code_cell('mltrack.compare("layout")'),
        nbformat.v4.new_code_cell('mltrack.registry_panel("churn")'),
    ])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, root / "layout.ipynb")
    env = {"MLTRACK_TRACKING_URI": f"sqlite:///{root / '.mltrack' / 'mltrack.db'}"}
    with bs.jupyterlab(root, env=env, app=request.param) as server:
        yield server


_STICKY_GAPS = """(grid) => {
  // Points across the frozen columns (box + Run) of every body row: each must land on
  // a frozen cell, never on a scrolled cell showing through.
  const bad = [];
  grid.scrollIntoView({ block: "start" });
  const head = [...grid.querySelectorAll("thead tr:last-child .mlt-sticky")].pop();
  const edge = head.getBoundingClientRect().right;
  // The first column right of the frozen ones starts at their edge: no clipped sliver.
  const next = document.elementFromPoint(edge + 2, head.getBoundingClientRect().top + 5);
  const cell = next && next.closest("th");
  if (!cell || Math.abs(cell.getBoundingClientRect().left - edge) > 1.5) {
    bad.push(["sliver", cell ? cell.textContent : null]);
  }
  for (const tr of grid.querySelectorAll("tbody tr")) {
    const frozen = [...tr.querySelectorAll(".mlt-sticky")];
    const left = frozen[0].getBoundingClientRect().left;
    const right = frozen[frozen.length - 1].getBoundingClientRect().right;
    const y = frozen[0].getBoundingClientRect().top + 5;
    for (let x = left + 1; x < right - 1; x += 3) {
      const hit = document.elementFromPoint(x, y);
      if (!hit || !hit.closest(".mlt-sticky")) bad.push([x, hit && hit.textContent.slice(0, 12)]);
    }
  }
  return bad;
}"""


def _right(locator) -> float:
    box = locator.bounding_box()
    return box["x"] + box["width"]


def _check(page, shots: Path, name: str) -> list[str]:
    """Every layout fault found at this width and theme (all of them, not the first)."""
    faults = []

    def expect(ok: object, what: str) -> None:
        if not ok:
            faults.append(f"{name}: {what}")

    compare = page.locator(".mltrack-compare").first
    compare.locator(".mlt-grid-table tbody tr").first.wait_for()
    # Live widgets hide their static copies (made for viewers without a kernel).
    shown = [c.is_visible() for c in page.locator("[data-mlt-static]").all()]
    expect(len(shown) == 2 and not any(shown), f"static copies shown: {shown}")
    # Refresh keeps its label (it collapsed to "..." next to the filter box).
    refresh = compare.locator(".widget-button", has_text="Refresh")
    expect(refresh.evaluate("b => b.scrollWidth <= b.clientWidth + 1"), "Refresh is squeezed")
    expect(_right(refresh) <= _right(compare) + 1, "Refresh is past the widget's edge")
    # Scrolled sideways, nothing of other columns shows beside the frozen Run column.
    # Halfway along (the far end may leave a sliver: the end is always a stop).
    compare.locator(".mlt-grid-scroll").evaluate(
        "s => { s.scrollLeft = Math.min(400, (s.scrollWidth - s.clientWidth) / 2); }")
    page.wait_for_timeout(300)
    gaps = compare.locator(".mlt-grid-table").evaluate(_STICKY_GAPS)
    expect(gaps == [], f"scrolled cells show beside the Run column: {gaps[:3]}")
    page.mouse.move(0, 0)
    bs.screenshot(compare, shots / f"compare-{name}.png")
    compare.locator(".mlt-grid-scroll").evaluate("s => { s.scrollLeft = 0; }")

    # Side by side: the Metrics rows under the Params are there to see (a capped inner
    # scroll box hid them).
    compare.locator(".lm-TabBar-tab", has_text="Side by side").click()
    row = compare.locator("table.mlt-side tr", has_text="val_accuracy")
    row.wait_for()
    row.scroll_into_view_if_needed()
    expect(row.evaluate("""r => { const b = r.getBoundingClientRect();
        const hit = document.elementFromPoint(b.left + 20, b.top + b.height / 2);
        return !!hit && r.contains(hit); }"""), "side by side hides the val_accuracy row")
    # Every run's value is inside the view (right-aligned numbers sat past a wide
    # column's edge, out of sight).
    hidden = row.evaluate("""r => { const box = r.closest(".mlt-scroll").getBoundingClientRect();
        return [...r.querySelectorAll("td")].filter((td) =>
            td.getBoundingClientRect().right > box.right + 1 || td.textContent === "")
            .length; }""")
    expect(hidden == 0, f"{hidden} val_accuracy values of side by side are out of sight")
    expect(row.evaluate("""r => { const s = r.closest(".mlt-scroll");
        return s.scrollHeight <= s.clientHeight + 1 && s.scrollWidth <= s.clientWidth + 1; }"""),
           "side by side scrolls inside a box of its own")
    page.mouse.move(0, 0)
    bs.screenshot(compare, shots / f"side-by-side-{name}.png")
    compare.locator(".lm-TabBar-tab", has_text="Charts").click()

    panel = page.locator(".mltrack-registry").first
    panel.scroll_into_view_if_needed()
    page.mouse.move(0, 0)
    bs.screenshot(panel, shots / f"registry-panel-{name}.png")
    # The comment box and the descriptions end inside the panel.
    expect(_right(panel.locator(".mlt-reg-comment textarea")) <= _right(panel) + 1,
           "the comment box runs past the panel")
    cut = "missing" if not panel.locator(".mlt-scroll").count() else panel.locator(
        ".mlt-scroll").first.evaluate("""s => {
        const td = [...s.querySelectorAll("td")].find(
            (c) => c.textContent.includes("customer tenure"));
        if (!td) return "missing";
        const fits = td.getBoundingClientRect().right <= s.getBoundingClientRect().right + 1;
        return fits && td.scrollWidth <= td.clientWidth + 1 ? "" : "cut";
    }""")
    expect(not cut, f"the description is {cut}")
    for scroller in panel.locator(".mlt-scroll").all():  # versions and history
        expect(scroller.evaluate("s => s.scrollWidth <= s.clientWidth + 1"),
               "a registry table is wider than the panel")
    return faults


def _dark_badge_color(page) -> str:
    badge = page.locator(".mltrack-registry .mlt-badge", has_text="Archived").first
    return badge.evaluate("b => getComputedStyle(b).color")  # type: ignore[no-any-return]


def test_layout_narrow_and_wide_light_and_dark(lab, shots: Path) -> None:
    with bs.chromium() as browser:
        page = bs.new_page(browser, width=1000, height=2400)
        bs.open_notebook(page, lab, "layout.ipynb")
        bs.run_all(page, lab)
        # Two runs ticked, for the side-by-side tab.
        boxes = page.locator(".mltrack-compare td.mlt-box input")
        boxes.nth(0).click()
        boxes.nth(3).click()
        faults: list[str] = []
        for theme in ("light", "dark"):
            if theme == "dark":
                bs.set_theme(page, "JupyterLab Dark")
                bs.run_all(page, lab)  # charts draw in the theme of their page
                boxes.nth(0).click()
                boxes.nth(3).click()
                # Archived and None badges are light on dark (they were #6e7781 grey).
                color = _dark_badge_color(page)
                if color != "rgb(177, 186, 196)":
                    faults.append(f"{lab.app}: dark Archived badge is {color}")
            for width in (1000, 1400):
                page.set_viewport_size({"width": width, "height": 2400})
                page.wait_for_timeout(500)
                faults += _check(page, shots, f"{lab.app}-{theme}-{width}")
        assert not faults, "\n".join(faults)
