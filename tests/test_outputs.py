"""The run folder's GeoPackage: all layers written, then their spatial indexes added in one pass,
checked against GDAL writing each layer with its own index (the route it replaces)."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import warnings
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely

from mtown_geo import standards
from mtown_geo.pipeline import outputs

from .conftest import demo_view


def _dump(path: Path) -> dict[str, Any]:
    """Everything a GeoPackage reader sees: schema (SQL text of every table, index and trigger),
    metadata tables (``last_change`` left out: it is the time of writing), every feature row as
    stored (GeoPackage geometry blobs) and every R-tree row."""
    con = sqlite3.connect(path)
    try:
        out: dict[str, Any] = {
            "schema": sorted(con.execute("SELECT type, name, tbl_name, sql FROM sqlite_master").fetchall(), key=str),
            "extensions": con.execute("SELECT * FROM gpkg_extensions ORDER BY rowid").fetchall(),
            "contents": con.execute(
                "SELECT table_name, data_type, identifier, description, min_x, min_y, max_x, max_y, srs_id FROM gpkg_contents ORDER BY rowid"
            ).fetchall(),
            "geometry_columns": con.execute("SELECT * FROM gpkg_geometry_columns ORDER BY rowid").fetchall(),
            "ogr_contents": con.execute("SELECT * FROM gpkg_ogr_contents ORDER BY rowid").fetchall(),
            "srs": con.execute("SELECT * FROM gpkg_spatial_ref_sys").fetchall(),
            "sequence": con.execute("SELECT * FROM sqlite_sequence").fetchall(),
            "ids": (con.execute("PRAGMA application_id").fetchone(), con.execute("PRAGMA user_version").fetchone()),
        }
        for (table,) in con.execute("SELECT table_name FROM gpkg_contents").fetchall():
            rtree = outputs._quote(f"rtree_{table}_geom")
            out[f"rows/{table}"] = con.execute(f"SELECT * FROM {outputs._quote(table)} ORDER BY rowid").fetchall()
            out[f"rtree/{table}"] = con.execute(f"SELECT * FROM {rtree} ORDER BY id").fetchall()
        return out
    finally:
        con.close()


def _float32_outwards(values: np.ndarray, *, down: bool) -> np.ndarray:
    """Coordinates as SQLite's R-tree stores them (``rtreeValueDown``/``rtreeValueUp``): a 32-bit
    float, moved away from the box by a factor of 1 ± 2⁻²³ where the nearest one falls inside."""
    f = values.astype(np.float32).astype(float)
    inside = f > values if down else f < values
    away = (values < 0) == down  # the factor that moves the value away from the box
    factor = np.where(away, 1 + 2.0**-23, 1 - 2.0**-23)
    out = np.where(inside, (values * factor).astype(np.float32).astype(float), f)
    assert ((out <= values) if down else (out >= values)).all()
    return out


@pytest.fixture(scope="module")
def demo_layers(shared_demo) -> dict[str, gpd.GeoDataFrame]:
    """The demo run's layers, with one feature without a geometry, one with an empty geometry
    (neither belongs in a spatial index) and an empty layer (not written)."""
    layers = dict(shared_demo.result.layers)
    units = layers["units_15min"].copy()
    geoms = units.geometry.to_numpy().copy()
    geoms[3] = None
    geoms[5] = shapely.Polygon()
    layers["units_15min"] = units.set_geometry(gpd.GeoSeries(geoms, index=units.index, crs=units.crs))
    layers["nothing"] = units.iloc[:0]
    return layers


def test_write_gpkg_is_gdal_layer_by_layer(demo_layers, tmp_path):
    """The GeoPackage is the one GDAL writes layer by layer with its own spatial indexes: same
    schema and triggers (SQL text), metadata, stored rows, R-tree rows, in the same order."""
    new, old = tmp_path / "new.gpkg", tmp_path / "old.gpkg"
    names = outputs.write_gpkg(demo_layers, new)
    for name, gdf in demo_layers.items():
        if len(gdf):
            outputs.to_gpkg(gdf, old, name)
    assert names == [n for n, g in demo_layers.items() if len(g)] and "nothing" not in names and len(names) > 10
    a, b = _dump(new), _dump(old)
    assert a.keys() == b.keys()
    for key in a:
        assert a[key] == b[key], key
    con = sqlite3.connect(new)
    assert con.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    for name in names:
        assert con.execute(f"SELECT rtreecheck('rtree_{name}_geom')").fetchone() == ("ok",)
    con.close()


def test_write_gpkg_odd_names_and_rewrite(demo_layers, tmp_path):
    """Layer names with quotes, spaces and Chinese, written twice into the same file (the second
    write replaces the layers): the same file as GDAL's layer-by-layer writes."""
    layers = {'a"b c': demo_layers["facilities"], "绿地 公园": demo_layers["parks_parks"]}
    new, old = tmp_path / "new.gpkg", tmp_path / "old.gpkg"
    outputs.write_gpkg(layers, new)
    outputs.write_gpkg(layers, new)
    for name, gdf in layers.items():
        outputs.to_gpkg(gdf, old, name)
    assert _dump(new) == _dump(old)
    assert all(pyogrio.read_info(new, layer=name)["capabilities"]["fast_spatial_filter"] for name in layers)


