"""Facility categories from real OSM data: tags, Chinese names and fallbacks."""

from __future__ import annotations

import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import osmium
import pandas as pd
import pytest
import shapely
import yaml
from pyproj import Geod

import mtown_geo as mg

from .conftest import OSM_FILES, shared_path


def test_chinese_names_decide_school_levels():
    fac = mg.facilities.from_osm(shared_path(OSM_FILES["haidian"]))
    fac = fac[fac["category"] != "bus_stop"]  # stops are named after the schools they serve
    by_name = fac.groupby("name")["category"].apply(set).to_dict()
    assert by_name["清华附中"] == {"middle_school"}  # 附中 = affiliated middle school, not a primary fallback
    assert by_name["中关村中学"] == {"middle_school"}
    assert "primary_school" in by_name["清华附小"]
    assert by_name["清华大学洁华幼儿园"] == {"kindergarten"}
    assert (fac.loc[fac["name"] == "清华大学洁华幼儿园", "matched_by"] == "name").all()
    assert "hospital" in by_name["清华大学医院"]


def test_unclassified_school_falls_back_to_primary(demo_osm):
    fac = mg.facilities.from_osm(demo_osm)
    school = fac[fac["name"] == "Helilän koulu"]
    assert list(school["category"]) == ["primary_school"]
    assert list(school["matched_by"]) == ["fallback"]
    # the school's outline is cut by the extract's edge: it is kept as a point, not a made-up polygon
    assert school.geometry.iloc[0].geom_type == "Point"


def test_parks_smaller_than_the_profile_minimum_are_dropped():
    fac = mg.facilities.from_osm(shared_path(OSM_FILES["longgang"]))
    parks = fac[fac["category"] == "park"]
    assert len(parks) > 0
    assert (parks["area_m2"] >= 2000).all()
    # the exact area of one park equals shapely's area in the metric CRS
    one = parks.iloc[[0]]
    assert one["area_m2"].iloc[0] == pytest.approx(one.to_crs(mg.crs.metric_crs(one)).area.iloc[0])


def test_guixi_has_no_kindergarten_and_its_schools_lie_outside_the_subdistrict(guixi_boundary):
    path = shared_path(OSM_FILES["guixi_pbf"])
    everything = mg.facilities.from_osm(path)
    assert not (everything["category"] == "kindergarten").any()
    inside = mg.facilities.from_osm(path, boundary=guixi_boundary, buffer_m=0)
    nearby = mg.facilities.from_osm(path, boundary=guixi_boundary, buffer_m=1500)
    schools = lambda f: f["category"].isin(["primary_school", "middle_school"]).sum()  # noqa: E731
    assert schools(inside) == 0 < schools(nearby)


def test_classify_any_tagged_layer():
    layer = gpd.GeoDataFrame(
        {
            "tags": [
                {"name": "东门社区居家养老服务中心"},
                {"amenity": "kindergarten"},
                {"shop": "stationery", "name": "小学生文具店"},
            ]
        },
        geometry=[shapely.Point(117.2, 28.3)] * 3,
        crs=4326,
    )
    out = mg.facilities.classify(layer)
    assert list(out["category"]) == ["elderly_care", "kindergarten"]  # a shop is not a school by its name


def test_summary_lists_every_category():
    s = mg.facilities.summary(mg.facilities.from_osm(mg.demo_osm_path("karhula")))
    assert len(s) == len(mg.standards.load().categories)
    assert s.loc["kindergarten", "count"] == 1 and s.loc["hospital", "count"] == 0


# -- inventories by an independent route --------------------------------------------------------
#
# Every tagged object of the file is read with a pyosmium handler written here (closed ways
# made into polygons by shapely, multipolygon relations assembled by libosmium's area
# handler), and the profile's rules are read from its YAML with plain yaml and applied in
# plain Python: the expected inventory shares no code with mtown_geo's reader or classifier.

_NAME_TAGS = ("name", "name:zh", "official_name", "alt_name")
_NAME_ONLY_TAGS = {*_NAME_TAGS, "name:en", "addr:street", "addr:housenumber"}
_GEOD = Geod(ellps="WGS84")

Row = tuple[str, int, dict[str, str], shapely.Geometry]


