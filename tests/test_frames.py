"""Tables built by ``mtown_geo._frames``: the direct GeoDataFrame equals geopandas' constructor's."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely

import mtown_geo as mg
from mtown_geo._frames import geo_frame
from mtown_geo.sources import osm


@pytest.fixture(scope="module")
def features() -> gpd.GeoDataFrame:
    """Karhula's OSM features (real names, ids, tags, points, lines and polygons)."""
    return osm.read_osm(mg.demo_osm_path("karhula")).features.to_crs(3067)


def _assert_same(got: gpd.GeoDataFrame, want: gpd.GeoDataFrame) -> None:
    assert type(got) is type(want) is gpd.GeoDataFrame
    assert list(got.columns) == list(want.columns)
    assert got.columns.dtype == want.columns.dtype
    assert type(got.columns) is type(want.columns)
    assert got.dtypes.equals(want.dtypes)
    assert type(got.index) is type(want.index)
    assert got.index.dtype == want.index.dtype
    assert got.index.equals(want.index)
    assert got.index.names == want.index.names
    assert got.geometry.name == want.geometry.name == "geometry"
    assert got._geometry_column_name == want._geometry_column_name
    assert got.crs == want.crs
    assert (got.crs is None) == (want.crs is None)
    assert got.attrs == want.attrs
    pd.testing.assert_frame_equal(
        pd.DataFrame(got.drop(columns="geometry")), pd.DataFrame(want.drop(columns="geometry")), check_exact=True
    )
    got_wkb = shapely.to_wkb(got.geometry.to_numpy())
    want_wkb = shapely.to_wkb(want.geometry.to_numpy())
    assert got_wkb.tolist() == want_wkb.tolist()
    assert got.geometry.array.crs == want.geometry.array.crs


def _columns(f: gpd.GeoDataFrame) -> dict[str, object]:
    """Columns of every dtype the toolkit writes, from the real features."""
    n = len(f)
    return {
        "osm_id": f["osm_id"].to_numpy(),  # int64
        "area_m2": f.geometry.area.to_numpy(),  # float64
        "name": f["name"].to_numpy(),  # text with missing names
        "kind": ["point" if t == "node" else "way" for t in f["osm_type"]],  # list of text
        "named": f["name"].notna().to_numpy(),  # bool
        "size_class": pd.Categorical(np.where(f.geometry.area.to_numpy() > 1000.0, "large", "small")),
        "tags": f["tags"].to_numpy(),  # object (dicts)
        "n": np.arange(n, dtype=np.int32),
        "source": "osm",  # scalar broadcast
    }


@pytest.mark.parametrize("crs", [3067, "EPSG:3067", pyproj.CRS.from_epsg(3067), None])
def test_dict_columns_and_array_geometries(features: gpd.GeoDataFrame, crs: object) -> None:
    cols = _columns(features)
    geoms = features.geometry.to_numpy()
    _assert_same(geo_frame(cols, geoms, crs), gpd.GeoDataFrame(cols, geometry=geoms, crs=crs))
    as_list = list(geoms)
    _assert_same(geo_frame(cols, as_list, crs), gpd.GeoDataFrame(cols, geometry=as_list, crs=crs))


def test_given_index_and_series_columns(features: gpd.GeoDataFrame) -> None:
    sub = features.iloc[::3]
    idx = pd.Index(sub["osm_id"].to_numpy(), name="osm_id")
    cols = {"name": sub["name"].to_numpy(), "area_m2": sub.geometry.area.to_numpy()}
    geoms = sub.geometry.to_numpy()
    want = gpd.GeoDataFrame(cols, geometry=geoms, crs=sub.crs, index=idx)
    _assert_same(geo_frame(cols, geoms, sub.crs, index=idx), want)
    # a Series column is aligned on its index, as the constructor does
    cols_s = {"name": sub["name"], "n": np.arange(len(sub))}
    want = gpd.GeoDataFrame(cols_s, geometry=geoms, crs=sub.crs)
    _assert_same(geo_frame(cols_s, geoms, sub.crs), want)
    assert not want.index.equals(pd.RangeIndex(len(sub)))


def test_dataframe_data_is_copied_with_its_attrs(features: gpd.GeoDataFrame) -> None:
    table = pd.DataFrame(features.drop(columns="geometry"))
    table["area_m2"] = features.geometry.area.to_numpy()
    table["large"] = table["area_m2"] > 1000.0
    table = table.iloc[::-2]  # a non-range index
    table.attrs = {"source": "karhula"}
    geoms = features.geometry.to_numpy()[::-2]
    want = gpd.GeoDataFrame(table, geometry=geoms, crs=features.crs)
    got = geo_frame(table, geoms, features.crs)
    _assert_same(got, want)
    got.loc[got.index[0], "area_m2"] = -1.0
    assert table["area_m2"].iloc[0] != -1.0  # the input is not changed
    # reindexed to a given index, as the constructor does
    idx = table.index[::2]
    _assert_same(
        geo_frame(table, geoms[::2], features.crs, index=idx),
        gpd.GeoDataFrame(table, geometry=geoms[::2], crs=features.crs, index=idx),
    )


def test_empty_frames(features: gpd.GeoDataFrame) -> None:
    crs = features.crs
    for cols in (
        {"name": []},
        {"name": [], "n_features": [], "served": []},
        {"owner": np.empty(0, dtype=np.int64)},
        {"name": np.empty(0, dtype=object), "area_m2": np.empty(0)},
    ):
        _assert_same(geo_frame(cols, [], crs), gpd.GeoDataFrame(cols, geometry=[], crs=crs))
        empty = np.empty(0, dtype=object)
        _assert_same(geo_frame(cols, empty, crs), gpd.GeoDataFrame(cols, geometry=empty, crs=crs))
    table = pd.DataFrame({"name": pd.Series([], dtype="str"), "area_m2": pd.Series([], dtype=float)})
    _assert_same(geo_frame(table, [], crs), gpd.GeoDataFrame(table, geometry=[], crs=crs))


def test_missing_geometries_and_single_rows(features: gpd.GeoDataFrame) -> None:
    geoms = features.geometry.to_numpy()[:5].copy()
    geoms[2] = None
    cols = {"name": features["name"].to_numpy()[:5]}
    _assert_same(geo_frame(cols, geoms, 3067), gpd.GeoDataFrame(cols, geometry=geoms, crs=3067))
    one = {"kind": ["建成区"]}
    hull = shapely.union_all(features.geometry.to_numpy()).convex_hull
    _assert_same(geo_frame(one, [hull], 3067), gpd.GeoDataFrame(one, geometry=[hull], crs=3067))


def test_other_inputs_go_through_geopandas(features: gpd.GeoDataFrame) -> None:
    sub = features.iloc[:10]
    # a GeoSeries with its own index, a GeoDataFrame, a 'geometry' column, only scalars
    series = sub.geometry.set_axis(np.arange(10, 20))
    cols = {"n": np.arange(10)}
    _assert_same(geo_frame(cols, series, sub.crs), gpd.GeoDataFrame(cols, geometry=series, crs=sub.crs))
    g = sub[["name", "geometry"]]
    moved = g.geometry.translate(1.0, 0.0).to_numpy()
    want = gpd.GeoDataFrame(g, geometry=moved, crs=sub.crs)
    _assert_same(geo_frame(g, moved, sub.crs), want)
    with pytest.raises(ValueError, match="scalar"):
        geo_frame({"name": "x"}, [shapely.Point(0, 0)], 3067)
    with pytest.raises(ValueError, match="CRS mismatch"):
        geo_frame(cols, sub.geometry.array, 4326)
