"""Rebuild the embedded demo town's OSM extract (``mtown_geo/data/wudaokou.osm.pbf``).

The demo town is a rectangle around Wudaokou and Tsinghua University in Haidian, Beijing
(五道口—清华园, :data:`mtown_geo.demo.WUDAOKOU_BOX`). Its extract is cut from the OSM extract
``beijing_haidian_osm/haidian_wudaokou.osm.pbf`` (OSM as of 2017-06-24, © OpenStreetMap
contributors, ODbL 1.0) with pyosmium:

* every node inside the rectangle plus :data:`mtown_geo.demo.WUDAOKOU_CUT_M` metres (the
  study's network buffer of 1000 m and 200 m more);
* every way with a node there, whole (ways run past the cut deliberately: a street leaving
  the area keeps its length), with all its nodes; the tags of nodes outside the cut that
  are kept only as way vertices are dropped, so no stray feature appears beyond it;
* every multipolygon, boundary and hiking / cycling / foot route relation with a member
  kept; multipolygons and boundaries whole (all their ways), so areas such as the 圆明园
  park assemble; route members that are not kept are left out of the route. Bus, subway
  and road routes, route masters, stop areas and turn restrictions are left out: no
  indicator reads them;
* untagged nodes that are no vertex of a kept way are left out;
* object versions and edit times kept (the data date is the newest edit of the source,
  written as the file's replication timestamp); user names, user ids and changesets left out.

Then the boundaries the demo builds from it at run time (``mtown_geo.demo_boundaries()``)
are written to ``data/boundaries/wudaokou_demo.geojson`` as a sample.

Run from the project's root (needs the source extract beside the project)::

    python data/build_demo.py ../shared/data/beijing_haidian_osm/haidian_wudaokou.osm.pbf
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from datetime import UTC, datetime
from pathlib import Path

import geopandas as gpd
import osmium
import shapely

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mtown_geo import crs as _crs  # noqa: E402
from mtown_geo import demo  # noqa: E402

#: Relation types kept whole (all member ways), so that their areas assemble.
AREA_RELATIONS = {"multipolygon", "boundary"}
#: Route relations the toolkit reads (greenways); bus, subway and road routes, route
#: masters, stop areas and turn restrictions are not used by any indicator and are left out.
ROUTE_TYPES = {"hiking", "bicycle", "foot", "running", "mtb"}


def _wanted(rtype: str, route: str) -> bool:
    return rtype in AREA_RELATIONS or (rtype == "route" and route in ROUTE_TYPES)


def _cut_box() -> tuple[float, float, float, float]:
    """The demo rectangle plus the cut margin, as a lon/lat box (EPSG:4326)."""
    box = gpd.GeoSeries([shapely.box(*demo.WUDAOKOU_BOX)], crs=4326)
    metric = _crs.metric_crs(box)
    grown = box.to_crs(metric).buffer(demo.WUDAOKOU_CUT_M, join_style="mitre").to_crs(4326)
    x0, y0, x1, y1 = grown.total_bounds
    return (round(float(x0), 5), round(float(y0), 5), round(float(x1), 5), round(float(y1), 5))


def cut(source: Path, target: Path) -> dict[str, object]:
    """Cut ``source`` to the demo area (see the module's docstring) into ``target``; return counts."""
    x0, y0, x1, y1 = _cut_box()
    loc: dict[int, tuple[float, float]] = {}
    way_nodes: dict[int, list[int]] = {}
    rel_members: dict[int, tuple[str, list[tuple[str, int]]]] = {}
    tagged: set[int] = set()
    newest = datetime(1970, 1, 1, tzinfo=UTC)

    class _Scan(osmium.SimpleHandler):  # type: ignore[misc]
        def node(self, n: osmium.osm.Node) -> None:
            nonlocal newest
            loc[n.id] = (n.location.lon, n.location.lat)
            if len(n.tags):
                tagged.add(n.id)
            newest = max(newest, n.timestamp)

        def way(self, w: osmium.osm.Way) -> None:
            nonlocal newest
            way_nodes[w.id] = [r.ref for r in w.nodes]
            newest = max(newest, w.timestamp)

        def relation(self, r: osmium.osm.Relation) -> None:
            nonlocal newest
            if _wanted(r.tags.get("type", ""), r.tags.get("route", "")):
                rel_members[r.id] = (r.tags.get("type", ""), [(m.type, m.ref) for m in r.members])
            newest = max(newest, r.timestamp)

    _Scan().apply_file(str(source))
    inside = {i for i, (x, y) in loc.items() if x0 <= x <= x1 and y0 <= y <= y1}
    # a way is kept when one of its nodes lies inside; a node inside, when it is a feature
    # (tagged) or a vertex of a kept way
    ways = {w for w, refs in way_nodes.items() if any(r in inside for r in refs)}
    rels: set[int] = set()
    for _ in range(3):  # relations of relations, a few levels deep
        for rid, (rtype, members) in rel_members.items():
            if rid in rels:
                continue
            if any((t == "n" and m in inside) or (t == "w" and m in ways) or (t == "r" and m in rels) for t, m in members):
                rels.add(rid)
                if rtype in AREA_RELATIONS:
                    ways |= {m for t, m in members if t == "w" and m in way_nodes}
    vertices = {r for w in ways for r in way_nodes[w] if r in loc}
    inside &= tagged | vertices
    nodes = inside | vertices

    header = osmium.io.Header()
    header.add_box(osmium.osm.Box(osmium.osm.Location(x0, y0), osmium.osm.Location(x1, y1)))
    header.set("generator", "mtown_geo data/build_demo.py (pyosmium)")
    header.set("osmosis_replication_timestamp", newest.strftime("%Y-%m-%dT%H:%M:%SZ"))
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp.osm.pbf")
    tmp.unlink(missing_ok=True)
    counts = {"nodes": 0, "ways": 0, "relations": 0}
    with osmium.SimpleWriter(str(tmp), header=header) as writer:
        for obj in osmium.FileProcessor(str(source)):
            anonymous = {"user": "", "uid": 0, "changeset": 0}
            if obj.is_node() and obj.id in nodes:
                tags = obj.tags if obj.id in inside else {}
                writer.add_node(obj.replace(tags=tags, **anonymous))
                counts["nodes"] += 1
            elif obj.is_way() and obj.id in ways:
                writer.add_way(obj.replace(**anonymous))
                counts["ways"] += 1
            elif obj.is_relation() and obj.id in rels:
                kept = [
                    (m.type, m.ref, m.role)
                    for m in obj.members
                    if (m.type == "n" and m.ref in nodes)
                    or (m.type == "w" and m.ref in ways)
                    or (m.type == "r" and m.ref in rels)
                ]
                writer.add_relation(obj.replace(members=kept, **anonymous))
                counts["relations"] += 1
    tmp.replace(target)
    return {**counts, "box": (x0, y0, x1, y1), "data_date": newest.date().isoformat()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path, help="beijing_haidian_osm/haidian_wudaokou.osm.pbf")
    args = parser.parse_args()
    target = ROOT / "mtown_geo" / "data" / demo.WUDAOKOU_FILE
    info = cut(args.source, target)
    digest = hashlib.sha256(args.source.read_bytes()).hexdigest()
    print(f"source {args.source} sha256 {digest}")
    print(f"wrote {target}: {target.stat().st_size:,} bytes, {info}")
    sample = ROOT / "data" / "boundaries" / "wudaokou_demo.geojson"
    demo.demo_boundaries("wudaokou").to_file(sample, driver="GeoJSON")
    print(f"wrote {sample}")


if __name__ == "__main__":
    main()