class _Tagged(osmium.SimpleHandler):
    """Every tagged node, way and multipolygon relation: (osm_type, id, tags, geometry in lon/lat)."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[Row] = []
        self._wkb = osmium.geom.WKBFactory()

    def node(self, n) -> None:
        if len(n.tags) and n.location.valid():
            self.rows.append(("node", n.id, {t.k: t.v for t in n.tags}, shapely.Point(n.location.lon, n.location.lat)))

    def way(self, w) -> None:
        if not len(w.tags):
            return
        pts = [(nd.location.lon, nd.location.lat) for nd in w.nodes if nd.location.valid()]
        if not pts:
            return
        closed = len(pts) == len(w.nodes) and len(pts) >= 4 and pts[0] == pts[-1]
        if closed and w.tags.get("area") != "no":
            geom = shapely.make_valid(shapely.Polygon(pts))  # a closed way: its ring
        else:  # open, cut by the extract's edge or not an area: where it is (the centre of its nodes)
            geom = shapely.MultiPoint(pts).centroid
        self.rows.append(("way", w.id, {t.k: t.v for t in w.tags}, geom))

    def area(self, a) -> None:
        if a.from_way():
            return
        try:
            geom = shapely.from_wkb(self._wkb.create_multipolygon(a))
        except RuntimeError:
            return
        self.rows.append(("relation", a.orig_id(), {t.k: t.v for t in a.tags}, geom))


def _raw_profile() -> dict:
    from importlib import resources

    return yaml.safe_load(resources.files(mg.standards).joinpath("zhejiang-2023.yaml").read_text(encoding="utf-8"))


def _matches(rule: dict, tags: dict[str, str]) -> bool:
    for key, want in rule["tags"].items():
        if key not in tags or (want != "*" and tags[key] not in (want if isinstance(want, list) else [want])):
            return False
    return not any(k in tags for k in rule.get("absent", []))


def _name(tags: dict[str, str]) -> str:
    return (tags.get("name") or tags.get("name:zh") or tags.get("official_name") or "").strip()


def _categories_of(tags: dict[str, str], raw: dict) -> list[str]:
    """The categories a feature's tags and name put it in (before the public, size and merge rules)."""
    rules, cats = raw["facility_rules"], raw["categories"]
    text = " ".join(tags[k] for k in _NAME_TAGS if k in tags)
    by_name = bool(_name(tags)) and (bool(set(tags) & set(rules["name_keys"])) or set(tags) <= _NAME_ONLY_TAGS)
    by_name = by_name and not any(_matches(r, tags) for r in rules["never_by_name"])
    claimed, fallback = [], []
    for cat, spec in cats.items():
        if any(p in text for p in spec.get("exclude_name_patterns", [])):
            continue
        if any(_matches(r, tags) for r in spec.get("osm", []) if not r.get("fallback")) or (
            by_name and any(p in text for p in spec.get("name_patterns", []))
        ):
            claimed.append(cat)
        elif any(_matches(r, tags) for r in spec.get("osm", []) if r.get("fallback")):
            fallback.append(cat)
    return claimed or fallback


