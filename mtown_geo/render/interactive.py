"""Interactive maps (folium / Leaflet) of travel times, facilities and boundaries.

Text from data and profiles (town, park, greenway, facility and category names) is shown as
text: tooltips and popups set it with ``textContent``, and layer names, titles and labels go
through :func:`escape_text`. Markup or script in a name is displayed, never run.
"""

from __future__ import annotations

import base64
import functools
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, cast

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .._errors import InputError
from .._io import atomic_file
from ..demand import cells
from ..lifecircle import time_column, time_columns
from ..sources.osm import ATTRIBUTION
from ..standards import Profile
from . import _leaflet
from ._basemap import Basemap
from ._classes import breaks_for, classify, time_classes
from ._leaflet import Page as _Page
from ._leaflet import Script as _Script
from ._leaflet import Text as _Text
from ._leaflet import add_basemap as _add_basemap
from ._leaflet import add_boundaries as _add_boundaries
from ._leaflet import area_part as _area_part
from ._leaflet import area_parts as _area_parts
from ._leaflet import escape_text
from ._symbology import CYCLE as _CYCLE
from ._symbology import facility_colour as _facility_colour
from ._symbology import grades as _grades

__all__ = ["TIME_BINS", "escape_text", "new_map", "reach_map", "save_map", "siting_map", "town_map"]

#: Travel-time classes of a whole-network search, 15-minute threshold: (upper bound in
#: minutes, colour, label), from :func:`mtown_geo.render.time_classes`; the last class,
#: "不可达 unreachable", is places with no path at all.
TIME_BINS: tuple[tuple[float, str, str], ...] = tuple((c.upper_min, c.colour, c.label) for c in time_classes())


@functools.lru_cache(maxsize=1)
def _leaflet_data_uris() -> tuple[str, str]:
    """Leaflet's JavaScript and CSS (from the django-js-lib-leaflet wheel) as ``data:`` URIs,
    its images inlined, so a map needs no CDN: saved, or shown inline in Jupyter."""
    base = resources.files("js_lib_leaflet") / "static" / "js_lib_leaflet"
    js = (base / "leaflet.js").read_bytes()
    css = (base / "leaflet.css").read_text(encoding="utf-8")
    for name in ("layers-2x.png", "layers.png", "marker-icon-2x.png", "marker-icon.png", "marker-shadow.png"):
        data = base64.b64encode((base / "images" / name).read_bytes()).decode("ascii")
        css = css.replace(f"url(images/{name})", f"url(data:image/png;base64,{data})")
    return (
        "data:text/javascript;base64," + base64.b64encode(js).decode("ascii"),
        "data:text/css;base64," + base64.b64encode(css.encode("utf-8")).decode("ascii"),
    )


def new_map(bounds: tuple[float, float, float, float], *, tiles: bool = True) -> folium.Map:
    """An empty folium map fitted to lon/lat bounds (west, south, east, north).

    With ``tiles=False`` the background is plain and the map needs no tile server; the
    OSM attribution is always shown, and the scale is metric only (m / km). Leaflet itself
    is embedded (no CDN), so the map works offline, saved with :func:`save_map` or shown
    inline in a notebook.
    """
    west, south, east, north = bounds
    fmap = folium.Map(
        location=[(south + north) / 2, (west + east) / 2],
        zoom_start=14,
        tiles="OpenStreetMap" if tiles else None,
        attr=ATTRIBUTION,
        control_scale=False,
    )
    js, css = _leaflet_data_uris()
    fmap.default_js = [("leaflet", js)]
    fmap.default_css = [("leaflet_css", css)]
    root: Any = fmap.get_root()
    _Script("L.control.scale({imperial: false, metric: true, maxWidth: 160, position: 'bottomright'}).addTo(", ");").add_to(fmap)
    # a plain light background and the OSM attribution whatever the base layer: the vector basemap,
    # the facilities and the streets all come from OSM, and the tiles may be switched off
    root.html.add_child(_Text("<style>.leaflet-container{background:#f4f4f0}</style>"))
    _Script("", f".attributionControl.addAttribution({_leaflet.js_json(escape_text(ATTRIBUTION))});").add_to(fmap)
    fmap.fit_bounds([[south, west], [north, east]])
    return fmap


def save_map(fmap: folium.Map, path: str | Path) -> Path:
    """Write a map as one self-contained HTML file, atomically."""
    path = Path(path)
    with atomic_file(path) as tmp:
        tmp.write_text(fmap.get_root().render(), encoding="utf-8")
    return path


_CIRCLE_ORDER = ("15min", "5min", "10min", "30min")

# -- the town map: compact layers drawn by the page's script (see _leaflet) --------------------

_SERVICE_AREA = ("#4575b4", "#313695")
_GAP = ("#d73027", "#a50026")
_SITE = "#1a9850"
_NEW_SITE = "#00441b"  # a new site's symbol: dark, under its white number


