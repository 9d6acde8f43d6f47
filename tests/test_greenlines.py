"""Waterside greenways from OSM: the measured route against the plain one, on real extracts."""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import scipy.sparse as sp
import shapely
from scipy.sparse.csgraph import connected_components

import mtown_geo as mg
from mtown_geo import greenlines

from .conftest import assert_same_frames


def joined_to_area(lines: np.ndarray, area: shapely.Geometry) -> np.ndarray:
    """Which lines are joined to the area, by the plain route: within 1 m of it, or linked to such
    a line by a chain of lines whose bounding boxes, grown by 1 m, overlap (every pair tried)."""
    if area.is_empty or len(lines) == 0:
        return np.zeros(len(lines), dtype=bool)
    b = shapely.bounds(lines) + np.array([-1.0, -1.0, 1.0, 1.0])
    overlap = (
        (b[:, None, 0] <= b[None, :, 2])
        & (b[None, :, 0] <= b[:, None, 2])
        & (b[:, None, 1] <= b[None, :, 3])
        & (b[None, :, 1] <= b[:, None, 3])
    )
    _, comp = connected_components(sp.csr_matrix(overlap), directed=False)
    seed = shapely.dwithin(lines, area, 1.0)
    return np.isin(comp, comp[seed])


def _water_plain(extract: mg.sources.OSMExtract, target: Any) -> np.ndarray:
    """Every water line and polygon of the extract, tag by tag, projected whole."""
    feats = extract.features

    def is_water(t: Any) -> bool:
        if not isinstance(t, dict):
            return False
        return (
            t.get("natural") == "water"
            or "water" in t
            or t.get("waterway") == "riverbank"
            or t.get("waterway") in greenlines.WATER_LINES
        )

    keep = [shapely.get_type_id(g) in (1, 2, 3, 5, 6) and is_water(t) for g, t in zip(feats.geometry, feats["tags"], strict=True)]
    return np.asarray(feats.loc[keep].geometry.to_crs(target).values, dtype=object)


def _waterside_plain(extract, cand, lines, spec, target, min_run_m, *, area=None, named_rows=False):
    """The waterside parts by the plain route: every water feature buffered, every candidate
    joined to the area clipped by the union of the bands it meets, runs over all of them
    (whatever other rows the layer has)."""
    idx = np.flatnonzero(cand)
    water = _water_plain(extract, target)
    if len(idx) == 0 or len(water) == 0:
        return {}, False
    pruned = False
    if area is not None:
        joined = joined_to_area(lines[idx], area)
        pruned = not joined.all()
        idx = idx[joined]
        if len(idx) == 0:
            return {}, pruned
    bands = shapely.buffer(water, spec.waterside_dist_m, quad_segs=32)
    tree = shapely.STRtree(bands)
    owners, inside = [], []
    for k, line in enumerate(lines[idx]):
        met = tree.query(line, predicate="intersects")
        if len(met):
            owners.append(k)
            inside.append(greenlines._lineal(shapely.intersection(line, shapely.union_all(bands[met]))))
    parts, owner = [], []
    for k, g in zip(owners, inside, strict=True):
        for p in shapely.get_parts(g):
            if shapely.get_type_id(p) in (1, 2) and p.length > 0:
                parts.append(p)
                owner.append(k)
    if not parts:
        return {}, pruned
    parts_a = np.array(parts, dtype=object)
    i, j = shapely.STRtree(parts_a).query(parts_a, predicate="intersects")
    n = len(parts)
    _, run = connected_components(sp.coo_matrix((np.ones(len(i)), (i, j)), shape=(n, n)), directed=False)
    run_len = np.bincount(run, weights=shapely.length(parts_a))
    kept: dict[int, list[shapely.Geometry]] = {}
    for p, k, r in zip(parts, owner, run, strict=True):
        if run_len[r] >= min_run_m:
            kept.setdefault(k, []).append(p)
    return {int(idx[k]): shapely.line_merge(shapely.MultiLineString(ps)) for k, ps in kept.items()}, pruned


def _same_sides(a: dict, b: dict) -> None:
    assert sorted(a) == sorted(b)
    assert [a[k].wkb for k in sorted(a)] == [b[k].wkb for k in sorted(b)]


def _same_layers(a: gpd.GeoDataFrame, b: gpd.GeoDataFrame) -> None:
    assert_same_frames(a, b)
    assert list(a.dtypes) == list(b.dtypes)  # e.g. the type of `name` when no row has one


def _profile(dist_m: float) -> mg.standards.Profile:
    prof = mg.standards.resolve(None)
    return prof.model_copy(update={"greenways": prof.greenways.model_copy(update={"waterside_dist_m": dist_m})})


def test_waterside_parts_of_a_whole_extract_as_by_the_plain_route(andorra_parishes):
    """Without an area every candidate is measured: the same ways and parts, to the bit, for
    the default 30 m, a wider band and none (only paths inside water areas)."""
    _, town_m, ext = andorra_parishes[0]
    for dist in (30.0, 80.0, 0.0):
        spec = greenlines._spec(_profile(dist))
        cand = greenlines._waterside_candidates(ext.ways, spec)
        lines = ext.way_lines_at(cand, town_m.crs)
        got, _ = greenlines._waterside(ext, cand, lines, spec, town_m.crs, 100.0)
        want, _ = _waterside_plain(ext, cand, lines, spec, town_m.crs, 100.0)
        assert len(want) > 100 or dist == 0
        _same_sides(got, want)


