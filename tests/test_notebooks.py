"""The planner notebooks in notebooks/: committed without outputs, and each runs top to bottom."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any

import osmium
import pyogrio
import pytest
from openpyxl import load_workbook
from pyproj import Geod

import mtown_geo as mg

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
    assert {
        "01_quickstart.ipynb",
        "02_life_circles.ipynb",
        "03_parks_greenways.ipynb",
        "04_own_data.ipynb",
        "05_province_batch.ipynb",
    } <= set(names)


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


@pytest.mark.slow
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


@pytest.mark.slow
def test_quickstart_shows_the_report_and_a_map(executed: dict[str, Any]) -> None:
    nb = _execute(NOTEBOOKS / "01_quickstart.ipynb", executed)
    outputs = _outputs(nb)
    text = _text(outputs)
    assert "建成区15分钟生活圈覆盖率" in text and "__circle__" in text
    assert "indicators.xlsx" in text and "manifest.json" in text
    # the embedded Chinese town, its data gaps named as such, and the summary sheet a town submits
    assert "五道口示范区" in text and "no_data" in text
    assert "'汇总 Summary'" in text and "'说明 Notes'" in text and "data as of 2017-06-24" in text and "ODbL" in text
    gaps = re.search(r"(?m)^缺数据 data missing: (?!no source)(.+)$", text)
    assert gaps is not None and {"托育机构", "居家养老服务中心/日间照料"} <= set(gaps.group(1).split(", "))
    assert any("image/png" in o.get("data", {}) for o in outputs)
    assert any("iframe" in o.get("data", {}).get("text/html", "") for o in outputs)


@pytest.mark.slow
def test_life_circles_notebook_shows_the_profile_change(executed: dict[str, Any]) -> None:
    nb = _execute(NOTEBOOKS / "02_life_circles.ipynb", executed)
    text = _text(_outputs(nb))
    assert "3.6 km/h" in text and "elderly 3 km/h" in text
    assert "travel_time_15min.tif" in text
    # the slope step either ran or said why it did not
    assert "slope" in text


@pytest.mark.slow
def test_batch_notebook_runs_the_towns(executed: dict[str, Any]) -> None:
    """Liechtenstein's 11 municipalities and Guixi's 东门街道 with ../shared; the embedded town without."""
    nb = _execute(NOTEBOOKS / "05_province_batch.ipynb", executed)
    text = _text(_outputs(nb))
    assert any("image/png" in o.get("data", {}) for o in _outputs(nb))
    shared = ROOT.parent / "shared" / "data"
    if (shared / "liechtenstein_osm" / "liechtenstein.osm.pbf").exists():
        assert "Vaduz" in text and "resumed towns: 11 of 11" in text
    else:
        assert "the batch runs on the embedded demo town" in text
        assert "五道口示范区" in text and "resumed towns: 1 of 1" in text
    if (shared / "guixi_jiangxi_osm" / "guixi_center.osm.pbf").exists():
        # the real 街道: its data gaps named, and the rows resting on them 缺数据, not a failure
        gaps = re.search(r"(?m)^缺数据 data missing: (?!no source)(.+)$", text)
        assert gaps is not None and "东门街道" in text
        assert {"kindergarten", "childcare", "health_station"} <= set(gaps.group(1).split(", "))
        assert "no_data" in text
    else:
        assert "this section skips" in text


@pytest.mark.slow
def test_parks_notebook_reports_row8_and_greenways(executed: dict[str, Any]) -> None:
    """On the embedded town (no ../shared needed): row 8 as the toolkit computes it, the greenway arithmetic."""
    nb = _execute(NOTEBOOKS / "03_parks_greenways.ipynb", executed)
    text = _text(_outputs(nb))
    rate = re.search(r"park service-radius coverage: ([\d.]+) %", text)
    assert rate is not None
    bounds = mg.demo_boundaries()
    metric = mg.crs.metric_crs(bounds)
    town = bounds[bounds["kind"] == "镇域"].to_crs(metric)
    built = bounds[bounds["kind"] == "建成区"].to_crs(metric)
    parks = mg.parks.from_osm(mg.demo_osm_path(), boundary=town)
    residential = mg.demand.residential_from_osm(mg.demo_osm_path(), boundary=town)
    assert float(rate.group(1)) == pytest.approx(
        mg.parks.service_radius_coverage(parks, residential, builtup=built).percent, abs=0.05
    )
    assert "圆明园" in text
    # the printed km per 10,000 is the printed length over the printed residents
    m = re.search(r"([\d.]+) km \(before de-duplication ([\d.]+) km\) for ([\d,]+) residents: ([\d.]+) km per 10,000", text)
    assert m is not None
    km, raw_km, pop, per = float(m.group(1)), float(m.group(2)), float(m.group(3).replace(",", "")), float(m.group(4))
    assert km <= raw_km + 1e-9
    assert per == pytest.approx(km / (pop / 10_000), abs=0.006)
    longgang = ROOT.parent / "shared" / "data" / "shenzhen_longgang_osm" / "longgang_center.osm.pbf"
    if longgang.exists():
        assert "龙岗中心区 Longgang (../shared)" in text
    else:
        assert "this section skips" in text


class _Highways(osmium.SimpleHandler):
    """The highway ways (class, name, lon/lat vertices) and tagged nodes of an OSM file, read with pyosmium alone."""

    def __init__(self) -> None:
        super().__init__()
        self.ways: list[tuple[str, str | None, list[tuple[float, float]]]] = []
        self.nodes: dict[int, tuple[float, float]] = {}

    def node(self, n: Any) -> None:
        if len(n.tags):
            self.nodes[n.id] = (n.location.lon, n.location.lat)

    def way(self, w: Any) -> None:
        highway = w.tags.get("highway")
        if highway is not None:
            self.ways.append((highway, w.tags.get("name"), [(nd.lon, nd.lat) for nd in w.nodes]))


@pytest.mark.slow
def test_own_data_notebook_handles_or_refuses_each_input(executed: dict[str, Any]) -> None:
    nb = _execute(NOTEBOOKS / "04_own_data.ipynb", executed)
    text = _text(_outputs(nb))
    shared = ROOT.parent / "shared" / "data"
    osm = mg.demo_osm_path()  # the examples are made from the embedded town's extract
    census_csv = shared / "zhejiang_census_tudigong" / "zhejiang_county_census2020.csv"
    found = re.search(r"your own files \(examples made here\): (\S+)", text)
    assert found is not None
    work = Path(found.group(1))
    osm_data = _Highways()
    osm_data.apply_file(str(osm), locations=True)
    geod = Geod(ellps="GRS80")

    # 1. the centrelines: GBK text and no .cpg; every OSM road name comes back; the repaired walk network is as long
    # as the OSM ways it may use (geodesic lengths on the ellipsoid, not the notebook's Gauss–Krüger metres)
    assert not (work / "roads.cpg").exists()
    gbk = pyogrio.read_dataframe(work / "roads.shp", encoding="GBK")
    assert set(gbk["道路名称"].dropna()) == {name for _, name, _ in osm_data.ways if name}
    assert "road names read back as they were written: True" in text
    zone = mg.crs.gauss_kruger_epsg(116.32)  # the 3-degree zone of Wudaokou's longitude
    assert "refused: roads_no_prj.shp has no CRS" in text and f"with crs={zone}" in text
    # the OSM ways the walk network may use, on the ellipsoid: a km-scale difference would be a road kept twice
    walk_m = sum(
        geod.line_length([c[0] for c in coords], [c[1] for c in coords])
        for highway, _, coords in osm_data.ways
        if highway not in {"motorway", "motorway_link", "cycleway"}
    )
    km = re.search(r"walk network: ([\d.]+) km", text)
    pulled = re.search(r"ends pulled back: (\d+)", text)
    repairs = re.search(r"RepairReport\(.*?(\d+) snapped end.*?(\d+) duplicate", text)
    assert km is not None and pulled is not None and repairs is not None
    # within 0.5 %: the repairs (ends snapped, bridges kept apart) move metres, a road kept twice would add its
    # whole length — the road drawn twice is longer than that margin
    assert float(km.group(1)) * 1000 == pytest.approx(walk_m, rel=5e-3)
    twice = gbk[gbk.geometry.duplicated(keep=False) & gbk["道路名称"].notna()]
    assert len(twice) == 2 and twice.length.iloc[0] > 5e-3 * walk_m
    assert int(repairs.group(1)) >= int(pulled.group(1)) == 10 and int(repairs.group(2)) >= 1

    # 2. the Amap export: its locations are GCJ-02, hundreds of metres off the OSM nodes they came from; read as an
    # Amap export they come back within a metre of those nodes
    rows = list(load_workbook(work / "pois.xlsx", read_only=True).active.iter_rows(values_only=True))
    header, body = rows[0], rows[1:]
    assert {"id", "name", "type", "typecode", "location"} <= set(header)
    assert len(body) >= 15
    for row in body:
        rec = dict(zip(header, row, strict=True))
        lon, lat = (float(v) for v in str(rec["location"]).split(","))
        true_lon, true_lat = osm_data.nodes[int(str(rec["id"])[1:])]
        assert 100.0 < geod.inv(lon, lat, true_lon, true_lat)[2] < 1000.0
    pois = mg.sources.read_facility_table(work / "pois.xlsx")
    assert pois["facility_id"].nunique() == len(body)
    for fid, point in zip(pois["facility_id"], pois.geometry, strict=True):
        true_lon, true_lat = osm_data.nodes[int(fid.split("/N", 1)[1])]
        assert geod.inv(point.x, point.y, true_lon, true_lat)[2] < 1.0
    assert "declared WGS-84: the points look shifted by GCJ-02" in text
    assert "read as GCJ-02: no shift" in text

    # 3. the census: the Wenzhou total and one county, against the CSV read with the csv module (with ../shared)
    if not census_csv.exists():
        assert "section 3 (the census) skips" in text
    else:
        _check_census(text, census_csv)

    # 4. the validation report finds the shift and the invalid parcel; the fixed inputs pass; the study runs
    assert "coordinate_shift" in text and "invalid_geometry" in text
    assert "refused: 1 problem in the inputs must be fixed first" in text
    assert "exit code 0" in text and "Input check: 0 errors" in text
    rates = re.search(r"15-minute circle: ([\d.]+) % of the residential land; a bus stop within 15 minutes: ([\d.]+) %", text)
    assert rates is not None
    assert 0.0 <= float(rates.group(1)) <= 100.0 and 0.0 < float(rates.group(2)) <= 100.0
    assert "建成区15分钟生活圈覆盖率" in text
    # the categories the export lacks are named as missing data
    assert "缺数据 data missing: " in text and "托育机构" in text


def _check_census(text: str, census_csv: Path) -> None:
    with census_csv.open(encoding="utf-8-sig", newline="") as fh:
        census = list(csv.DictReader(fh))
    wenzhou = [float(r["POPU"]) for r in census if r["CODE"].startswith("3303")]
    total = re.search(r"温州市 Wenzhou: ([\d,]+) residents in (\d+) counties", text)
    assert total is not None
    assert int(total.group(1).replace(",", "")) == round(sum(wenzhou)) and int(total.group(2)) == len(wenzhou)
    longgang = next(float(r["POPU"]) for r in census if r["CODE"] == "330383")
    one = re.search(r"code 330383: ([\d,]+) residents", text)
    assert one is not None and int(one.group(1).replace(",", "")) == round(longgang)
    assert f"{len(census)} of {len(census)} census rows matched" in text
    assert "refused: the census table has 0 rows for '330113'" in text
