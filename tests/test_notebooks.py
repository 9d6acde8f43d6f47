"""The planner notebooks in notebooks/: committed without outputs, and each runs top to bottom."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from .conftest import ROOT

nbformat = pytest.importorskip("nbformat", reason="the notebook tests need nbformat, nbclient and ipykernel (test extras)")
nbclient = pytest.importorskip("nbclient", reason="the notebook tests need nbformat, nbclient and ipykernel (test extras)")
pytest.importorskip("ipykernel", reason="the notebook tests need nbformat, nbclient and ipykernel (test extras)")

NOTEBOOKS = ROOT / "notebooks"
PATHS = sorted(NOTEBOOKS.glob("*.ipynb"))
TIMEOUT_S = 600  # per cell


def _code(nb: Any) -> str:
    return "\n".join(c.source for c in nb.cells if c.cell_type == "code")


def test_there_are_notebooks() -> None:
    names = [p.name for p in PATHS]
    assert {"01_quickstart.ipynb", "02_life_circles.ipynb", "03_parks_greenways.ipynb", "05_province_batch.ipynb"} <= set(names)


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_committed_without_outputs(path: Path) -> None:
    raw = json.loads(path.read_text(encoding="utf-8"))
    nb = nbformat.reads(json.dumps(raw), as_version=4)
    nbformat.validate(nb)
    for cell in raw["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [], f"{path.name}: a cell has outputs; clear them before committing"
            assert cell["execution_count"] is None, f"{path.name}: a cell has an execution count"


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_uses_only_the_public_api(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    code = _code(nb)
    assert "import mtown_geo as mg" in code
    private = re.findall(
        r"\bmg(?:\.\w+)*\._(?!_)\w+|from mtown_geo(?:\.\w+)*\._(?!_)\w+|import mtown_geo\.(?:\w+\.)*_(?!_)", code
    )
    assert private == [], f"{path.name} reaches into private names: {private}"
    # text for planners: Chinese with the English beside it
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert re.search(r"[\u4e00-\u9fff]", text) and re.search(r"[A-Za-z]{4,} [a-z]{3,}", text)


def _outputs(nb: Any) -> list[dict[str, Any]]:
    return [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]


def _text(outputs: list[dict[str, Any]]) -> str:
    parts = []
    for o in outputs:
        if o.get("output_type") == "stream":
            parts.append(o.get("text", ""))
        for key in ("text/plain", "text/html"):
            value = o.get("data", {}).get(key)
            if value:
                parts.append(value if isinstance(value, str) else "".join(value))
    return "\n".join(parts)


@pytest.fixture(scope="module")
def executed() -> dict[str, Any]:
    """Each notebook executed once, from the notebooks/ folder, with errors raised."""
    return {}


def _execute(path: Path, cache: dict[str, Any]) -> Any:
    if path.name not in cache:
        nb = nbformat.read(path, as_version=4)
        client = nbclient.NotebookClient(
            nb,
            timeout=TIMEOUT_S,
            kernel_name="python3",
            allow_errors=False,
            resources={"metadata": {"path": str(NOTEBOOKS)}},
        )
        client.execute()  # raises CellExecutionError on the first failing cell
        cache[path.name] = nb
    return cache[path.name]


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_runs_top_to_bottom(path: Path, executed: dict[str, Any]) -> None:
    nb = _execute(path, executed)
    outputs = _outputs(nb)
    assert not [o for o in outputs if o.get("output_type") == "error"]
    # every map shown inline carries Leaflet itself (no placeholder the browser cannot load)
    html = [o["data"]["text/html"] for o in outputs if "text/html" in o.get("data", {}) and "iframe" in o["data"]["text/html"]]
    for h in html:
        assert "mtown-geo:inline:" not in h and "L.map(" in h
        assert "OpenStreetMap contributors" in h


def test_quickstart_shows_the_report_and_a_map(executed: dict[str, Any]) -> None:
    nb = _execute(NOTEBOOKS / "01_quickstart.ipynb", executed)
    outputs = _outputs(nb)
    text = _text(outputs)
    assert "建成区15分钟生活圈覆盖率" in text and "__circle__" in text
    assert "indicators.xlsx" in text and "manifest.json" in text
    assert any("image/png" in o.get("data", {}) for o in outputs)
    assert any("iframe" in o.get("data", {}).get("text/html", "") for o in outputs)


def test_life_circles_notebook_shows_the_profile_change(executed: dict[str, Any]) -> None:
    nb = _execute(NOTEBOOKS / "02_life_circles.ipynb", executed)
    text = _text(_outputs(nb))
    assert "3.6 km/h" in text and "elderly 3 km/h" in text
    assert "travel_time_15min.tif" in text
    # the slope step either ran or said why it did not
    assert "slope" in text


def test_batch_notebook_runs_the_towns_or_says_why_not(executed: dict[str, Any]) -> None:
    nb = _execute(NOTEBOOKS / "05_province_batch.ipynb", executed)
    text = _text(_outputs(nb))
    shared = ROOT.parent / "shared" / "data" / "liechtenstein_osm" / "liechtenstein.osm.pbf"
    if shared.exists():
        assert "Vaduz" in text and "resumed towns: 11 of 11" in text
        assert any("image/png" in o.get("data", {}) for o in _outputs(nb))
    else:
        assert "is not here: the cells below skip" in text


def test_parks_notebook_reports_row8_and_greenways_or_says_why_not(executed: dict[str, Any]) -> None:
    nb = _execute(NOTEBOOKS / "03_parks_greenways.ipynb", executed)
    text = _text(_outputs(nb))
    shared = ROOT.parent / "shared" / "data" / "shenzhen_longgang_osm" / "longgang_center.osm.pbf"
    if not shared.exists():
        assert "is not here: the cells below skip" in text
        return
    rate = re.search(r"park service-radius coverage: ([\d.]+) %", text)
    assert rate is not None and 0.0 <= float(rate.group(1)) <= 100.0
    # the printed km per 10,000 is the printed length over the printed residents
    m = re.search(r"([\d.]+) km \(before de-duplication ([\d.]+) km\) for ([\d,]+) residents: ([\d.]+) km per 10,000", text)
    assert m is not None
    km, raw_km, pop, per = float(m.group(1)), float(m.group(2)), float(m.group(3).replace(",", "")), float(m.group(4))
    assert km <= raw_km + 1e-9
    assert per == pytest.approx(km / (pop / 10_000), abs=0.006)