def test_waterside_greenways_in_an_area_as_by_the_plain_route(andorra_parishes, monkeypatch):
    """With an area only the runs reaching it are measured: the same layer, to the bit and
    the column types, as the plain route measuring every joined path — for the parishes and for
    smaller areas inside them (rows named or not, or none), and fewer paths measured."""
    kinds = set()
    fewer = False
    for _, town_m, ext in andorra_parishes:
        crs = town_m.crs
        x0, y0, x1, y1 = town_m.total_bounds
        areas = [town_m]
        for fx, fy, r in [
            (0.5, 0.5, 400),
            (0.3, 0.6, 900),
            (0.7, 0.3, 250),
            (0.2, 0.2, 1500),
            (0.6, 0.8, 600),
            (0.45, 0.35, 120),
        ]:
            areas.append(gpd.GeoDataFrame(geometry=[shapely.Point(x0 + fx * (x1 - x0), y0 + fy * (y1 - y0)).buffer(r)], crs=crs))
        for area in areas:
            got = greenlines.from_osm(ext, boundary=area, crs=crs)
            with monkeypatch.context() as m:
                m.setattr(greenlines, "_waterside", _waterside_plain)
                want = greenlines.from_osm(ext, boundary=area, crs=crs)
            _same_layers(got, want)
            kinds.add((len(want) > 0, bool(want["name"].notna().any()), str(want["name"].dtype)))
        spec = greenlines._spec(mg.standards.resolve(None))
        cand = greenlines._waterside_candidates(ext.ways, spec)
        lines = ext.way_lines_at(cand, crs)
        area = town_m.geometry.iloc[0]
        got_side, got_pruned = greenlines._waterside(ext, cand, lines, spec, crs, 100.0, area=area)
        want_side, want_pruned = _waterside_plain(ext, cand, lines, spec, crs, 100.0, area=area)
        assert got_pruned >= want_pruned  # some candidates left out whenever the plain route leaves some out
        # the ways that reach the area are the same, to the bit; ways farther away are left out
        near = [k for k in want_side if shapely.dwithin(lines[k], area, 1.0)]
        assert near and set(near) <= set(got_side) <= set(want_side)
        _same_sides({k: got_side[k] for k in near}, {k: want_side[k] for k in near})
        fewer |= len(got_side) < len(want_side)
    assert fewer
    # rows with names; rows without a name, their names typed as text by named ways outside the
    # area; no rows, typed so or not
    assert {(True, True, "str"), (True, False, "str"), (False, False, "str"), (False, False, "object")} <= kinds


def test_bands_are_made_only_near_the_lines_and_met_as_all_bands(andorra_parishes):
    _, town_m, ext = andorra_parishes[1]
    spec = greenlines._spec(mg.standards.resolve(None))
    cand = greenlines._waterside_candidates(ext.ways, spec)
    lines = ext.way_lines_at(cand, town_m.crs)[np.flatnonzero(cand)][::3]
    water = greenlines._water(ext, town_m.crs)
    assert shapely.to_wkb(water).tolist() == shapely.to_wkb(_water_plain(ext, town_m.crs)).tolist()
    every = shapely.buffer(water, 30.0, quad_segs=32)
    wb = greenlines._WaterBands(water, 30.0)
    li, wi = wb.met(lines)
    want_l, want_w = shapely.STRtree(every).query(lines, predicate="intersects")
    assert sorted(zip(li.tolist(), wi.tolist(), strict=True)) == sorted(zip(want_l.tolist(), want_w.tolist(), strict=True))
    assert np.all(np.diff(li) >= 0)
    made = np.flatnonzero(~shapely.is_missing(wb.bands))
    assert 0 < len(made) < len(water)
    assert shapely.to_wkb(wb.bands[made]).tolist() == shapely.to_wkb(every[made]).tolist()


def test_a_line_inside_a_polygon_is_kept_whole_only_when_an_overlay_gives_it_back(andorra_parishes):
    zone = shapely.box(0, 0, 100, 100)
    simple = shapely.LineString([(10, 10), (50, 20), (90, 80)])
    ring = shapely.LineString([(10, 10), (90, 10), (90, 90), (10, 10)])
    crossing = shapely.LineString([(10, 10), (90, 90), (90, 10), (10, 90)])
    repeated = shapely.LineString([(10, 10), (50, 20), (50, 20), (90, 80)])
    lines = np.array([simple, ring, crossing, repeated], dtype=object)
    keeps = greenlines._overlay_keeps(lines)
    assert keeps.tolist() == [True, True, False, False]
    back = [greenlines._lineal(shapely.intersection(g, zone)).wkb == g.wkb for g in lines]
    assert back == [True, True, False, False]
    # real paths lying inside one band: each one kept whole is given back by the overlay
    _, town_m, ext = andorra_parishes[0]
    spec = greenlines._spec(mg.standards.resolve(None))
    cand = greenlines._waterside_candidates(ext.ways, spec)
    lines = ext.way_lines_at(cand, town_m.crs)[np.flatnonzero(cand)]
    bands = shapely.buffer(greenlines._water(ext, town_m.crs), 30.0, quad_segs=32)
    wi, li = shapely.STRtree(lines).query(bands, predicate="contains_properly")
    keeps = greenlines._overlay_keeps(lines[li])
    assert keeps.sum() > 100
    got = [greenlines._lineal(shapely.intersection(g, b)).wkb for g, b in zip(lines[li], bands[wi], strict=True)]
    assert all(w == g.wkb for w, g, k in zip(got, lines[li], keeps, strict=True) if k)
