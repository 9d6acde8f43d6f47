"""What a run produced (:class:`StudyResult`) and where its numbers come from (its provenance)."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pyogrio

from .. import access, inventory, lifecircle, provenance, standards
from .._errors import InputError
from ..network import Network
from ..sources.osm import is_osm_file
from ..standards import Profile
from .schema import Study

log = logging.getLogger(__name__)


@dataclass
class StudyResult:
    """Everything a run produced."""

    study: Study
    profile: Profile
    indicators: pd.DataFrame
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    layers: dict[str, gpd.GeoDataFrame] = field(default_factory=dict)
    networks: dict[str, Network] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    rasters: dict[str, Any] = field(default_factory=dict)
    data_date: str | None = None
    out_dir: Path | None = None
    basemap: Any = None  # render.Basemap of the town and its surroundings, for the maps
    started: datetime = field(default_factory=lambda: datetime.now().astimezone())
    weight: str = ""  # the demand units' column the coverage rates are weighted by (res_area_m2, pop, area_m2)
    # each computed circle's search, its demand units (as searched, in the network's CRS) and
    # weight: what :meth:`what_if` edits; kept in memory only
    _circles: dict[str, tuple[access.Reach | None, gpd.GeoDataFrame, str | None]] = field(
        default_factory=dict, repr=False, compare=False
    )

    def to_frame(self) -> pd.DataFrame:
        """The indicator table (a copy of :attr:`indicators`): one row per annex row and indicator,
        with its value, unit, target, status, denominator and origin, as ``indicators.xlsx`` holds it."""
        return self.indicators.copy()

    def provenance(self) -> Any:
        """Where the run's numbers come from (:class:`mtown_geo.provenance.Provenance`): the town,
        the profile and its version, each data source with its date, licence and SHA-256, the
        toolkit, the run's time, its notes, the profile's assumptions and the documents cited."""
        return provenance_of(self)

    def what_if(
        self,
        circle: str = "15min",
        *,
        add: gpd.GeoDataFrame | gpd.GeoSeries | None = None,
        remove: str | int | Sequence[str | int] | None = None,
        category: str | None = None,
        replace: bool = False,
    ) -> pd.DataFrame:
        """A circle's coverage with facilities added or removed, on this run's search.

        :func:`mtown_geo.lifecircle.what_if` on the circle's search, demand units and weight
        as the run computed them: only the changed category is searched again, the units'
        snaps are reused, and the unedited call equals ``tables[f"coverage_{circle}"]``.

        Parameters
        ----------
        circle : str, optional
            A circle the run computed (``"15min"``, ``"5min"``...).
        add : GeoDataFrame or GeoSeries, optional
            New sites (points or polygons, any CRS); their category is ``category`` or the
            ``category`` column of a GeoDataFrame.
        remove : str, int or sequence of them, optional
            Facilities to remove, by ``facility_id`` (``way/123``, as in the run's
            ``facilities`` layer and tables).
        category : str, optional
            The category of the added sites; with ``replace``, the category replaced.
        replace : bool, optional
            Remove every facility of ``category`` first.

        Returns
        -------
        DataFrame
            The circle's coverage table (as ``tables[f"coverage_{circle}"]``) after the change.

        Raises
        ------
        InputError
            A circle this run did not compute (not in the study, or without demand units).
        """
        if circle not in self._circles:
            have = sorted(self._circles)
            why = (
                f"this run computed {have}"
                if have
                else "this result holds no search (what-if needs the result of mg.run in this session)"
            )
            raise InputError(f"what_if: no computed circle {circle!r}: {why}")
        reach, units, weight = self._circles[circle]
        return lifecircle.what_if(
            reach,
            units,
            profile=self.profile,
            circle=circle,
            weight=weight,
            add=add,
            remove=remove,
            category=category,
            replace=replace,
        )

    @property
    def data_gaps(self) -> list[str]:
        """The categories (and layers) no data source holds inside the town and its buffer (see ``tables["inventory"]``)."""
        inv = self.tables.get("inventory")
        return inventory.gaps(inv) if inv is not None else []

    def __repr__(self) -> str:
        computed = self.indicators[self.indicators["origin"] == "computed"]
        lines = [f"StudyResult({self.study.name!r}, profile={self.profile.name!r}, year={self.study.year})"]
        for _, r in computed.iterrows():
            v = r["value"]
            vs = "—" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.1f}"
            lines.append(f"  {r['name_zh']}: {vs} {r['unit']} (target {r['target']}) {r['status']}")
        return "\n".join(lines)


_ROLES = {
    ("boundaries", "town"): "边界 boundaries (镇域/建成区)",
    ("boundaries", "builtup"): "建成区 built-up area",
    ("network", "source"): "道路中心线 road centrelines",
    ("network", "dem"): "高程 elevation (DEM)",
    ("zones", "file"): "分区 zones",
    ("population", "raster"): "人口栅格 population raster",
    ("population", "census"): "人口普查 census polygons",
}


def _licence_of(path: Path) -> str:
    """A layer made from OpenStreetMap says so in its ``source`` column (the demo's boundaries); else the planner's own."""
    if path.suffix.lower() in (".geojson", ".json", ".gpkg", ".shp"):
        try:
            info = pyogrio.read_info(path)
            if "source" in list(info["fields"]):
                col = pyogrio.read_dataframe(path, columns=["source"], read_geometry=False)["source"]
                if col.astype(str).str.contains("OpenStreetMap").any():
                    return provenance.OSM_LICENCE
        except Exception:  # a file that cannot be read here is read (and judged) by the run
            return provenance.OWN_LICENCE
    return provenance.OWN_LICENCE


def provenance_of(result: StudyResult) -> Any:
    st, prof = result.study, result.profile
    sources: list[provenance.DataSource] = []
    if st._extract is not None or st.osm is not None:
        ext = st._extract
        path = ext.path if ext is not None else None
        if path is None and st.osm is not None and is_osm_file(st.osm_path()):
            path = Path(st.osm_path())
        if path is not None:
            sources.append(
                provenance.file_source(
                    "OpenStreetMap 数据 OSM extract", path, date=result.data_date, licence=provenance.OSM_LICENCE
                )
            )
        else:
            sources.append(
                provenance.DataSource(
                    "OpenStreetMap 数据 OSM", str(st.osm), date=result.data_date, licence=provenance.OSM_LICENCE
                )
            )
    for key, path in st.input_paths():
        if key == ("osm",):
            continue
        if key[0] in ("facilities", "parks", "greenways", "residential", "villages"):
            role = f"{key[0]} ({key[2]} {key[1] + 1})"
        else:
            role = _ROLES.get(key[:2], ".".join(map(str, key)))
        sources.append(provenance.file_source(role, path, licence=_licence_of(path)))
    profile_path = None if st.profile in standards.available() else st.path(st.profile)
    return provenance.Provenance.of(
        town=st.name,
        code=st.code,
        year=st.year,
        profile=prof,
        profile_path=profile_path,
        sources=sources,
        notes=result.notes,
        run_time=result.started,
    )
