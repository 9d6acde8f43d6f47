"""The province summary map after a real batch: files, names, colours by status, safe writing."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
import shapely
from PIL import Image

import mtown_geo as mg
from mtown_geo import batch
from mtown_geo.render import province

from .conftest import OSM_FILES, shared_path

STUDY = {
    "demand": {"cell_m": 200},
    "circles": ["15min"],
    "outputs": {"maps": False, "static_maps": False, "rasters": False, "tiles": False},
}
HOSTILE = "<img src=x onerror=alert(1)>"

#: The legend's colours, written out by hand: what a planner reads off the map.
EXPECTED_RGB = {
    "pass": (0x1A, 0x98, 0x50),
    "fail": (0xD7, 0x30, 0x27),
    "no_data": (0xFE, 0xE0, 0x8B),
    "n/a": (0x9E, 0xCA, 0xE1),
    "not_computed": (0xE0, 0xE0, 0xE0),
    "failed": (0x73, 0x73, 0x73),
}


def _class_of(row: pd.Series) -> str:
    """A town's map class read straight from summary.csv."""
    if row["status"] != "done":
        return "failed"
    s = row.get("row9_status")
    return "not_computed" if pd.isna(s) else str(s)


@pytest.fixture(scope="module")
def province_batch(tmp_path_factory):
    path = shared_path(OSM_FILES["liechtenstein"])
    towns = batch.towns_from_osm(path, admin_level="8")
    two = towns[towns["name"].isin(["Planken", "Schellenberg"])].copy()
    two.loc[two["name"] == "Schellenberg", "name"] = HOSTILE  # a name from the data, shown as text
    # a town whose run fails (a bow-tie inside Gamprin) and one without a boundary
    g = towns.loc[towns["name"] == "Gamprin"].geometry.iloc[0].centroid
    bowtie = shapely.Polygon(
        [(g.x - 0.006, g.y - 0.004), (g.x + 0.006, g.y + 0.004), (g.x + 0.006, g.y - 0.004), (g.x - 0.006, g.y + 0.004)]
    )
    extra = two.iloc[[0, 0]].assign(name=["Broken", "Nowhere"], code=["bad", "none"], geometry=[bowtie, None])
    layer = pd.concat([two, extra], ignore_index=True).set_crs(4326, allow_override=True)
    out = tmp_path_factory.mktemp("province") / "batch"
    summary = batch.run_batch(layer, osm=path, out=out, study=STUDY, n_workers=1)
    return layer, out, summary


def _pixels_inside(town_m, fig, dpi: float) -> np.ndarray:
    """Pixel (column, row) of a grid of points inside a town, at ``dpi``, in the sheet's PNG."""
    ax = next(a for a in fig.axes if a.get_gid() == "map")
    inner = town_m.buffer(-30.0)
    x0, y0, x1, y1 = inner.bounds
    xs, ys = np.meshgrid(np.linspace(x0, x1, 40), np.linspace(y0, y1, 40))
    pts = shapely.points(xs.ravel(), ys.ravel())
    pts = pts[shapely.contains(inner, pts)]
    xy = np.column_stack([shapely.get_x(pts), shapely.get_y(pts)])
    fig.dpi = dpi
    disp = ax.transData.transform(xy)
    height = fig.get_size_inches()[1] * dpi
    return np.column_stack([disp[:, 0], height - disp[:, 1]]).round().astype(int)


