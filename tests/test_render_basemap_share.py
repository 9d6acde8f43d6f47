"""The vector basemap's page data is made once per basemap, frame and origin and shared by the
next page of the same (a run's town map and policy-task map): the pages are the same to the
byte as when each made its own, and pages of another town, frame or origin never share it."""

from __future__ import annotations

import re

import geopandas as gpd
import pytest

import mtown_geo as mg
from mtown_geo import render
from mtown_geo.pipeline import tasks
from mtown_geo.render import _leaflet

from .conftest import OSM_FILES, shared_path

_IDS = re.compile(r"_[0-9a-f]{32}")  # folium's random element names


def _html(fmap, path) -> str:
    render.save_map(fmap, path)
    return _IDS.sub("_ID", path.read_text(encoding="utf-8"))


def _forget() -> None:
    _leaflet._BASE_LAST.clear()


def _base_text(page: _leaflet.Page) -> str:
    """The page's model as the page writes it (the basemap's text shared with the pages before)."""
    return page._model_text(page.model(title="", banner="", tiles=False))


def _alone(basemap, extent, bounds) -> str:
    """The page of one basemap as made with nothing kept from a page before, written whole."""
    _forget()
    page = _leaflet.Page(bounds)
    _leaflet.add_basemap(page, basemap, None, extent)
    _forget()
    return _leaflet.js_json(page.model(title="", banner="", tiles=False))


def test_the_task_map_after_the_town_map_is_the_same_as_alone(shared_demo, tmp_path):
    result = shared_demo.result
    assert result.basemap is not None and len(result.basemap.roads)
    specs = tasks.map_specs(result)
    assert specs

    def town():
        return render.town_map(result.layers, profile=result.profile, tiles=False, town=result.study.name, basemap=result.basemap)

    def task():
        return render.task_map(
            specs,
            boundaries=result.layers.get("boundaries"),
            tiles=False,
            town=result.study.name,
            basemap=result.basemap,
            streets=result.layers.get("streets"),
        )

    _forget()
    task_alone = _html(task(), tmp_path / "task_alone.html")
    _forget()
    town_alone = _html(town(), tmp_path / "town_alone.html")
    kept = _leaflet._BASE_LAST[0]
    task_after = _html(task(), tmp_path / "task_after.html")
    assert _leaflet._BASE_LAST[0] is kept  # the task map took the town map's basemap, not made again
    assert task_after == task_alone
    # and the other way round
    town_after = _html(town(), tmp_path / "town_after.html")
    assert _leaflet._BASE_LAST[0] is kept
    assert town_after == town_alone
    assert '"roads":{"t":"LineString"' in town_after and "底图 basemap" in task_after


@pytest.fixture(scope="module")
def andorra_basemaps():
    """Basemaps of two neighbouring Andorran parishes (one CRS, overlapping margins), their
    outlines, and the pages' lon/lat bounds."""
    path = shared_path(OSM_FILES["andorra"])
    towns = mg.batch.towns_from_osm(path, admin_level="7")
    crs = mg.crs.metric_crs(towns)
    ext = mg.sources.read_osm(path, buildings=True)
    out = {}
    for name in ("Andorra la Vella", "Escaldes-Engordany"):
        town = towns[towns["name"] == name].to_crs(crs).reset_index(drop=True)
        basemap = render.basemap_from_osm(ext, area=town, crs=crs, margin_m=400.0)
        bounds = tuple(float(v) for v in town.to_crs(4326).total_bounds)
        out[name] = (basemap, town, bounds)
    return out


def test_two_towns_in_a_row_do_not_share(andorra_basemaps):
    (bm_a, town_a, bounds_a), (bm_b, town_b, bounds_b) = andorra_basemaps.values()
    alone_a, alone_b = _alone(bm_a, town_a, bounds_a), _alone(bm_b, town_b, bounds_b)
    assert alone_a != alone_b
    _forget()
    for basemap, town, bounds, alone in ((bm_a, town_a, bounds_a, alone_a), (bm_b, town_b, bounds_b, alone_b)) * 2:
        page = _leaflet.Page(bounds)
        _leaflet.add_basemap(page, basemap, None, town)
        assert _base_text(page) == alone


def test_another_frame_origin_or_content_is_not_shared(andorra_basemaps):
    basemap, town, bounds = andorra_basemaps["Andorra la Vella"]
    first = _alone(basemap, town, bounds)
    # the same basemap cut to another frame (a smaller extent), then on a page of another origin
    part = gpd.GeoDataFrame(geometry=town.geometry.buffer(-300.0), crs=town.crs)
    page = _leaflet.Page(bounds)
    _leaflet.add_basemap(page, basemap, None, part)
    cut = _base_text(page)
    assert cut != first and cut == _alone(basemap, part, bounds)
    moved = (bounds[0] + 0.001, bounds[1], bounds[2] + 0.001, bounds[3])
    _leaflet.add_basemap(page := _leaflet.Page(bounds), basemap, None, town)
    _leaflet.add_basemap(page2 := _leaflet.Page(moved), basemap, None, town)
    assert _base_text(page) == first and _base_text(page2) == _alone(basemap, town, moved) != first
    # the same object, its street names changed in place: made again, not taken from before
    _alone(basemap, town, bounds)
    roads = basemap.roads
    named = roads["name"].notna().to_numpy()
    assert named.any()
    old = roads["name"].copy()
    try:
        roads.loc[named, "name"] = "Carrer nou"
        page = _leaflet.Page(bounds)
        _leaflet.add_basemap(page, basemap, None, town)
        changed = _base_text(page)
        assert changed != first and "Carrer nou" in changed
        assert changed == _alone(basemap, town, bounds)
    finally:
        roads["name"] = old
        _forget()
    # its buildings (no column drawn) moved in place: made again too
    _alone(basemap, town, bounds)
    buildings = basemap.buildings
    assert len(buildings)
    geoms = buildings.geometry.copy()
    try:
        buildings.geometry = geoms.translate(25.0, 0.0)
        page = _leaflet.Page(bounds)
        _leaflet.add_basemap(page, basemap, None, town)
        moved_b = _base_text(page)
        assert moved_b != first and moved_b == _alone(basemap, town, bounds)
    finally:
        buildings.geometry = geoms
        _forget()
    assert _alone(basemap, town, bounds) == first
