"""What the print maps and the HTML maps share about a layer's look and its legend.

* the facility symbols by category (:data:`FACILITY_STYLE`, then :data:`MARKERS` and
  :data:`CYCLE` for other categories) and :func:`facility_colour`;
* the graded colours of "k of n categories reached" (:func:`grades`);
* the totals a legend label may name (:func:`layer_totals`: count, length, area) and the
  label filled with them (:func:`fill_label`), so a layer's legend reads the same figures on
  the print map and in the browser.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import shapely
from matplotlib import colormaps
from matplotlib import colors as mcolors

from .._errors import InputError

__all__ = [
    "CYCLE",
    "FACILITY_STYLE",
    "LAYER_COLOURS",
    "MARKERS",
    "facility_colour",
    "fill_label",
    "geom_kinds",
    "grades",
    "layer_colours",
    "layer_totals",
]

#: Facility symbols per category: (matplotlib marker, colour); other categories cycle through
#: :data:`MARKERS` and :data:`CYCLE`.
FACILITY_STYLE: dict[str, tuple[str, str]] = {
    "kindergarten": ("^", "#e7298a"),
    "childcare": ("v", "#f768a1"),
    "primary_school": ("s", "#2166ac"),
    "middle_school": ("s", "#053061"),
    "elderly_care": ("D", "#e66101"),
    "health_station": ("P", "#d7301f"),
    "clinic": ("P", "#d7301f"),
    "hospital": ("P", "#99000d"),
    "park": ("*", "#238b45"),
    "sports": ("p", "#1b9e77"),
    "fitness": ("p", "#66a61e"),
    "culture": ("H", "#7570b3"),
    "culture_sports_centre": ("H", "#542788"),
    "service_centre": ("8", "#8c510a"),
    "market": ("h", "#a6761d"),
    "convenience": ("o", "#984ea3"),
    "bus_stop": ("o", "#4d4d4d"),
}
MARKERS = ("o", "s", "^", "D", "v", "p", "h", "*", "P", "X")
#: Colours of the layers of a layers map whose style names none, in turn.
LAYER_COLOURS = ("#4575b4", "#1a9850", "#d73027", "#fdae61", "#762a83", "#35978f")
#: Colours of categories (or classes) without a colour of their own, in turn.
CYCLE = ("#1f78b4", "#33a02c", "#e31a1c", "#ff7f00", "#6a3d9a", "#b15928", "#a6cee3", "#b2df8a")


def facility_colour(category: str, i: int) -> str:
    """A category's symbol colour: its own, else the ``i``-th colour of :data:`CYCLE`."""
    style = FACILITY_STYLE.get(category)
    return style[1] if style is not None else CYCLE[i % len(CYCLE)]


def grades(n: int) -> list[str]:
    """``n`` colours from red (none) through yellow to green (all)."""
    cmap = colormaps["RdYlGn"]
    return [mcolors.to_hex(cmap(0.06 + 0.88 * i / max(n - 1, 1))) for i in range(n)]


def layer_colours(style: Mapping[str, Any], default: str) -> dict[str, Any]:
    """A layer style's colours with the maps' defaults, as the print map draws them and the
    HTML map repeats them.

    Parameters
    ----------
    style : mapping
        The layer's matplotlib keywords (``color``, ``facecolor``, ``edgecolor``).
    default : str
        The layer's colour when the style names none (the next of :data:`LAYER_COLOURS`).

    Returns
    -------
    dict
        ``colour`` (lines), ``face`` and ``edge`` (areas: an area with a face or without any
        colour has no edge unless the style names one), ``point_face`` and ``point_edge``
        (points: a dark edge unless the style names one).
    """
    colour = style.get("color", default)
    face = style.get("facecolor", colour)
    return {
        "colour": colour,
        "face": face,
        "edge": style.get("edgecolor", "none" if "facecolor" in style or "color" not in style else colour),
        "point_face": face if "facecolor" in style else colour,
        "point_edge": style.get("edgecolor", "#1a1a1a"),
    }


def geom_kinds(geoms: np.ndarray) -> np.ndarray:
    """0 point, 1 line, 2 polygon, -1 missing or empty, per geometry."""
    tid = shapely.get_type_id(geoms)
    kind = np.full(len(geoms), -1)
    kind[np.isin(tid, (0, 4))] = 0
    kind[np.isin(tid, (1, 2, 5))] = 1
    kind[np.isin(tid, (3, 6))] = 2
    kind[tid == 7] = 2  # collections are drawn as areas and their parts as they come
    kind[shapely.is_empty(geoms) | shapely.is_missing(geoms)] = -1
    return kind


def layer_totals(geoms: np.ndarray) -> dict[str, float | int]:
    """The totals a legend label may name, from geometries in a metric CRS.

    ``n`` (features, an integer), ``km`` and ``m`` (total length of the lines), ``area_m2``,
    ``area_ha`` and ``area_km2`` (area of the union of the polygons: overlaps counted once).
    Each total is measured the first time it is read.
    """
    return _Totals(geoms)


class _Totals(dict[str, float | int]):
    """:func:`layer_totals`, each measured when first read (the union of many areas is not free)."""

    def __init__(self, geoms: np.ndarray) -> None:
        super().__init__()
        self._geoms = geoms
        self._kinds = geom_kinds(geoms)

    def __missing__(self, key: str) -> float | int:
        kinds = self._kinds
        if key == "n":
            value: float | int = int((kinds >= 0).sum())  # a count: "12 处", never "12.0 处"
        elif key in ("km", "m"):
            length = float(shapely.length(self._geoms[kinds == 1]).sum())
            value = length / 1000.0 if key == "km" else length
        elif key in ("area_m2", "area_ha", "area_km2"):
            polys = self._geoms[kinds == 2]
            if len(polys) == 1 and shapely.is_valid(polys[0]):
                area = float(shapely.area(polys[0]))  # one valid area: its own is its union's
            else:
                area = float(shapely.area(shapely.union_all(polys))) if len(polys) else 0.0
            value = {"area_m2": area, "area_ha": area / 1e4, "area_km2": area / 1e6}[key]
        else:
            raise KeyError(key)
        self[key] = value
        return value


def fill_label(label: str, geoms: np.ndarray, *, i: int) -> str:
    """A legend label with the layer's totals filled in (see :func:`layer_totals`); ``i`` is the
    layer's position, for the error message."""
    if "{" not in label:
        return label
    try:
        return label.format_map(layer_totals(geoms))
    except (KeyError, ValueError, IndexError) as exc:
        raise InputError(
            f"layer {i}: the label {label!r} cannot be filled ({exc}); it may name {{n}}, {{km}}, {{m}}, "
            "{area_m2}, {area_ha} or {area_km2}, e.g. '绿道 greenways {km:.1f} km' (double the braces for a literal one)"
        ) from None