@pytest.mark.slow
def test_summary_map_files_names_and_colours(province_batch):
    layer, out, summary = province_batch
    assert list(summary["status"]) == ["done", "done", "failed", "failed"], summary[["name", "error"]]
    folder = out / province.MAP_DIR
    names = sorted(p.name for p in folder.iterdir())
    assert names == sorted(["manifest.json", *(f"summary_map.{e}" for e in ("png", "pdf", "html", "json"))])
    listed = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))["mtown_geo_output"]["files"]
    assert set(listed) == {n for n in names if n != "manifest.json"}
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no work folder left

    csv = pd.read_csv(out / "summary.csv", encoding="utf-8-sig")
    expected = {str(r["name"]): _class_of(r) for _, r in csv.iterrows()}

    # the PDF: its text holds the town names (drawn inside the towns), the furniture and the attribution
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) is not installed")
    text = subprocess.run(["pdftotext", str(folder / "summary_map.pdf"), "-"], capture_output=True, text=True, check=True).stdout
    flat = re.sub(r"\s+", "", text)
    for name in ("Planken", HOSTILE):
        assert re.sub(r"\s+", "", name) in flat, name
    for word in ("图例", "比例尺", "北", "数据来源", "坐标系", "©OpenStreetMapcontributors", "15分钟生活圈"):
        assert word in flat, word
    assert "1无边界未绘出" in flat or "1镇无边界未绘出" in flat  # the town without a boundary is named as not drawn

    # the PNG: inside each drawn town, the colour of its status in summary.csv
    fig = province.province_map(summary, layer, profile="zhejiang-2023", year=2025)
    png = np.asarray(Image.open(folder / "summary_map.png").convert("RGB"))
    metric = layer.dropna(subset=["geometry"]).to_crs(mg.crs.metric_crs(layer.dropna(subset=["geometry"])))
    for _, town in metric.iterrows():
        geom = shapely.make_valid(town.geometry)
        px = _pixels_inside(geom, fig, 200)
        assert len(px) > 20
        colours, counts = np.unique(png[px[:, 1], px[:, 0]], axis=0, return_counts=True)
        mode = tuple(int(v) for v in colours[np.argmax(counts)])
        want = EXPECTED_RGB[expected[town["name"]]]
        assert np.abs(np.subtract(mode, want)).max() <= 2, (town["name"], mode, want)
        assert counts.max() > 0.6 * len(px)  # the fill, not a label, is what most of the town shows

    # the HTML: the same classes, the names as data (escaped), never as markup
    html = (folder / "summary_map.html").read_text(encoding="utf-8")
    assert HOSTILE not in html and "<img src=x" not in html
    start = html.index('{"o":[')
    model, _ = json.JSONDecoder().raw_decode(html, start)
    part = model["layers"]["towns"]["parts"][0]
    cl = part["cl"]
    shown = dict(zip(part["p"]["name"], part["p"]["k"], strict=True))
    assert set(shown) == {"Planken", HOSTILE, "Broken"}
    for name, k in shown.items():
        assert cl[k][1].lower() == "#{:02x}{:02x}{:02x}".format(*EXPECTED_RGB[expected[name]]), name
    assert "Nowhere" in model["layers"]["towns"]["legend"][0]["note"]
    assert "© OpenStreetMap contributors" in html


@pytest.mark.slow
def test_summary_map_is_left_alone_when_nothing_changed_and_redrawn_when_a_status_does(province_batch, tmp_path):
    layer, _, summary = province_batch
    folder = tmp_path / "maps"
    first = province.write_province_maps(summary, layer, folder, profile="zhejiang-2023", year=2025, dpi=60)
    stamp = (folder / "manifest.json").stat().st_mtime_ns
    again = province.write_province_maps(summary, layer, folder, profile="zhejiang-2023", year=2025, dpi=60)
    assert again == first and (folder / "manifest.json").stat().st_mtime_ns == stamp
    flipped = summary.copy()
    i = int(np.flatnonzero(flipped["name"] == "Planken")[0])
    flipped.loc[i, "row9_status"] = "pass" if flipped.loc[i, "row9_status"] != "pass" else "fail"
    province.write_province_maps(flipped, layer, folder, profile="zhejiang-2023", year=2025, dpi=60)
    info = json.loads((folder / "summary_map.json").read_text(encoding="utf-8"))
    want = _class_of(flipped.iloc[i])
    assert info["classes"][want] >= 1 and (folder / "manifest.json").stat().st_mtime_ns != stamp


@pytest.mark.slow
def test_summary_map_never_replaces_files_it_did_not_write(province_batch, tmp_path):
    layer, _, summary = province_batch
    out = tmp_path / "batch"
    (out / "summary_map").mkdir(parents=True)
    (out / "summary_map" / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.warns(mg.MtownGeoWarning, match="summary map was not written"):
        assert province.write_batch_maps(summary, layer, out) == []
    assert [p.name for p in (out / "summary_map").iterdir()] == ["notes.txt"]
    assert sorted(p.name for p in out.iterdir()) == ["summary_map"]
    # a town whose folder is called summary_map keeps it: the maps go beside it
    assert province.map_folder(out, ["summary_map", "1_Vaduz"]) == out / "summary_map_1"
    assert province.map_folder(out, ["SUMMARY_MAP", "summary_map_1"]) == out / "summary_map_2"


def test_summary_that_belongs_to_another_layer_is_refused():
    towns = mg.demo_boundaries()
    towns = towns.assign(name=[f"town {i}" for i in range(len(towns))])
    summary = pd.DataFrame({"town": [0], "name": ["somewhere else"], "status": ["done"], "row9_status": ["pass"]})
    with pytest.raises(mg.InputError, match="does not belong to this town layer"):
        province.town_classes(summary, towns)
    with pytest.raises(mg.InputError, match="row positions"):
        province.town_classes(summary.assign(town=[len(towns)]), towns)
    bad = summary.assign(name=["town 0"], row9_status=["maybe"])
    with pytest.raises(mg.InputError, match="'maybe'"):
        province.town_classes(bad, towns)
    ok = province.town_classes(summary.assign(name=["town 0"]), towns)
    assert ok.iloc[0] == "pass" and (ok.iloc[1:] == "missing").all()
    with pytest.raises(mg.InputError, match="no annex row 99"):
        province.province_map(summary.assign(name=["town 0"]), towns, row=99, profile="zhejiang-2023")