def _expected_inventory(path: Path) -> tuple[dict[str, set[str]], set[tuple[str, str]]]:
    """Category → facility ids by the profile's rules applied to an independent read of the file, and
    the (category, id) pairs of parks whose area lies within 0.2 % of the minimum (either side is right)."""
    raw = _raw_profile()
    rules, cats = raw["facility_rules"], raw["categories"]
    keys = {k for c in cats.values() for r in c.get("osm", []) for k in r["tags"]} | set(rules["name_keys"])
    h = _Tagged()
    h.apply_file(str(path), locations=True)
    rows = [r for r in h.rows if set(r[2]) & keys]  # a node with nothing but a name is a label
    fid = [f"{t}/{i}" for t, i, _, _ in rows]
    polygonal = [r[3].geom_type in ("Polygon", "MultiPolygon") for r in rows]
    point = [r[3].point_on_surface() if poly else r[3] for r, poly in zip(rows, polygonal, strict=True)]
    area = [_geodesic_m2(r[3]) if poly else 0.0 for r, poly in zip(rows, polygonal, strict=True)]
    grounds = [j for j, r in enumerate(rows) if polygonal[j] and any(_matches(g, r[2]) for g in rules["closed_grounds"])]
    found: dict[str, list[int]] = {c: [] for c in cats}
    for i, r in enumerate(rows):
        for cat in _categories_of(r[2], raw):
            found[cat].append(i)
    borderline: set[tuple[str, str]] = set()
    out: dict[str, set[str]] = {}
    for cat, members in found.items():
        spec = cats[cat]
        keep = []
        for i in members:
            if spec.get("public") and (
                rows[i][2].get("access") in rules["closed_access"]
                or any(j != i and rows[j][3].contains(point[i]) for j in grounds)
            ):
                continue
            if spec.get("min_area_m2"):
                if not polygonal[i]:
                    continue
                if abs(area[i] / spec["min_area_m2"] - 1) < 2e-3:
                    borderline.add((cat, fid[i]))
                if area[i] < spec["min_area_m2"]:
                    continue
            keep.append(i)
        if rules["merge_inside"] == "same_name":  # one facility mapped twice counts once: the outline stays
            keep = [
                i
                for i in keep
                if not _name(rows[i][2])
                or not any(
                    polygonal[j]
                    and _name(rows[j][2]) == _name(rows[i][2])
                    and area[j] > area[i]
                    and rows[j][3].contains(point[i])
                    for j in keep
                    if j != i
                )
            ]
        out[cat] = {fid[i] for i in keep}
    return out, borderline


def _geodesic_m2(geom: shapely.Geometry) -> float:
    return abs(_GEOD.geometry_area_perimeter(geom)[0])


# the country-size extracts run in the full loop only
@pytest.mark.parametrize(
    "key", [pytest.param(k, marks=pytest.mark.slow) if k in {"andorra", "liechtenstein"} else k for k in sorted(OSM_FILES)]
)
def test_inventories_equal_an_independent_reading_of_every_file(key):
    path = shared_path(OSM_FILES[key])
    want, borderline = _expected_inventory(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.RepairWarning)
        got = mg.facilities.from_osm(path)
    for cat, ids in want.items():
        have = set(got.loc[got["category"] == cat, "facility_id"])
        odd = {i for i in ids ^ have if (cat, i) not in borderline}
        assert not odd, (cat, sorted(ids - have)[:10], sorted(have - ids)[:10])


# -- what the inventories hold, by name -------------------------------------------------------


def _tagged_where(path: Path, pred) -> list[Row]:
    h = _Tagged()
    h.apply_file(str(path), locations=True)
    return [r for r in h.rows if pred(r[2])]


@pytest.fixture(scope="module")
def haidian_fac():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.RepairWarning)
        return mg.facilities.from_osm(shared_path(OSM_FILES["haidian"]))


def test_stops_count_only_as_stops_whatever_they_are_named(haidian_fac):
    """Haidian: five bus stops named 清华附中 are bus stops, not middle schools; two subway stations
    named 国家图书馆 are no library (they used to become both)."""
    path = shared_path(OSM_FILES["haidian"])
    buses = _tagged_where(path, lambda t: t.get("name") == "清华附中" and t.get("highway") == "bus_stop")
    subway = _tagged_where(path, lambda t: t.get("name") == "国家图书馆" and t.get("railway") == "station")
    assert len(buses) == 5 and len(subway) == 2
    cats = haidian_fac.groupby("facility_id")["category"].apply(set).to_dict()
    for t, i, _, _ in buses:
        assert cats[f"{t}/{i}"] == {"bus_stop"}
    for t, i, _, _ in subway:
        assert f"{t}/{i}" not in cats  # a subway station is no bus stop either
    middle = set(haidian_fac.loc[haidian_fac["category"] == "middle_school", "name"])
    # the schools themselves, and a school building mapped only as a named outline (清华附中国际部)
    assert middle == {"清华附中", "中关村中学", "中关村中学分校", "清华大学附属中学", "清华附中国际部"}
    # neither its canteen (a restaurant) nor its sports ground, named after it, is another school
    assert not {"清华附中食堂", "清华附中操场"} & set(haidian_fac["name"].dropna())