def test_write_gpkg_reads_back(demo_layers, tmp_path):
    """Every layer reads back in order with its CRS, values and geometries; its spatial index
    holds each feature's box (computed here from the layer, rounded as the R-tree stores it),
    and GDAL uses it: a box query gives the features the box meets."""
    path = tmp_path / "layers.gpkg"
    names = outputs.write_gpkg(demo_layers, path)
    assert list(pyogrio.list_layers(path)[:, 0]) == names
    con = sqlite3.connect(path)
    for name in names:
        src = demo_layers[name]
        info = pyogrio.read_info(path, layer=name)
        assert info["capabilities"]["fast_spatial_filter"], name
        assert info["features"] == len(src)
        back = pyogrio.read_dataframe(path, layer=name)
        assert back.crs == src.crs
        geoms = src.geometry.to_numpy()
        stored = back.geometry.to_numpy()
        assert np.array_equal(shapely.is_missing(stored), shapely.is_missing(geoms))
        # the same coordinates (a layer of polygons and multipolygons is stored as multipolygons)
        assert np.array_equal(shapely.get_coordinates(stored), shapely.get_coordinates(geoms))
        assert np.array_equal(shapely.get_num_coordinates(stored), shapely.get_num_coordinates(geoms))
        for col in src.columns.drop(src.geometry.name):
            want = src[col].to_numpy()
            if want.dtype.kind == "f":
                want = np.where(np.isinf(want), np.nan, want)
                assert np.array_equal(back[col].to_numpy(float), want, equal_nan=True), (name, col)
        keep = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
        box = shapely.bounds(geoms[keep])
        rows = np.array(con.execute(f'SELECT * FROM "rtree_{name}_geom" ORDER BY id').fetchall(), dtype=float)
        assert np.array_equal(rows[:, 0], np.flatnonzero(keep) + 1)
        assert np.array_equal(rows[:, 1], _float32_outwards(box[:, 0], down=True))
        assert np.array_equal(rows[:, 2], _float32_outwards(box[:, 2], down=False))
        assert np.array_equal(rows[:, 3], _float32_outwards(box[:, 1], down=True))
        assert np.array_equal(rows[:, 4], _float32_outwards(box[:, 3], down=False))
    con.close()
    units = demo_layers["units_15min"]
    x0, y0, x1, y1 = units.total_bounds
    query = (x0, y0, (x0 + x1) / 2, (y0 + y1) / 2)
    hit = pyogrio.read_dataframe(path, layer="units_15min", bbox=query)
    geoms = units.geometry.to_numpy()
    assert len(hit) == int((~shapely.is_missing(geoms) & shapely.intersects(geoms, shapely.box(*query))).sum()) > 0


def test_run_folder_geopackage_has_indexes(shared_demo):
    """The written run's layers.gpkg: every layer of the result that has features, each indexed."""
    path = shared_demo.out / "layers.gpkg"
    layers = [k for k, v in shared_demo.result.layers.items() if len(v)]
    assert list(pyogrio.list_layers(path)[:, 0]) == layers
    con = sqlite3.connect(path)
    indexed = [
        r[0]
        for r in con.execute("SELECT table_name FROM gpkg_extensions WHERE extension_name = 'gpkg_rtree_index' ORDER BY rowid")
    ]
    con.close()
    assert indexed == layers


def test_spatial_index_refuses_other_feature_ids(shared_demo, tmp_path):
    """An index is made only for rows numbered 1..n as written, never from the wrong rows."""
    parks = shared_demo.result.layers["parks_parks"]
    path = tmp_path / "x.gpkg"
    outputs.to_gpkg(parks, path, "parks", spatial_index=False)
    more = gpd.GeoDataFrame(parks.iloc[[0, 0]], crs=parks.crs)
    more = gpd.pd.concat([parks, more])
    with pytest.raises(RuntimeError, match=r"feature ids 1\.\.\d+ for \d+ features"):
        outputs._add_rtree_indexes(path, {"parks": more})