def _time_part(
    page: _Page, gref: str, t: np.ndarray, classes: Sequence[Any], label: str, weights: np.ndarray | None, *, points: bool
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A category's travel times on shared cells: the class of each cell and its minutes; with the legend's block."""
    k = classify(t, classes)
    rounded = np.round(t, 1)
    minutes: list[float | None] = rounded.tolist()
    for i in np.flatnonzero(~np.isfinite(rounded)).tolist():
        minutes[i] = None
    part = {
        "g": gref,
        "p": {"k": k.tolist(), "t": minutes},
        "by": "k",
        "cl": [[c.label, c.colour] for c in classes],
        "s": {"color": "by", "w": 1 if points else 0, "fo": 0.85 if points else 0.62},
        "pane": "mgPoints" if points else "mgCells",
        "r": 7,
        "tip": [
            {"p": "t", "h": f"{label} 出行时间 travel time", "u": "分钟 min", "d": 1, "z": "—"},
            {"p": "k", "h": "分级 class", "f": "cls"},
        ],
    }
    items = []
    share = _shares(k, len(classes), weights)
    for i, c in enumerate(classes):
        items.append({"t": "dot" if points else "box", "c": c.colour, "l": c.label + share[i]})
    return part, {"h": f"{label} 出行时间 travel time", "items": items}


def _shares(k: np.ndarray, n: int, weights: np.ndarray | None) -> list[str]:
    """Each class's share of the weight (" · 12.3 %"), or nothing without weights."""
    if weights is None or not np.nansum(weights) > 0:
        return [""] * n
    w = np.where(np.isfinite(weights), weights, 0.0)
    sums = np.bincount(k, weights=w, minlength=n)
    return [f" · {100 * s / w.sum():.1f} %" for s in sums]


def _symbol_points(fac: gpd.GeoDataFrame) -> np.ndarray:
    """Where each facility's symbol goes: a point on its geometry in WGS 84 (found in WGS 84)."""
    return cast(np.ndarray, fac.to_crs(4326).geometry.representative_point().to_numpy())


@dataclass(frozen=True)
class _Symbols:
    """Facilities as a map draws them: each one's category, name, attachment status (blank when
    ``ok``) and symbol point (WGS 84). Made once per map; subsets are taken from it."""

    cats: list[str]
    names: list[str]
    status: list[str]
    points: np.ndarray

    @classmethod
    def of(cls, fac: gpd.GeoDataFrame) -> _Symbols:
        f = fac.to_crs(4326)
        n = len(f)
        return cls(
            cats=[str(c) for c in (f["category"] if "category" in f else [""] * n)],
            names=[v if isinstance(v, str) and v else "(未命名 unnamed)" for v in (f["name"] if "name" in f else [None] * n)],
            status=[v if isinstance(v, str) and v != "ok" else "" for v in (f["status"] if "status" in f else [None] * n)],
            points=_symbol_points(f),
        )

    def take(self, sel: np.ndarray) -> _Symbols:
        """The facilities where ``sel`` (a boolean mask) is true."""
        idx = np.flatnonzero(sel)
        return _Symbols(
            cats=[self.cats[i] for i in idx],
            names=[self.names[i] for i in idx],
            status=[self.status[i] for i in idx],
            points=self.points[idx],
        )


def _facility_part(
    page: _Page, fac: gpd.GeoDataFrame, profile: Profile | None, order: Sequence[str]
) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """Facilities as circle symbols coloured by category (one layer), with their legend block (counts per category)."""
    if fac is None or not len(fac):
        return None
    return _symbol_part(page, _Symbols.of(fac), profile, order)


def _symbol_part(
    page: _Page, sym: _Symbols, profile: Profile | None, order: Sequence[str]
) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """:func:`_facility_part` of facilities already read (:class:`_Symbols`)."""
    if not len(sym.cats):
        return None
    cats, names, status = sym.cats, sym.names, sym.status
    present = [c for c in order if c in set(cats)] + sorted(set(cats) - set(order))
    idx = {c: i for i, c in enumerate(present)}

    def zh(c: str) -> str:
        return profile.categories[c].name_zh if profile is not None and c in profile.categories else c

    def full(c: str) -> str:
        if profile is not None and c in profile.categories:
            return f"{profile.categories[c].name_zh} {profile.categories[c].name_en}"
        return c

    geo, keep = page.lonlat(sym.points)
    sel = np.flatnonzero(keep)
    props = {
        "name": [names[i] for i in sel],
        "category": [f"{zh(cats[i])} ({cats[i]})" if zh(cats[i]) != cats[i] else cats[i] for i in sel],
        "c": [idx[cats[i]] for i in sel],
    }
    pop: list[dict[str, Any]] = [{"p": "name", "h": "名称 name"}, {"p": "category", "h": "类别 category"}]
    if any(status):
        props["attachment"] = [status[i] for i in sel]
        pop.append({"p": "attachment", "h": "接入 attachment", "skip": True})
    colours = [_facility_colour(c, i) for i, c in enumerate(present)]
    part = {
        "g": geo,
        "p": props,
        "by": "c",
        "cl": [[full(c), colours[i]] for i, c in enumerate(present)],
        "s": {"color": "#ffffff", "w": 1.5, "fo": 0.95},
        "pane": "mgPoints",
        "r": 6,
        "tip": [{"p": "category", "h": "类别 category"}, {"p": "name", "h": "名称 name"}],
        "pop": pop,
    }
    counts = Counter(cats[i] for i in sel)
    items = [
        {"t": "dot", "c": colours[i], "e": "#ffffff", "l": f"{full(c)} · {int(counts.get(c, 0))} 处"}
        for i, c in enumerate(present)
    ]
    return part, {"h": "设施 facilities", "items": items}


def _label(profile: Profile | None, cat: str) -> str:
    return profile.categories[cat].name_zh if profile is not None and cat in profile.categories else str(cat)


def _weight_column(units: gpd.GeoDataFrame, weight: str | None) -> str | None:
    """The unit column the shares are weighted by: ``weight`` when the units have it, else the
    first of residential land, people and area with a positive total (None: by count)."""
    if weight is None:
        for col in ("res_area_m2", "pop", "area_m2"):
            if col in units and float(np.nansum(units[col].to_numpy(float))) > 0:
                return col
    return weight if weight is not None and weight in units else None


def _weights(units: gpd.GeoDataFrame, weight: str | None) -> tuple[np.ndarray | None, str]:
    """The weight of each unit for the legend's shares (and which units are drawn), and how it reads."""
    weight = _weight_column(units, weight)
    if weight is None:
        return None, "按个数 by count"
    reads = {"res_area_m2": "按居住用地面积 by residential land", "pop": "按人口 by people", "area_m2": "按面积 by area"}
    return units[weight].to_numpy(float), reads.get(weight, f"按 {weight}")


def town_map(
    layers: Mapping[str, gpd.GeoDataFrame],
    *,
    profile: Profile,
    tiles: bool = True,
    title: str = "",
    banner: str = "",
    town: str = "",
    basemap: Basemap | None = None,
    weight: str | None = None,
    max_time_min: float = np.inf,
) -> folium.Map:
    """The interactive map of a town's results, readable at a glance and offline.

    The page opens on the 15-minute circle's whole coverage (how many of its required
    categories each place reaches, k of n, with the facilities of those categories) over a
    vector basemap made from the run's own OSM data. A collapsed layer control groups the
    other layers by circle and category (travel time, service area, gaps), then parks and
    greenways; the legend shows every visible layer (its classes with their shares, the
    facility symbols with their counts, the boundaries, the basemap), and the scale is metric.
    Travel-time classes say only what the search measured (:func:`time_classes`).

    Parameters
    ----------
    layers : mapping of name to GeoDataFrame
        A study's layers (see :func:`mtown_geo.run`): ``units_<circle>`` (demand units with
        ``time_min_<category>`` minutes, ``n_reached``, ``missing``), ``isochrones_<circle>``,
        ``gaps_<circle>``, ``facilities``, ``parks_buffers``, ``parks_parks``,
        ``parks_uncovered``, ``greenways``, ``proposed_sites_<circle>``, ``boundaries``,
        ``streets``; any may be missing.
    profile : Profile
        For the Chinese names of circles and categories and the thresholds.
    tiles : bool
        Offer OpenStreetMap tiles (online) and open on them; the vector basemap is offered
        either way, and is the background when ``False``.
    title : str
        The map's title (and the page's); default: the town's name and what the map shows.
    banner : str
        A warning shown under the title (e.g. the categories no data source holds).
    town : str
        The town's name, for the default title.
    basemap : Basemap, optional
        Streets, water, green land and buildings (``StudyResult.basemap``); without it, the
        ``streets`` layer gives the streets.
    weight : str, optional
        The unit column the rates are weighted by (``res_area_m2``, ``pop``, ``area_m2``);
        cells with no weight are not drawn, and the legend gives each class's share of it.
        Default: the first of those with a positive total.
    max_time_min : float
        The cut-off in minutes of the search behind the times (``inf``: the whole network,
        as :func:`mtown_geo.run` searches); ``units.attrs["max_time_min"]`` when present.

    Returns
    -------
    folium.Map
        Save it with :func:`save_map` for one self-contained HTML file.
    """
    extent = next((g for k, g in layers.items() if k == "boundaries" and len(g)), None)
    if extent is None:
        extent = next(g for g in layers.values() if len(g))
    bounds = tuple(float(v) for v in extent.to_crs(4326).total_bounds)
    fmap = new_map(bounds, tiles=tiles)  # type: ignore[arg-type]
    page = _Page(bounds)  # type: ignore[arg-type]
    circles = [c for c in _CIRCLE_ORDER if f"units_{c}" in layers] + sorted(
        k.split("_", 1)[1] for k in layers if k.startswith("units_") and k.split("_", 1)[1] not in _CIRCLE_ORDER
    )
    fac = layers.get("facilities")
    # read once: every facility symbol of the map is drawn from these
    symbols = _Symbols.of(fac) if fac is not None and len(fac) else None
    fac_cats = fac.get("category") if symbols is not None and fac is not None else None
    fac_cat_values = fac_cats.to_numpy(dtype=object) if fac_cats is not None else None

    first = True
    for circle in circles:
        units = layers[f"units_{circle}"]
        if not len(units):
            continue
        cspec = profile.circles.get(circle)
        cname = cspec.name_zh if cspec is not None else circle
        cats = list(time_columns(units))
        required = list(cspec.required) if cspec is not None else cats
        cats = [c for c in required if c in cats]
        has_cells = {"x", "y", "cell_m"} <= set(units.columns)
        w, reads = _weights(units, weight if has_cells else None)
        drawn = np.ones(len(units), dtype=bool) if w is None or not has_cells else (np.nan_to_num(w) > 0)
        if not drawn.any():
            drawn[:] = True
        u = units[drawn]
        wd = w[drawn] if w is not None else None
        shapes = cells(u).geometry if has_cells else u.geometry
        geo, keep = page.geometry(shapes, simplify_m=None)
        u, wd = u[keep], (wd[keep] if wd is not None else None)
        gref = f"units_{circle}"
        page.geoms[gref] = geo
        points = not has_cells and bool(np.all(np.isin(shapely.get_type_id(shapes.to_numpy()[keep]), (0, 4))))
        limit = float(units.attrs.get("max_time_min", max_time_min))
        note = f"{reads}；{'格网 ' + format(float(units['cell_m'].iloc[0]), 'g') + ' m cells' if has_cells else '村 villages'}"
        group: list[Any] = []
        # the whole circle: categories reached, k of n
        if "n_reached" in u:
            n = len(required)
            grades = _grades(n + 1)
            kk = np.clip(u["n_reached"].to_numpy(int), 0, n)
            bits = np.zeros(len(u), dtype=np.int64)
            if "missing" in u:
                # the categories each place misses, as bits in the order of `required`: each distinct list read once
                codes, lists = pd.factorize(u["missing"].fillna("").astype(str).to_numpy(dtype=object))
                masks = np.zeros(len(lists), dtype=np.int64)
                for i, text in enumerate(lists.tolist()):
                    names = set(str(text).split(","))
                    masks[i] = sum(1 << j for j, cat in enumerate(required) if cat in names)
                bits = masks[codes]
            labels = [f"{i} / {n} 类" + ("（全部 all）" if i == n else "（无 none）" if i == 0 else "") for i in range(n + 1)]
            share = _shares(kk, n + 1, wd)
            part = {
                "g": gref,
                "p": {"n": kk.tolist(), "m": bits.tolist()},
                "by": "n",
                "cl": [[labels[i], grades[i]] for i in range(n + 1)],
                "s": {"color": "by", "w": 1 if points else 0, "fo": 0.85 if points else 0.62},
                "pane": "mgPoints" if points else "mgCells",
                "r": 7,
                "tip": [
                    {"p": "n", "h": "可达必备类别 categories reached", "f": "of", "of": n, "u": "类"},
                    {"p": "m", "h": "缺少 missing", "f": "bits", "names": [_label(profile, c) for c in required]},
                ],
            }
            blocks = [
                {
                    "h": f"{cname} 必备设施可达类别 categories reached (k / n)",
                    "note": f"{n} 类必备设施各在其时限内 · {note}",
                    "items": [
                        {"t": "dot" if points else "box", "c": grades[i], "l": labels[i] + share[i]} for i in range(n, -1, -1)
                    ],
                }
            ]
            parts = [part]
            if symbols is None:
                fp = None
            else:
                sym = symbols.take(fac_cats.isin(required).to_numpy()) if fac_cats is not None else symbols
                fp = _symbol_part(page, sym, profile, required)
            if fp is not None:
                parts.append(fp[0])
                blocks.append(fp[1])
            full = f"{cname} · 全部必备类别覆盖 whole circle (k / n)"
            group.append(page.layer(f"{circle}:all", "全部类别覆盖 whole circle (k / n)", full, parts, blocks, on=first))
            first = False
        iso = layers.get(f"isochrones_{circle}")
        gaps = layers.get(f"gaps_{circle}")
        # each layer's categories read once; each category's rows picked by a plain array
        iso_cats = iso["category"].to_numpy(dtype=object) if iso is not None and "category" in iso else None
        gap_cats = gaps["category"].to_numpy(dtype=object) if gaps is not None and "category" in gaps else None
        # each layer's geometries simplified and projected once for all its categories
        service: dict[str, Any] = {}
        if iso is not None and len(iso) and iso_cats is not None:
            service = _area_parts(
                page,
                iso,
                iso_cats,
                cats,
                fields=[("threshold_min", "时限 threshold", "分钟 min", None), ("area_m2", "面积 area", "ha", 1)],
                fill=_SERVICE_AREA[0],
                edge=_SERVICE_AREA[1],
                fo=0.18,
                w=1.5,
                dash="6 4",
            )
        shortfall: dict[str, Any] = {}
        if gaps is not None and len(gaps) and gap_cats is not None:
            shortfall = _area_parts(
                page,
                gaps,
                gap_cats,
                cats,
                fields=[
                    ("area_m2", "面积 area", "ha", 2),
                    ("res_area_m2", "居住用地 residential land", "ha", 2),
                    ("pop", "人口 people", "人", 0),
                ],
                fill=_GAP[0],
                edge=_GAP[1],
                fo=0.45,
                simplify_m=0.0,
            )
        gap_pop = gaps["pop"].to_numpy(float) if shortfall and gaps is not None and "pop" in gaps else None
        for cat in cats:
            label = _label(profile, cat)
            try:
                threshold = profile.threshold_min(circle, cat)
            except Exception:
                threshold = 15.0
            classes = time_classes(breaks_for(threshold), max_time_min=limit)
            t = u[time_column(cat)].to_numpy(dtype=float)
            part, block = _time_part(page, gref, t, classes, label, wd, points=points)
            block["h"] = f"{cname} · {label} 出行时间 travel time"
            block["note"] = f"时限 threshold {threshold:g} 分钟 min · {note}"
            parts, blocks = [part], [block]
            fp = None
            if symbols is not None and fac_cat_values is not None:
                fp = _symbol_part(page, symbols.take(fac_cat_values == cat), profile, [cat])
            if fp is not None:
                parts.append(fp[0])
                blocks.append(fp[1])
            items = [
                page.layer(f"{circle}:{cat}:t", "出行时间 travel time", f"{cname} · {label} 出行时间 travel time", parts, blocks)
            ]
            if service:
                sp = service[cat]
                if sp is not None:
                    lab = f"{cname} · {label} 服务范围 service area"
                    leg = {
                        "h": lab,
                        "items": [
                            {
                                "t": "box",
                                "c": _SERVICE_AREA[0],
                                "e": _SERVICE_AREA[1],
                                "l": f"≤ {threshold:g} 分钟步行可达 within {threshold:g} min",
                            }
                        ],
                    }
                    items.append(page.layer(f"{circle}:{cat}:s", "服务范围 service area", lab, [sp], [leg]))
            if shortfall:
                gp = shortfall[cat]
                if gp is not None:
                    lab = f"{cname} · {label} 服务盲区 gaps"
                    people = float(np.nansum(gap_pop[gap_cats == cat])) if gap_pop is not None else np.nan
                    text = f"{threshold:g} 分钟内未覆盖 not within {threshold:g} min" + (
                        f" · {people:,.0f} 人" if np.isfinite(people) else ""
                    )
                    leg = {"h": lab, "items": [{"t": "box", "c": _GAP[0], "e": _GAP[1], "l": text}]}
                    items.append(page.layer(f"{circle}:{cat}:g", "服务盲区 gaps", lab, [gp], [leg]))
            group.append({"label": label, "items": items})
        sites = layers.get(f"proposed_sites_{circle}")
        if sites is not None and len(sites):
            s = sites.to_crs(4326)
            geo_s, keep_s = page.geometry(s, simplify_m=None)
            s = s[keep_s]
            site_text = [
                f"新增{_label(profile, str(r.get('category', '')))} #{int(r['order'])} → {100 * float(r['coverage']):.1f}%"
                for _, r in s.iterrows()
            ]
            part = {
                "g": geo_s,
                "p": {"label": site_text},
                "s": {"fill": _SITE, "color": "#000000", "w": 2, "fo": 1},
                "pane": "mgPoints",
                "r": 7,
                "tip": [{"p": "label"}],
            }
            lab = f"{cname} · 建议新增设施 proposed sites"
            leg = {
                "h": lab,
                "items": [
                    {"t": "dot", "c": _SITE, "e": "#000000", "l": "建议新增设施（序号 → 覆盖率）proposed site (order → coverage)"}
                ],
            }
            group.append(page.layer(f"{circle}:sites", "建议新增设施 proposed sites", lab, [part], [leg]))
        en = cspec.name_en if cspec is not None else ""
        page.tree.append({"label": f"{cname} {en}".strip(), "open": circle == circles[0], "items": group})
    # parks and greenways
    parks: list[Any] = []
    for key, name, colour, fields in (
        (
            "parks_buffers",
            "公园服务半径 park service radii",
            "#1a9850",
            [("size_label", "规模 size", "", None), ("radius_m", "服务半径 radius", "m", 0)],
        ),
        (
            "parks_parks",
            "公园 parks",
            "#006837",
            [
                ("name", "名称 name", "", None),
                ("size_label", "规模 size", "", None),
                ("radius_m", "服务半径 radius", "m", 0),
                ("area_m2", "面积 area", "ha", 2),
            ],
        ),
        ("parks_uncovered", "未覆盖居住用地 residential land not covered", "#d73027", [("area_m2", "面积 area", "ha", 2)]),
    ):
        gdf = layers.get(key)
        area = _area_part(page, gdf, fields=fields, fill=colour, edge=colour, fo=0.3) if gdf is not None else None
        if area is not None:
            leg = {"h": name, "items": [{"t": "box", "c": colour, "l": name}]}
            parks.append(page.layer(key, name, name, [area], [leg]))
    green = layers.get("greenways")
    if green is not None and len(green):
        line = _area_part(
            page,
            green,
            fields=[("name", "名称 name", "", None), ("length_m", "长度 length", "m", 0)],
            fill="none",
            edge="#00a651",
            fo=0,
            w=4,
        )
        if line is not None:
            total = float(np.nansum(green["length_m"].to_numpy(float))) / 1000 if "length_m" in green else np.nan
            leg = {
                "h": "绿道 greenways",
                "items": [
                    {
                        "t": "line",
                        "c": "#00a651",
                        "w": 4,
                        "l": f"绿道 greenway · {total:.2f} km" if np.isfinite(total) else "绿道 greenway",
                    }
                ],
            }
            parks.append(page.layer("greenways", "绿道 greenways", "绿道 greenways", [line], [leg]))
    if parks:
        page.tree.append({"label": "公园与绿道 parks and greenways", "items": parks})
    fp = _symbol_part(page, symbols, profile, list(profile.categories)) if symbols is not None else None
    if fp is not None:
        page.tree.append(
            {
                "label": "参考 reference",
                "items": [page.layer("facilities", "全部设施 all facilities", "全部设施 all facilities", [fp[0]], [fp[1]])],
            }
        )
    _add_boundaries(page, layers.get("boundaries"))
    _add_basemap(page, basemap, layers.get("streets"), extent)
    if not title:
        title = f"{town} 生活圈设施可达性 life-circle access".strip()
    page.add_to(fmap, title=title, banner=banner, tiles=tiles)
    return fmap


def reach_map(
    cells: gpd.GeoDataFrame,
    times: pd.DataFrame,
    *,
    facilities: gpd.GeoDataFrame | None = None,
    boundaries: gpd.GeoDataFrame | None = None,
    profile: Profile | None = None,
    categories: Sequence[str] | None = None,
    tiles: bool = True,
    title: str = "",
    threshold_min: float = 15.0,
    max_time_min: float | None = None,
    basemap: Basemap | None = None,
) -> folium.Map:
    """A map of travel times: one layer per category, demand cells coloured by time class.

    Parameters
    ----------
    cells : GeoDataFrame
        Demand-unit polygons (e.g. :func:`mtown_geo.demand.cells`), any CRS.
    times : DataFrame
        Travel times in minutes (``inf`` where none was found), index-aligned with ``cells``,
        one column per category.
    facilities : GeoDataFrame, optional
        Facilities (``category``, ``name``), drawn with their category's layer.
    boundaries : GeoDataFrame, optional
        Study-area outlines (``kind``: 镇域 / 建成区), always drawn.
    profile : Profile, optional
        For the Chinese category names.
    tiles : bool, optional
        Offer (and open on) OpenStreetMap tiles; ``False`` needs no tile server.
    title : str, optional
        The map's title.
    threshold_min : float, optional
        The threshold the classes are built around (5-minute steps up to it, then twice it).
    max_time_min : float, optional
        The cut-off of the search behind ``times`` (``inf``: the whole network); default
        ``times.attrs["max_time_min"]``. The classes stop there ("> cut-off 或不可达").
    basemap : Basemap, optional
        The vector basemap.

    Returns
    -------
    folium.Map
    """
    if max_time_min is None:
        max_time_min = times.attrs.get("max_time_min")
    if max_time_min is None:
        raise InputError(
            "the times do not say where their search stopped: pass max_time_min= (Reach.max_time_min of the "
            "search, or numpy.inf when the whole network was searched)"
        )
    cats = list(times.columns if categories is None else categories)
    wgs = cells.to_crs(4326)
    bounds = tuple(float(v) for v in wgs.total_bounds)
    fmap = new_map(bounds, tiles=tiles)  # type: ignore[arg-type]
    page = _Page(bounds)  # type: ignore[arg-type]
    geo, keep = page.geometry(cells.geometry, simplify_m=None)
    page.geoms["cells"] = geo
    classes = time_classes(breaks_for(threshold_min), max_time_min=float(max_time_min))
    for i, cat in enumerate(cats):
        label = _label(profile, cat)
        if profile is not None and cat in profile.categories:
            label = f"{profile.categories[cat].name_zh} {profile.categories[cat].name_en}"
        part, block = _time_part(page, "cells", times[cat].to_numpy(dtype=float)[keep], classes, label, None, points=False)
        parts, blocks = [part], [block]
        if facilities is not None and "category" in facilities:
            fp = _facility_part(page, facilities[facilities["category"] == cat], profile, [cat])
            if fp is not None:
                parts.append(fp[0])
                blocks.append(fp[1])
        full = f"{label} 出行时间 travel time"
        page.tree.append(page.layer(f"t:{cat}", full, full, parts, blocks, on=i == 0))
    _add_boundaries(page, boundaries)
    _add_basemap(page, basemap, None, boundaries if boundaries is not None and len(boundaries) else wgs)
    page.add_to(fmap, title=title or "出行时间 travel time", tiles=tiles)
    return fmap


#: The coverage state of a demand cell in a siting plan: (legend label, colour).
_SITING_STATES = (
    ("现有设施已覆盖 covered now", "#9e9e9e"),
    ("新址新增覆盖 newly covered", "#1a9850"),
    ("仍未覆盖 not covered", "#d73027"),
)

#: How a weight column reads in a legend: (what, unit, divisor, decimals).
_WEIGHT_UNITS = {
    "res_area_m2": ("居住用地 residential land", "公顷 ha", 1e4, 2),
    "area_m2": ("面积 area", "公顷 ha", 1e4, 2),
    "pop": ("人口 people", "人", 1.0, 0),
}


def siting_map(
    units: gpd.GeoDataFrame,
    sites: gpd.GeoDataFrame,
    *,
    label: str,
    bounds: tuple[float, float, float, float] | None = None,
    tiles: bool = True,
    town: str = "",
    title: str = "",
    category: str | None = None,
    profile: Profile | None = None,
    weight: str | None = None,
    threshold_min: float | None = None,
    facilities: gpd.GeoDataFrame | None = None,
    boundaries: gpd.GeoDataFrame | None = None,
    basemap: Basemap | None = None,
) -> folium.Map:
    """The interactive map of a siting plan: where the new sites go and what they cover.

    The page opens on the demand cells by coverage state (covered by the existing
    facilities, newly covered by the new sites, still not covered; each with its cells
    and its share of the weight), the proposed sites numbered in the order they are
    added, and the existing facilities of the category, over the vector basemap. A
    collapsed layer control also offers the area each new site newly covers. The scale
    is metric, names are shown as text, and a cell no new site serves says nothing of a
    site (no sentinel).

    Parameters
    ----------
    units : GeoDataFrame
        Demand cells (``x``, ``y``, ``cell_m``, any metric CRS; or polygons) with
        ``covered_before``, ``covered_after`` and ``new_site`` (the order of the site that
        covers them, or NA), as :attr:`mtown_geo.siting.SitingPlan.units` joined to them.
    sites : GeoDataFrame
        The proposed sites (points) with ``order``, ``coverage`` (0–1, after the site) and
        ``new_<weight>`` (the weight it newly covers), as :attr:`SitingPlan.sites`.
    label : str
        The facility category's name (Chinese), shown in titles, layer names and tooltips.
    bounds : tuple of float, optional
        West, south, east, north in degrees (WGS 84): the extent the map opens on; default
        the boundaries', else the cells'.
    tiles : bool
        Offer OpenStreetMap tiles (online) as a background; the vector basemap is offered
        either way, and is the background at start.
    town : str
        The town's name, for the title.
    title : str
        The map's title; default the town, the category and "选址 siting".
    category, profile : str, Profile, optional
        The category's id and the profile, for its English name and the facilities' names.
    weight : str, optional
        The unit column the coverage is weighted by (``res_area_m2``, ``pop``, ``area_m2``;
        ``SitingPlan.weight``); cells without weight are not drawn. Default: the first of
        those with a positive total.
    threshold_min : float, optional
        The travel-time threshold in minutes, for the legend.
    facilities : GeoDataFrame, optional
        The existing facilities of the category (``name``), drawn as symbols.
    boundaries : GeoDataFrame, optional
        Study-area outlines (``kind``: 镇域 / 建成区), always drawn.
    basemap : Basemap, optional
        Streets, water, green land and buildings (``StudyResult.basemap``).

    Returns
    -------
    folium.Map
        Save it with :func:`save_map`.
    """
    missing = {"covered_before", "covered_after", "new_site"} - set(units.columns)
    if missing:
        raise InputError(
            f"the siting units lack {sorted(missing)}: join SitingPlan.units to the demand units (units.join(plan.units))"
        )
    has_cells = {"x", "y", "cell_m"} <= set(units.columns)
    shapes = cells(units) if has_cells else units
    extent = boundaries if boundaries is not None and len(boundaries) else shapes
    view = bounds if bounds is not None else cast(tuple[float, float, float, float], tuple(extent.to_crs(4326).total_bounds))
    fmap = new_map(view, tiles=tiles)
    page = _Page(view)
    en = profile.categories[category].name_en if profile is not None and category in profile.categories else ""
    wname = _weight_column(units, weight)
    w, reads = _weights(units, wname)
    drawn = np.ones(len(units), dtype=bool) if w is None else np.nan_to_num(w) > 0
    if not drawn.any():
        drawn[:] = True
    before = units["covered_before"].to_numpy(bool)
    after = units["covered_after"].to_numpy(bool)
    total = float(np.nansum(w)) if w is not None else float(len(units))
    share_before = 100 * (float(np.nansum(w[before])) if w is not None else float(before.sum())) / total if total > 0 else 0.0
    share_after = 100 * (float(np.nansum(w[after])) if w is not None else float(after.sum())) / total if total > 0 else 0.0
    g84 = shapes.geometry[drawn].to_crs(4326).to_numpy()
    geo, keep = page.lonlat(g84)
    page.geoms["cells"] = geo
    sel = np.flatnonzero(drawn)[keep]
    wd = w[sel] if w is not None else None
    state = np.where(before[sel], 0, np.where(after[sel], 1, 2))
    site_no = units["new_site"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)[sel]
    cell_note = f"格网 {float(units['cell_m'].iloc[0]):g} m cells · " if has_cells and len(units) else ""
    time_note = f"{threshold_min:g} 分钟内 within {threshold_min:g} min · " if threshold_min is not None else ""
    note = f"{time_note}{cell_note}{reads}"
    props: dict[str, list[Any]] = {"k": state.tolist(), "s": [f"#{int(v)}" if np.isfinite(v) else None for v in site_no]}
    tip: list[dict[str, Any]] = [
        {"p": "k", "h": "状态 state", "f": "cls"},
        {"p": "s", "h": "服务新址 served by new site", "skip": True},
    ]
    if wname is not None and wname in units:
        what, unit, div, dec = _WEIGHT_UNITS.get(wname, (wname, "", 1.0, 2))
        props["w"] = _leaflet.json_values(units[wname].to_numpy(float)[sel] / div, dec)
        tip.append({"p": "w", "h": what, "u": unit, "d": dec, "skip": True})
    counts = np.bincount(state, minlength=3)
    share = _shares(state, 3, wd)
    part = {
        "g": "cells",
        "p": props,
        "by": "k",
        "cl": [[lab, colour] for lab, colour in _SITING_STATES],
        "s": {"color": "by", "w": 0, "fo": 0.6},
        "pane": "mgCells",
        "tip": tip,
    }
    cover = f"覆盖率 coverage {share_before:.1f} % → {share_after:.1f} %"
    block = {
        "h": f"{label}覆盖状态 coverage",
        "note": f"{cover} · {note}",
        "items": [
            {"t": "box", "c": colour, "l": f"{lab} · {int(counts[i])} 格{share[i]}"}
            for i, (lab, colour) in enumerate(_SITING_STATES)
        ],
    }
    headline = f"{label}覆盖率 coverage {share_before:.1f} % → {share_after:.1f} %（建议新址 {len(sites)} 处 new sites）"
    items = [page.layer("state", "覆盖状态 coverage", f"{label}覆盖状态 coverage", [part], [block], on=True, sub=headline)]
    # the cells each new site newly covers, one colour per site
    orders = sorted({int(v) for v in site_no[np.isfinite(site_no)]})
    if orders:
        pos = {o: i for i, o in enumerate(orders)}
        newly = np.isfinite(site_no)
        colours = [_CYCLE[i % len(_CYCLE)] for i in range(len(orders))]
        k = np.array([pos[int(v)] if np.isfinite(v) else -1 for v in site_no])
        geo_n, _ = page.lonlat(g84[keep][newly])
        # each site's share of the whole weight (as the state layer's): what it adds to the coverage
        nshare = _shares(np.where(newly, k, len(orders)), len(orders) + 1, wd)[:-1]
        ncount = np.bincount(k[newly], minlength=len(orders))
        served = {
            "g": geo_n,
            "p": {"k": k[newly].tolist()},
            "by": "k",
            "cl": [[f"新址 site #{o}", colours[i]] for i, o in enumerate(orders)],
            "s": {"color": "by", "w": 0, "fo": 0.6},
            "pane": "mgCells",
            "tip": [{"p": "k", "h": "服务新址 served by new site", "f": "cls"}],
        }
        nblock = {
            "h": "各新址新增覆盖 newly covered by each new site",
            "note": note,
            "items": [
                {"t": "box", "c": colours[i], "l": f"新址 site #{o} · {int(ncount[i])} 格{nshare[i]}"}
                for i, o in enumerate(orders)
            ],
        }
        lab = "各新址新增覆盖 area of each new site"
        items.append(page.layer("served", lab, f"{label} · {lab}", [served], [nblock], sub=headline))
    # the proposed sites, numbered in the order they are added
    if len(sites):
        s = sites.to_crs(4326)
        geo_s, keep_s = page.geometry(s, simplify_m=None)
        s = s[keep_s]
        sp: dict[str, list[Any]] = {
            "no": [str(int(o)) for o in s["order"]],
            "o": [f"新增{label} #{int(o)}" for o in s["order"]],
            "c": _leaflet.json_values(100 * s["coverage"].to_numpy(float), 1),
        }
        stip: list[dict[str, Any]] = [{"p": "o", "h": "建议新址 proposed site"}]
        col = f"new_{wname}" if wname is not None else "new_units"
        if col in s and wname in _WEIGHT_UNITS:
            what, unit, div, dec = _WEIGHT_UNITS[wname]
            sp["n"] = _leaflet.json_values(s[col].to_numpy(float) / div, dec)
            stip.append({"p": "n", "h": f"新增覆盖 newly covered {what}", "u": unit, "d": dec, "skip": True})
        stip.append({"p": "c", "h": "建成后覆盖率 coverage once built", "u": "%", "d": 1, "skip": True})
        spart = {
            "g": geo_s,
            "p": sp,
            "s": {"fill": _NEW_SITE, "color": "#ffffff", "w": 2, "fo": 1},
            "pane": "mgPoints",
            "r": 9,
            "lab": "no",  # the site's number on its symbol; the rest in its popup
            "pop": stip,
        }
        sblock = {
            "h": f"建议新增{label} proposed sites",
            "items": [
                {"t": "dot", "c": _NEW_SITE, "e": "#ffffff", "l": f"建议新址（按增设顺序编号）new site, numbered · {len(s)} 处"}
            ],
        }
        lab = f"建议新增{label} proposed sites"
        items.append(page.layer("sites", lab, lab, [spart], [sblock], on=True, sub=headline))
    if facilities is not None and len(facilities):
        order = [category] if category is not None else []
        fp = _facility_part(page, facilities, profile, order)
        if fp is not None:
            lab = f"现有{label} existing facilities"
            fp[1]["h"] = lab
            items.append(page.layer("existing", lab, lab, [fp[0]], [fp[1]], on=True, sub=headline))
    group_label = f"新增{label}选址 new {en or 'facility'} sites"
    page.tree.append({"label": group_label, "open": True, "items": items})
    _add_boundaries(page, boundaries)
    _add_basemap(page, basemap, None, extent)
    if not title:
        title = f"{town} 新增{label}选址 new {en or 'facility'} sites".strip()
    page.add_to(fmap, title=title, tiles=tiles)
    return fmap