def test_classify_never_takes_a_stop_or_a_shop_for_what_it_is_named_after():
    stops = [
        {"highway": "bus_stop", "public_transport": "platform", "name": "中关村第一小学"},
        {"public_transport": "platform", "bus": "yes", "name": "龙岗中心幼儿园"},
        {"highway": "bus_stop", "public_transport": "stop_position", "name": "农贸市场"},
        {"public_transport": "stop_position", "railway": "station", "subway": "yes", "name": "人民医院"},
        {"amenity": "bus_station", "name": "人民医院汽车站"},
        {"amenity": "parking", "name": "第一人民医院停车场"},
        {"amenity": "restaurant", "name": "实验小学食堂"},
    ]
    layer = gpd.GeoDataFrame({"tags": stops}, geometry=[shapely.Point(114.2, 22.7)] * len(stops), crs=4326)
    out = mg.facilities.classify(layer)
    got = out.groupby("osm_id")["category"].apply(set).to_dict()
    assert got == {0: {"bus_stop"}, 1: {"bus_stop"}, 2: {"bus_stop"}, 4: {"bus_stop", "bus_station"}}


def test_named_building_outlines_are_read_as_facilities(haidian_fac):
    """A facility mapped only as a building outline with a name is found (邮局: building=yes)."""
    path = shared_path(OSM_FILES["haidian"])
    post = _tagged_where(path, lambda t: t.get("name") == "邮局" and set(t) == {"building", "name"})
    assert len(post) == 1
    fid = f"{post[0][0]}/{post[0][1]}"
    row = haidian_fac.loc[haidian_fac["facility_id"] == fid]
    assert list(row["category"]) == ["parcel"] and list(row["matched_by"]) == ["name"]
    assert row.geometry.iloc[0].geom_type in ("Polygon", "MultiPolygon")
    # without named buildings the reader does not see it
    bare = mg.facilities.from_osm(mg.sources.read_osm(path, buildings="none"))
    assert fid not in set(bare["facility_id"])
    with pytest.raises(mg.InputError, match="buildings"):
        mg.sources.read_osm(path, buildings="some")