def test_space_estimate_counts_text_as_its_characters(shared_demo):
    """The disk-space estimate of a layer's text columns: the mean length of each column's
    sampled values written as text (missing values count nothing), as pandas' own string
    methods give it, for text, plain Python values, mixed objects, categories and dates."""
    base = dataclasses.replace(shared_demo.result, layers={}, tables={}, rasters={})
    fac = shared_demo.result.layers["facilities"][["geometry"]].copy()
    n = len(fac)
    cols = {
        "text": pd.Series((["ab", None, "长文本", "c"] * n)[:n], dtype="str"),
        "mixed": pd.Series(([1, None, "x", True, {"a": 1}, 2.5, np.nan, pd.NA] * n)[:n], dtype=object),
        "plain": pd.Series(([1, None, "xyz", True, 0.1 + 0.2, np.nan, pd.NA, 10**20, -0.0] * n)[:n], dtype=object),
        "kind": pd.Series(pd.Categorical((["a", "bb", None] * n)[:n])),
        "when": pd.Series(([pd.Timestamp("2020-01-01"), pd.NaT] * n)[:n]),
    }
    empty = outputs._output_bytes(dataclasses.replace(base, layers={"f": fac}))
    for name, values in cols.items():
        layer = fac.assign(**{name: values.to_numpy() if name != "kind" else values.array})
        sample = layer[name].iloc[:: max(1, n // 256)]
        want = int(1.2 * int(sample.astype(str).str.len().sum() * n / len(sample)))
        got = outputs._output_bytes(dataclasses.replace(base, layers={"f": layer})) - empty
        assert abs(got - want) <= 1, (name, got, want)


def test_task_maps_not_made_without_maps(shared_demo, tmp_path, monkeypatch):
    """A run written without maps makes no task map (nor the map specifications behind one)."""
    from mtown_geo.pipeline import tasks

    result = demo_view(shared_demo.result, maps=False, static_maps=False)
    assert "tasks" in result.tables

    def made(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("task map specifications made for a run without maps")

    monkeypatch.setattr(tasks, "map_specs", made)
    out = outputs.write(result, tmp_path / "out")
    assert not (out / "tasks_map.html").exists() and not (out / "maps").exists()
    assert (out / "layers.gpkg").exists()


def test_spatial_index_follows_edits(shared_demo, tmp_path):
    """The triggers keep the index right when the layer is edited afterwards (as in QGIS): a
    feature appended through GDAL gets its box, and a box query finds it through the index."""
    parks = shared_demo.result.layers["parks_parks"]
    path = tmp_path / "x.gpkg"
    outputs.write_gpkg({"parks": parks}, path)
    moved = parks.iloc[[0]].copy()
    moved["geometry"] = moved.translate(1000.0, 2000.0)
    pyogrio.write_dataframe(moved, path, layer="parks", append=True)
    con = sqlite3.connect(path)
    n = len(parks) + 1
    row = con.execute("SELECT minx, maxx, miny, maxy FROM rtree_parks_geom WHERE id = ?", (n,)).fetchone()
    x0, y0, x1, y1 = moved.total_bounds
    assert row[0] <= x0 < row[0] + 1 and row[1] - 1 < x1 <= row[1] and row[2] <= y0 < row[2] + 1 and row[3] - 1 < y1 <= row[3]
    con.close()
    assert n in set(pyogrio.read_dataframe(path, layer="parks", bbox=(x0, y0, x1, y1), fid_as_index=True).index)


def _odd_layers(demo_layers: dict[str, gpd.GeoDataFrame]) -> dict[str, gpd.GeoDataFrame]:
    """Real layers and variants with every kind of column and geometry mixture a layer can hold."""
    units = demo_layers["units_15min"]
    n = len(units)
    kinds = units.assign(
        text=pd.Series((["甲", None, "b", "=1+2"] * n)[:n], dtype="str", index=units.index),
        count=pd.array(([1, None, 3] * n)[:n], dtype="Int64"),
        share=pd.array(([0.5, None] * n)[:n], dtype="Float64"),
        flag=pd.array(([True, None, False] * n)[:n], dtype="boolean"),
        small=np.arange(n, dtype=np.int16),
        unsigned=np.arange(n, dtype=np.uint8),
        yes=np.arange(n) % 2 == 0,
        kind=pd.Categorical((["a", "bb", None] * n)[:n]),
        when=pd.Series(([pd.Timestamp("2024-05-01 08:30"), pd.NaT] * n)[:n], index=units.index),
        mixed=pd.Series(([1, None, "x", 2.5, True, {"k": 1}] * n)[:n], dtype=object, index=units.index),
    )
    blocks = demo_layers["blocks"]
    polys = blocks.geometry.to_numpy().copy()
    polys[:4] = [shapely.MultiPolygon([p]) for p in polys[:4]]
    points = demo_layers["facilities"]
    mixed = np.concatenate([points.geometry.to_numpy()[:5], polys[:5], [None]])
    lines = demo_layers["streets"].geometry.to_numpy()[:20]
    z = shapely.force_3d(points.geometry.to_numpy()[:6], z=12.5)
    return {
        **{k: v for k, v in demo_layers.items() if len(v)},
        "kinds": kinds,
        "single_and_multi": blocks.set_geometry(gpd.GeoSeries(polys, index=blocks.index, crs=blocks.crs)),
        "points_and_polygons": gpd.GeoDataFrame({"i": np.arange(len(mixed))}, geometry=mixed, crs=units.crs),
        "lines_and_multilines": gpd.GeoDataFrame(
            {"i": np.arange(len(lines) + 1)},
            geometry=[*lines, shapely.MultiLineString([lines[0], lines[1]])],
            crs=units.crs,
        ),
        "with_z": gpd.GeoDataFrame({"i": np.arange(len(z))}, geometry=z, crs=units.crs),
        "all_missing": gpd.GeoDataFrame({"i": np.arange(3)}, geometry=[None, None, None], crs=units.crs),
        "in_degrees": points.to_crs(4326),
        "tz_dates": points.assign(when=pd.Timestamp("2024-05-01 08:30", tz="Asia/Shanghai")),
        "named_index": points.rename_axis("fid_src"),
        "text_index": points.set_index(points.index.astype(str)),
        "no_crs": points.set_crs(None, allow_override=True),
    }


def test_layer_writer_is_geopandas_to_file(demo_layers, tmp_path):
    """A layer written by handing pyogrio its arrays is the one ``GeoDataFrame.to_file`` writes
    (the route it replaces): same schema, layer type, column types, metadata and stored rows,
    for real layers and for every kind of column (nullable numbers, text with missing values,
    categories, dates), mixtures of single and multi-part geometries, Z, missing geometries,
    another CRS, and the frames it leaves to ``to_file`` (dates with time zones, indexes)."""
    layers = _odd_layers(demo_layers)
    new, old = tmp_path / "new.gpkg", tmp_path / "old.gpkg"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the layer without a CRS
        for name, gdf in layers.items():
            outputs.to_gpkg(gdf, new, name)
            frame = gdf.copy(deep=False)  # the values to_gpkg writes: other objects as text, no infinities
            for col in frame.columns.drop(frame.geometry.name):
                if frame[col].dtype == object:
                    frame[col] = frame[col].map(lambda v: v if v is None or isinstance(v, (str, int, float, bool)) else str(v))
                elif frame[col].dtype == float:
                    frame[col] = frame[col].replace([np.inf, -np.inf], np.nan)
            frame.to_file(old, layer=name, driver="GPKG")
    a, b = _dump(new), _dump(old)
    assert a.keys() == b.keys() and len(a["contents"]) == len(layers)
    for key in a:
        assert a[key] == b[key], key
    types = dict(sqlite3.connect(new).execute("SELECT table_name, geometry_type_name || '/' || z FROM gpkg_geometry_columns"))
    assert types["single_and_multi"] == "MULTIPOLYGON/0" and types["points_and_polygons"] == "GEOMETRY/0"
    assert types["lines_and_multilines"] == "MULTILINESTRING/0" and types["with_z"] == "POINT/1"


def test_packed_spatial_index_is_sqlite_rtree(shared_demo, tmp_path):
    """A spatial index packed at once (three levels here) holds what SQLite's own inserts store,
    passes SQLite's ``rtreecheck``, answers box queries as a search through every box does, and
    takes later edits: a feature appended through GDAL, rows deleted and re-inserted by SQLite."""
    blocks = shared_demo.result.layers["blocks"]
    units = shared_demo.result.layers["units_15min"]
    parts = [blocks.geometry.to_numpy(), units.geometry.to_numpy()]
    geoms = np.concatenate(
        [
            shapely.transform(g, lambda xy, k=k: xy + np.array([3000.0 * (k % 4), 2000.0 * (k // 4)]))
            for k in range(24)
            for g in parts
        ]
    )
    assert len(geoms) > 2 * 51 * 51  # more than a root over full leaves holds
    layer = gpd.GeoDataFrame({"k": np.arange(len(geoms))}, geometry=geoms, crs=blocks.crs)
    path = tmp_path / "big.gpkg"
    outputs.write_gpkg({"big": layer}, path)
    con = sqlite3.connect(path)
    assert con.execute("SELECT rtreecheck('rtree_big_geom')").fetchone() == ("ok",)
    depth = int.from_bytes(con.execute("SELECT data FROM rtree_big_geom_node WHERE nodeno = 1").fetchone()[0][:2], "big")
    assert depth == 2
    stored = con.execute("SELECT * FROM rtree_big_geom ORDER BY id").fetchall()
    ref = sqlite3.connect(":memory:")
    ref.execute("CREATE VIRTUAL TABLE r USING rtree(id, minx, maxx, miny, maxy)")
    box = shapely.bounds(geoms)
    ref.executemany(
        "INSERT INTO r VALUES (?, ?, ?, ?, ?)", zip(range(1, len(geoms) + 1), *box[:, [0, 2, 1, 3]].T.tolist(), strict=True)
    )
    assert stored == ref.execute("SELECT * FROM r ORDER BY id").fetchall()
    rng = np.random.default_rng(7)
    x0, y0, x1, y1 = layer.total_bounds
    for _ in range(40):
        qx, qy = rng.uniform(x0, x1), rng.uniform(y0, y1)
        w = rng.uniform(10.0, 800.0)
        sql = "SELECT id FROM {} WHERE maxx >= ? AND minx <= ? AND maxy >= ? AND miny <= ? ORDER BY id"
        args = (qx, qx + w, qy, qy + w)
        assert con.execute(sql.format("rtree_big_geom"), args).fetchall() == ref.execute(sql.format("r"), args).fetchall()
    con.execute("DELETE FROM rtree_big_geom WHERE id % 3 = 0")
    con.executemany("INSERT INTO rtree_big_geom VALUES (?, ?, ?, ?, ?)", [(i, 0.0, 1.0, 0.0, 1.0) for i in range(3, 600, 3)])
    assert con.execute("SELECT rtreecheck('rtree_big_geom')").fetchone() == ("ok",)
    con.rollback()
    con.close()
    extra = layer.iloc[[0]].copy()
    extra["geometry"] = extra.translate(50000.0, 0.0)
    pyogrio.write_dataframe(extra, path, layer="big", append=True)
    hit = pyogrio.read_dataframe(path, layer="big", bbox=tuple(extra.total_bounds), fid_as_index=True)
    assert list(hit.index) == [len(layer) + 1]
    con = sqlite3.connect(path)
    assert con.execute("SELECT rtreecheck('rtree_big_geom')").fetchone() == ("ok",)
    con.close()


def test_manifest_text_with_the_profile_encoded_once(shared_demo, tmp_path):
    """The manifest written with its profile's text kept from an earlier town is byte for byte the
    manifest encoded whole, for the same profile again and for another profile object; the kept
    texts stay few."""
    result = shared_demo.result
    st, prof = result.study, result.profile
    other = prof.model_copy(update={"title": "other"})
    for k, p in enumerate([prof, prof, other, prof]):
        man = outputs.manifest(st, p)
        man["notes"] = ['a "quoted" note\nover two lines', {"profile": "not the profile"}]
        man["provenance"] = result.provenance().to_dict()
        (tmp_path / f"whole{k}").mkdir()
        (tmp_path / f"kept{k}").mkdir()
        outputs.write_manifest(man, tmp_path / f"whole{k}")
        outputs.write_manifest(man, tmp_path / f"kept{k}", profile=p)
        whole = (tmp_path / f"whole{k}" / "manifest.json").read_bytes()
        assert (tmp_path / f"kept{k}" / "manifest.json").read_bytes() == whole
        assert json.loads(whole)["profile"]["title"] == p.title
    assert len(standards._DERIVED) <= standards._DERIVED_MAX


def test_gap_banner_names_the_categories_no_source_holds(shared_demo):
    """The banner names the given categories the inventory has no data for, in the order given,
    and only those; None when it has data for all."""
    result = shared_demo.result
    inv = result.tables["inventory"]
    absent = [str(k) for k in inv.index[inv["status"] == "no_data"]]
    assert absent  # the demo town lacks some categories
    held = [str(k) for k in inv.index if str(k) not in absent]
    assert outputs._gap_banner(result, held) is None
    keys = [*held[:2], *reversed(absent)]
    banner = outputs._gap_banner(result, keys)
    assert banner is not None
    names = [str(inv.loc[k, "name_zh"]) for k in reversed(absent)]
    assert banner.startswith(f"缺数据 Data missing: 数据中没有{'、'.join(names[:3])}")