def test_campus_facilities_and_closed_ones_are_not_public(haidian_fac):
    """Haidian's three libraries all lie on the 清华大学 campus: none is a public cultural facility.

    Liechtenstein's adventure playground tagged access=private is no public play area."""
    assert not (haidian_fac["category"] == "culture").any()
    report = haidian_fac.attrs["facility_report"].not_public_frame()
    culture = report[report["category"] == "culture"]
    assert set(culture["facility_id"]) == {"node/4481615171", "way/80319114", "way/226671429"}
    assert set(culture["name"].dropna()) == {"图书馆", "人文社科图书馆"}
    assert set(culture["reason"]) == {"inside 清华大学"}
    # independent: those features' points lie inside the campus outline read by the test
    path = shared_path(OSM_FILES["haidian"])
    (campus,) = _tagged_where(path, lambda t: t.get("amenity") == "university" and t.get("name") == "清华大学")
    libraries = _tagged_where(path, lambda t: t.get("amenity") == "library")
    assert len(libraries) == 3 and all(campus[3].contains(r[3].point_on_surface()) for r in libraries)
    # a school on the campus is still a school: only public categories leave campus facilities out
    assert "清华附中国际部" in set(haidian_fac["name"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.RepairWarning)
        li = mg.facilities.from_osm(shared_path(OSM_FILES["liechtenstein"]))
    gone = li.attrs["facility_report"].not_public_frame()
    assert gone.loc[gone["reason"] == "access=private", "name"].tolist() == ["Abenteuerspielplatz Dräggspatz"]
    assert "Abenteuerspielplatz Dräggspatz" not in set(li["name"])
    # the rule is profile data: without closed grounds, the campus libraries count
    prof = mg.standards.load()
    open_campus = prof.model_copy(update={"facility_rules": prof.facility_rules.model_copy(update={"closed_grounds": []})})
    fac = mg.facilities.from_osm(mg.sources.read_osm(path), profile=open_campus)
    assert set(fac.loc[fac["category"] == "culture", "facility_id"]) == set(culture["facility_id"])


def test_a_facility_mapped_twice_counts_once():
    """Longgang's 龙岗区体育中心 is a relation inside a way of the same name; Andorra's Col·legi Sant
    Ermengol a node inside its own outline: each counts once, the outline kept, the merge listed."""
    lg = shared_path(OSM_FILES["longgang"])
    with pytest.warns(mg.RepairWarning, match="龙岗区体育中心"):
        fac = mg.facilities.from_osm(lg)
    sports = fac[(fac["category"] == "sports") & (fac["name"] == "龙岗区体育中心")]
    assert list(sports["facility_id"]) == ["way/665213780"]
    merged = fac.attrs["facility_report"].merged_frame()
    assert set(zip(merged["kept"], merged["merged"], strict=True)) == {("way/665213780", "relation/5325343")}
    # independent: the relation's outline lies inside the way's, which is larger
    rows = {f"{t}/{i}": g for t, i, tags, g in _tagged_where(lg, lambda t: t.get("name") == "龙岗区体育中心")}
    inner, outer = rows["relation/5325343"], rows["way/665213780"]
    assert outer.contains(inner.point_on_surface()) and _geodesic_m2(outer) > _geodesic_m2(inner)
    with pytest.warns(mg.RepairWarning, match="Sant Ermengol"):
        ad = mg.facilities.from_osm(shared_path(OSM_FILES["andorra"]))
    school = ad[ad["name"] == "Col·legi Sant Ermengol"]
    assert list(school["facility_id"]) == ["way/1058441696"] and list(school["category"]) == ["primary_school"]
    # off: both count
    prof = mg.standards.load()
    twice = prof.model_copy(update={"facility_rules": prof.facility_rules.model_copy(update={"merge_inside": "off"})})
    both = mg.facilities.from_osm(lg, profile=twice)
    assert (both["name"] == "龙岗区体育中心").sum() == (fac["name"] == "龙岗区体育中心").sum() + 2


def test_the_school_fallback_does_what_the_profile_says():
    """Only a school of unknown level counts as a primary school by fallback; isced:level=3, …高中 and
    …中学 never become primary schools."""
    cases = [
        ({"amenity": "school"}, {("primary_school", "fallback")}),
        ({"amenity": "school", "name": "Helilän koulu"}, {("primary_school", "fallback")}),
        ({"amenity": "school", "isced:level": "3"}, set()),
        ({"amenity": "school", "isced:level": "3", "name": "某某学校"}, set()),
        ({"amenity": "school", "name": "贵溪市第一高中"}, set()),
        ({"amenity": "school", "name": "贵溪市第二中学"}, {("middle_school", "name")}),
        ({"amenity": "school", "name": "贵溪市实验中学", "isced:level": "2;3"}, {("middle_school", "tag")}),
        ({"amenity": "school", "isced:level": "1"}, {("primary_school", "tag")}),
        ({"amenity": "school", "isced:level": "0"}, {("kindergarten", "tag")}),
        ({"amenity": "school", "name": "东门小学"}, {("primary_school", "name")}),
    ]
    layer = gpd.GeoDataFrame({"tags": [t for t, _ in cases]}, geometry=[shapely.Point(117.2, 28.3)] * len(cases), crs=4326)
    out = mg.facilities.classify(layer)
    # only one category asked: the fallback still looks at every category
    only = mg.facilities.classify(layer, categories=["primary_school"])
    for i, (_, want) in enumerate(cases):
        rows = out[out["osm_id"] == i]
        assert set(zip(rows["category"], rows["matched_by"], strict=True)) == want, cases[i]
        assert set(only.loc[only["osm_id"] == i, "category"]) == {c for c, _ in want} & {"primary_school"}
    # the profile says the same in words, and so does its documentation
    spec = mg.standards.load().categories["primary_school"]
    assert "isced:level=3" in spec.source and "never fall back" in spec.source
    (fallback,) = [r for r in spec.osm if r.fallback]
    assert fallback.absent == ["isced:level"]
    page = (Path(__file__).resolve().parents[1] / "docs" / "profiles.md").read_text(encoding="utf-8")
    section = page.split("#### `primary_school`", 1)[1].split("####", 1)[0]
    assert "`amenity=school` without `isced:level` (fallback 兜底)" in section
    assert "高中" in section and "never fall back to primary" in section


def test_feature_ids_and_the_facilities_of_a_part_equal_the_plain_routes():
    """``_feature_ids`` names each OSM feature as a plain loop over its rows does, and the
    facilities of a commune's part of the extract (its ids so named) are those of the whole
    extract that ``GeoSeries.intersects`` finds within 1 km of it, in the same order (Vaduz,
    Liechtenstein)."""
    from mtown_geo import _geom, facilities

    path = shared_path(OSM_FILES["liechtenstein"])
    towns = mg.batch.towns_from_osm(path, admin_level="8")
    town = towns[towns["name"] == "Vaduz"].reset_index(drop=True)
    metric = mg.crs.metric_crs(town)
    box = town.to_crs(4326).total_bounds + np.array([-0.03, -0.03, 0.03, 0.03])  # the commune and 2-3 km around it
    ext = mg.sources.read_osm(path).subset(tuple(float(v) for v in box))
    feats = ext.features
    plain = [f"{row.osm_type}/{row.osm_id}" for row in feats.itertuples()]
    assert facilities._feature_ids(feats).tolist() == plain
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fac = mg.facilities.from_osm(ext, boundary=town)
        every = mg.facilities.from_osm(ext)
    area = _geom.buffered(_geom.polygon_union(town, crs=metric, what="boundary", drop_empty=True), 1000.0)
    want = every.loc[every.to_crs(metric).intersects(shapely.from_wkb(shapely.to_wkb(area))).to_numpy()].reset_index(drop=True)
    assert 0 < len(fac) < len(every)
    assert fac["facility_id"].tolist() == want["facility_id"].tolist()
    assert fac["category"].tolist() == want["category"].tolist()
    assert shapely.to_wkb(fac.geometry.values).tolist() == shapely.to_wkb(want.geometry.values).tolist()


def test_facilities_near_a_part_are_the_projected_frames_rows():
    """The facilities kept near a commune (only the geometry column projected, the rows chosen
    by the predicate on it) are, to the bit and with their columns, dtypes and report, the rows
    of the whole frame projected and chosen by ``GeoSeries.intersects``, projected or as read;
    the extract's cached classification is left as it was (Vaduz, Liechtenstein)."""
    from mtown_geo import facilities

    path = shared_path(OSM_FILES["liechtenstein"])
    towns = mg.batch.towns_from_osm(path, admin_level="8")
    town = towns[towns["name"] == "Vaduz"].reset_index(drop=True)
    whole = mg.sources.read_osm(path)
    box = town.to_crs(4326).total_bounds + np.array([-0.03, -0.03, 0.03, 0.03])
    ext = whole.subset(tuple(float(v) for v in box))
    prof = mg.standards.resolve(None)
    cached_before = facilities._classified(whole, prof, None)
    gdf = facilities._classified(ext, prof, None)
    assert gdf.attrs["facility_report"] is not cached_before.attrs["facility_report"]
    metric, area = facilities._reach(town, 1000.0)
    for crs in (metric, None, 4326):
        got = facilities._within(gdf, metric, area, crs=crs)
        projected = gdf.to_crs(metric)
        hit = projected.intersects(area).to_numpy()
        kept = projected if crs is not None and projected.crs.equals(crs) else gdf
        want = kept.loc[hit].reset_index(drop=True)
        assert 0 < len(got) < len(gdf)
        assert list(got.columns) == list(want.columns) and list(got.dtypes.astype(str)) == list(want.dtypes.astype(str))
        for col in got.columns:
            if col == "geometry":
                assert shapely.to_wkb(got.geometry.values).tolist() == shapely.to_wkb(want.geometry.values).tolist()
            else:
                pd.testing.assert_series_equal(got[col], want[col], check_exact=True)
        assert got.index.equals(want.index) and got.crs.is_exact_same(want.crs)
        assert got.attrs.keys() == want.attrs.keys()
    cached = facilities._classified(whole, prof, None)
    assert cached.attrs["facility_report"] == cached_before.attrs["facility_report"]
    assert (
        whole.cache[("facilities", prof.model_dump_json(), None)].attrs["facility_report"]
        == cached_before.attrs["facility_report"]
    )
