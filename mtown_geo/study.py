"""One town, end to end: a study file → the indicator report, layers and maps.

A *study file* (YAML, made with ``mtown-geo init``) names the town, its boundaries, the
data sources and the profile; :func:`run` does the whole job and, given an output
folder, writes it atomically (a failed run leaves no half-written folder behind)::

    result = mtown_geo.run("study.yaml", out="out/dongmen")
    result.indicators        # the annex rows with values, targets, pass/fail
    result.layers["units_15min"]   # demand units with their times
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator

from . import access, demand, documents, facilities, inventory, lifecircle, network, provenance, report, standards
from . import crs as _crs
from ._errors import (
    CoordinateShiftWarning,
    DataNotFoundError,
    DiskFullError,
    GridResolutionWarning,
    InputError,
    MtownGeoWarning,
    ProfileError,
    StudyError,
)
from ._io import atomic_dir, check_output_dir
from ._yaml import DuplicateKeyError, format_validation_error, load_with_lines
from ._yaml import where as _where
from .network import Network
from .sources.osm import ATTRIBUTION, OSMExtract, is_osm_file, read_osm
from .standards import MAX_YEAR, MIN_YEAR, AnnexRow, Profile

__all__ = ["Study", "StudyResult", "category_target", "check", "load_study", "run", "site", "sites_table", "template"]

log = logging.getLogger(__name__)


# -- the study file ------------------------------------------------------------------------


class _Strict(BaseModel):
    # allow_inf_nan=False: YAML reads `.inf` and `.nan` as numbers; no key of a study may use them
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class BoundarySpec(_Strict):
    town: str
    builtup: str | None = None
    layer: str | None = None
    kind_col: str = "kind"


class NetworkSpec(_Strict):
    source: str = "osm"
    buffer_m: float = Field(default=1000.0, ge=0, le=20_000)
    class_col: str | None = None
    oneway_col: str | None = None
    name_col: str | None = None
    level_col: str | None = None
    bridge_col: str | None = None
    tunnel_col: str | None = None
    snap_tol_m: float = Field(default=1.0, ge=0, le=20)
    dem: str | None = None


class SourceSpec(_Strict):
    """A data source: ``osm`` (the study's OSM extract), a vector ``file`` or a ``table``."""

    osm: str | None = None
    file: str | None = None
    table: str | None = None
    layer: str | None = None
    crs: str | None = None
    class_col: str | None = None
    classes: list[str] | None = None
    category_col: str | None = None
    type_col: str | None = None
    name_col: str | None = None
    shift_check: bool = True


class PopulationSpec(_Strict):
    total: float | None = Field(default=None, gt=0, le=50_000_000)
    raster: str | None = None
    census: str | None = None
    count_col: str | None = None
    min_coverage: float = Field(default=0.95, ge=0, le=1)


class DemandSpec(_Strict):
    cell_m: float = Field(default=50.0, ge=1, le=2000)
    weight: Literal["residential", "pop", "area"] = "residential"


def _share(v: Any) -> Any:
    """A target as a share of 0–1: a percentage (1 < v ≤ 100) is refused with the share to write."""
    if isinstance(v, (int, float)) and not isinstance(v, bool) and 1 < v <= 100:
        raise ValueError(f"a share of 0–1 is expected, got {v:g}: write {v / 100:g} for {v:g} %")
    return v


class SitingSpec(_Strict):
    enabled: bool = True
    circle: str = "15min"
    target: float | None = Field(default=None, gt=0, le=1)
    targets: dict[str, Annotated[float, Field(gt=0, le=1)]] = Field(default_factory=dict)
    categories: list[str] | None = None
    max_sites: int | None = Field(default=20, ge=1, le=1000)
    method: Literal["greedy", "exact"] = "greedy"

    @field_validator("target", mode="before")
    @classmethod
    def _fraction(cls, v: Any) -> Any:
        return _share(v)

    @field_validator("targets", mode="before")
    @classmethod
    def _fractions(cls, v: Any) -> Any:
        if isinstance(v, Mapping):
            for key, value in v.items():
                try:
                    _share(value)
                except ValueError as exc:
                    raise ValueError(f"{key}: {exc}") from None
        return {} if v is None else v


class OutputSpec(_Strict):
    maps: bool = True
    static_maps: bool = True
    tiles: bool = True
    rasters: bool = True
    isochrones: bool = True
    geopackage: bool = True


def _as_sources(v: Any) -> Any:
    if v is None:
        return []
    if isinstance(v, (str, dict)):
        v = [v]
    out = []
    for item in v:
        if isinstance(item, str):
            out.append({"osm": item} if item == "osm" or is_osm_file(item) else {"file": item})
        else:
            out.append(item)
    return out


class TasksSpec(_Strict):
    """The policy's other spatial tasks (主要任务): each on by default, computed where the data allow."""

    streets: bool = True
    villages: bool = True
    transit: bool = True
    greenspace: bool = True
    chargers: bool = True
    neighbourhood: bool = True
    stops: list[SourceSpec] = Field(default_factory=lambda: [SourceSpec(osm="osm")])
    seat: tuple[Annotated[float, Field(ge=-180, le=180)], Annotated[float, Field(ge=-90, le=90)]] | None = None
    county: str | None = None
    landcover: str | None = None

    _coerce_stops = field_validator("stops", mode="before")(_as_sources)


class Study(_Strict):
    """A validated study file."""

    name: str
    code: str = ""
    year: int = Field(default=2025, ge=MIN_YEAR, le=MAX_YEAR)
    profile: str = standards.DEFAULT_PROFILE
    boundaries: BoundarySpec
    osm: str | None = None
    network: NetworkSpec = NetworkSpec()
    facilities: list[SourceSpec] = Field(default_factory=lambda: [SourceSpec(osm="osm")])
    parks: list[SourceSpec] = Field(default_factory=lambda: [SourceSpec(osm="osm")])
    greenways: list[SourceSpec] = Field(default_factory=lambda: [SourceSpec(osm="osm")])
    residential: list[SourceSpec] = Field(default_factory=lambda: [SourceSpec(osm="osm")])
    villages: list[SourceSpec] = Field(default_factory=lambda: [SourceSpec(osm="osm")])
    zones: SourceSpec | None = None
    population: PopulationSpec = PopulationSpec()
    demand: DemandSpec = DemandSpec()
    circles: list[str] | None = None
    reported: dict[Annotated[int, Field(ge=1, le=999)], Annotated[float, Field(ge=0)]] = Field(default_factory=dict)
    siting: SitingSpec = SitingSpec()
    tasks: TasksSpec = TasksSpec()
    outputs: OutputSpec = OutputSpec()
    base_dir: Path = Field(default=Path("."), exclude=True)
    _town: gpd.GeoDataFrame | None = PrivateAttr(default=None)
    _builtup: gpd.GeoDataFrame | None = PrivateAttr(default=None)
    _extract: OSMExtract | None = PrivateAttr(default=None)
    _lines: dict[tuple[Any, ...], int] = PrivateAttr(default_factory=dict)
    _label: str = PrivateAttr(default="")

    def with_data(
        self,
        *,
        town: gpd.GeoDataFrame | None = None,
        builtup: gpd.GeoDataFrame | None = None,
        osm: OSMExtract | None = None,
    ) -> Study:
        """A copy that uses layers already in memory instead of the files it names.

        ``town`` / ``builtup`` replace the boundary files; ``osm`` (an extract read with
        :func:`mtown_geo.sources.read_osm`, possibly a regional one) replaces the
        ``osm`` file wherever a source says ``osm``. Used by notebooks and the batch.
        """
        new = self.model_copy()
        new._town = town if town is not None else self._town
        new._builtup = builtup if builtup is not None else self._builtup
        new._extract = osm if osm is not None else self._extract
        return new

    def where(self, *path: Any) -> str:
        """``"study.yaml:LINE: "`` for a key path of the study file (empty for a study given as a mapping)."""
        return _where(path, self._lines, self._label)

    def osm_source(self, value: str | None = None) -> str | OSMExtract:
        """What ``osm`` means in this study: the in-memory extract, else :meth:`osm_path`."""
        if value in (None, "osm") and self._extract is not None:
            return self._extract
        return self.osm_path(value)

    _coerce_sources = field_validator("facilities", "parks", "greenways", "residential", "villages", mode="before")(_as_sources)

    @field_validator("reported", mode="before")
    @classmethod
    def _none_is_empty(cls, v: Any) -> Any:
        return {} if v is None else v

    def path(self, value: str) -> Path:
        """A path of the study file, relative to the file's folder."""
        p = Path(os.path.expanduser(value))
        return p if p.is_absolute() else (self.base_dir / p)

    def input_paths(self) -> list[tuple[tuple[Any, ...], Path]]:
        """Every input file the study names, as (key path, resolved path); layers and
        extracts given in memory (:meth:`with_data`) and OSM place names are left out."""
        out: list[tuple[tuple[Any, ...], Path]] = []
        if self._town is None:
            out.append((("boundaries", "town"), self.path(self.boundaries.town)))
            if self.boundaries.builtup and self._builtup is None:
                out.append((("boundaries", "builtup"), self.path(self.boundaries.builtup)))
        if self.osm is not None and self._extract is None and is_osm_file(self.osm):
            out.append((("osm",), self.path(self.osm)))
        net = self.network
        if net.source != "osm" and not (is_osm_file(net.source) and self._extract is not None):
            out.append((("network", "source"), self.path(net.source)))
        if net.dem:
            out.append((("network", "dem"), self.path(net.dem)))
        for key in ("facilities", "parks", "greenways", "residential", "villages"):
            for i, src in enumerate(getattr(self, key)):
                for attr in ("file", "table"):
                    if getattr(src, attr):
                        out.append(((key, i, attr), self.path(getattr(src, attr))))
                if src.osm not in (None, "osm") and is_osm_file(src.osm):
                    out.append(((key, i, "osm"), self.path(src.osm)))
        if self.zones is not None and self.zones.file:
            out.append((("zones", "file"), self.path(self.zones.file)))
        for i, src in enumerate(self.tasks.stops):
            for attr in ("file", "table"):
                if getattr(src, attr):
                    out.append((("tasks", "stops", i, attr), self.path(getattr(src, attr))))
        if self.tasks.landcover:
            out.append((("tasks", "landcover"), self.path(self.tasks.landcover)))
        for attr in ("raster", "census"):
            if getattr(self.population, attr):
                out.append((("population", attr), self.path(getattr(self.population, attr))))
        return out

    def osm_path(self, value: str | None = None) -> str:
        """The OSM source for ``osm`` entries: the study's ``osm`` key (a file or a place name)."""
        v = self.osm if value in (None, "osm") else value
        if v is None:
            raise StudyError("a source says 'osm' but the study has no top-level 'osm:' key (an .osm.pbf file or a place name)")
        p = self.path(v)
        return str(p) if (p.exists() or is_osm_file(v)) else v


def _yaml_text(value: str) -> str:
    """A string as one double-quoted YAML scalar: any text (quotes, ``#``, ``:``, line breaks)
    reads back unchanged."""
    return yaml.safe_dump(str(value), allow_unicode=True, default_style='"', width=float("inf")).strip()


def template(*, name: str = "东门街道", osm: str = "data/region.osm.pbf") -> str:
    """A commented study-file template (what ``mtown-geo init`` writes); ``name`` and ``osm``
    are written quoted, so any text reads back as it was given."""
    name, osm = _yaml_text(name), _yaml_text(osm)
    return f"""\
# mtown_geo study file: one town, its data, the standard profile.
# Paths are relative to this file. Run:  mtown-geo run study.yaml --out out/
# Every key is documented in docs/study-file.md.

name: {name}                 # 镇/街道名称 town name
code: "360681002"             # 行政区划代码 statistical division code
year: 2025                    # 考核年份 report year: targets of 2023 | 2025 | 2027
profile: zhejiang-2023        # 标准 profile: zhejiang-2023 | gb50180-2018 | path/to/my_profile.yaml

boundaries:
  town: data/town.geojson     # 镇域 polygon (GeoJSON / GeoPackage / Shapefile)
  builtup: data/builtup.geojson   # 建成区 polygon; omit if `town` holds both with a `kind` column (镇域 / 建成区)

osm: {osm}   # OSM extract (.osm.pbf / .osm / .osm.bz2), or a place name (online)

network:
  source: osm                 # osm, or a road-centreline file (shp/gpkg) with a road-class column
  buffer_m: 1000              # the network reaches this far beyond the town (facilities just outside count)
  # class_col: 道路等级        # road-class column of a centreline file (主干路, 次干路, 支路, 村道...)
  # name_col: 道路名称         # its name column; level_col / bridge_col / tunnel_col keep
  # bridge_col: 桥梁           #   grade-separated roads apart; snap_tol_m: ends closer than this join (1 m)
  # dem: data/dem.tif          # elevation GeoTIFF: slope-aware walking times (Tobler)

facilities:                   # one or more sources, merged
  - osm                       # facilities tagged in the OSM extract
  # - table: data/amap_pois.xlsx   # Amap / Baidu POI export or a CSV with 经度/纬度
  #   crs: gcj02                   # wgs84 | gcj02 (Amap, Tencent) | bd09 (Baidu) | cgcs2000

parks: [osm]                  # or: - file: data/landuse.gpkg  class_col: 用地代码  classes: [G1]
greenways: [osm]              # or: - file: data/greenways.shp
residential: [osm]            # 居住用地: or - file: data/landuse.gpkg  class_col: 用地代码  classes: [R, R1, R2]
villages: [osm]               # 行政村/自然村 for the 30-minute circle (points or polygons)
# zones:                      # sub-areas for per-community tables
#   file: data/communities.gpkg
#   name_col: 名称

population:
  total: 56000                # 常住人口 resident population (census); or:
  # raster: data/worldpop.tif   # population GeoTIFF (any CRS)
  # census: data/census.gpkg    # polygons with a count
  # count_col: 常住人口

demand:
  cell_m: 50                  # grid of demand units over the built-up area (metres)
  weight: residential         # residential | pop | area — the denominator of the coverage rates

circles: [5min, 15min, 30min]   # omit for every circle of the profile

siting:                       # 补短板: the fewest new sites per category to reach the target
  enabled: true
  circle: 15min
  # target: 0.95              # one target for every category; default: each category's annex row for `year`
  #                           #   (row 10 elderly care, row 11 childcare, row 8 parks, else the circle's row 9)
  # targets: {{托育: 0.8, 幼儿园: 0.95}}   # per category: ids, Chinese names or aliases of the profile
  # categories: [幼儿园, 托育, 卫生院]  # only these categories (default: every category the circle requires)
  max_sites: 20
  method: greedy              # greedy | exact (integer program; small towns)

reported:                     # rows the toolkit cannot compute (counts, investment, admin rates)
  # 1: 35                     # 项目建设累计数
  # 12: 88.0                  # 乡镇卫生院达标率 (%)

tasks:                        # 主要任务: the policy's other spatial tasks, each on by default
  streets: true               # 小街区密路网 road density, junctions, block size
  villages: true              # 行政村通双车道公路 (villages above + 村委会), 山区县城镇通三级公路
  transit: true               # 城乡公交一体化 bus-stop coverage
  greenspace: true            # 园林城镇 绿地率 (lower bound), 人均公园绿地, 绿化覆盖率
  chargers: true              # 公共充电桩 (category charging_station; add yours under facilities:)
  neighbourhood: true         # 邻里中心 (category neighbourhood_centre; per 社区 with zones:)
  stops: [osm]                # bus stops: osm, or - file: data/stops.gpkg
  # seat: [117.21, 28.24]     # 镇政府 lon/lat (default: the 镇人民政府 in the data, else the built-up centre)
  # county: 淳安县             # for the mountain-county rule (山区26县)
  # landcover: data/worldcover.tif   # land-cover GeoTIFF for 绿化覆盖率

outputs:
  maps: true                  # interactive HTML map
  static_maps: true           # PNG (300 dpi) and PDF per indicator
  tiles: true                 # map tiles from openstreetmap.org (false: plain background, offline)
  rasters: true               # travel-time GeoTIFFs (aligned to the population raster when one is given)
  isochrones: true            # service areas of every category along the streets
  geopackage: true            # every layer in layers.gpkg (opens in QGIS)
"""


def load_study(source: str | os.PathLike[str] | Mapping[str, Any]) -> Study:
    """Read and validate a study file (or a mapping with the same keys).

    Everything that can be checked without reading the data is checked here, before
    any work: the keys, every number's range, and the keys that depend on the profile
    (the circles, the year against the annex's target years, the rows and values of
    ``reported``, the siting circle).

    Raises
    ------
    StudyError
        Malformed YAML, a key given twice, an unknown / missing / wrong key, a number
        out of its range, or a value the profile does not allow; the message names the
        key path and its line in the file.
    ProfileError
        The profile the study names is unknown or invalid.
    DataNotFoundError
        The study file (or the profile file it names) does not exist.
    """
    lines: dict[tuple[Any, ...], int] = {}
    label = "<study>"
    if isinstance(source, Mapping):
        data: Any = dict(source)
        base = Path(".")
    else:
        path = Path(source)
        if not path.exists():
            raise DataNotFoundError(f"study file {path} does not exist (make one with `mtown-geo init`)")
        label = str(path)
        try:
            data, lines = load_with_lines(path.read_text(encoding="utf-8"), source=label)
        except DuplicateKeyError as exc:
            raise StudyError(str(exc)) from None
        except yaml.YAMLError as exc:
            raise StudyError(f"{label}: not valid YAML: {exc}") from None
        base = path.resolve().parent
    if not isinstance(data, dict):
        raise StudyError(f"{label}: a study file is a mapping of keys (name, boundaries, osm...)")
    data.setdefault("base_dir", base)
    try:
        study = Study.model_validate(data)
    except ValidationError as exc:
        raise StudyError(f"invalid study file {label}:\n{format_validation_error(exc, lines=lines, source=label)}") from None
    study._lines, study._label = lines, label if lines else ""
    try:
        prof = _profile_of(study)
    except (ProfileError, DataNotFoundError) as exc:
        raise type(exc)(f"{study.where('profile')}profile: {exc}") from None
    if study.circles is None:  # every circle of the profile
        study.circles = list(prof.circles)
    _check_against_profile(study, prof)
    return study


def _check_against_profile(study: Study, prof: Profile) -> None:
    """The keys of a study that only the profile can judge; one error lists every problem with its line."""
    problems: list[str] = []
    circles = study.circles or []
    bad = [c for c in circles if c not in prof.circles]
    if bad:
        problems.append(
            f"{study.where('circles')}circles: {bad} are not circles of the profile {prof.name!r} ({sorted(prof.circles)})"
        )
    rows = list(prof.annex) + ([prof.greenway_target] if prof.greenway_target is not None else [])
    years = sorted({y for r in rows for y, v in r.targets.items() if v is not None})
    if years and study.year < years[0]:
        problems.append(
            f"{study.where('year')}year: {study.year} is before the first year the profile {prof.name!r} has targets for "
            f"({', '.join(map(str, years))}); give the report year, e.g. {years[-1]}"
        )
    annex = {r.row: r for r in prof.annex}
    for row, value in study.reported.items():
        at = study.where("reported", row)
        if row not in annex:
            known = f"rows {min(annex)}–{max(annex)}" if annex else "it has no annex rows"
            problems.append(f"{at}reported.{row}: the annex of the profile {prof.name!r} has no row {row} ({known})")
        elif annex[row].is_percent and value > 100:
            problems.append(
                f"{at}reported.{row}: {value:g} is above 100 %: row {row} ({annex[row].name_zh}) is a rate in percent (0–100)"
            )
    circle = study.siting.circle
    if study.siting.enabled and circle not in prof.circles:
        problems.append(
            f"{study.where('siting', 'circle')}siting.circle: {circle!r} is not a circle of the profile {prof.name!r} "
            f"({sorted(prof.circles)}); set `enabled: false` to skip siting"
        )
    # category names a planner writes (幼儿园, 托育, kindergarten...): each must name one category
    named: list[tuple[tuple[Any, ...], str]] = [(("siting", "targets", k), k) for k in study.siting.targets]
    named += [(("siting", "categories", i), c) for i, c in enumerate(study.siting.categories or [])]
    for path, name in named:
        try:
            prof.resolve_category(name)
        except InputError as exc:
            problems.append(f"{study.where(*path)}{'.'.join(map(str, path[:2]))}: {exc}")
    if problems:
        head = f"invalid study file {study._label}:\n" if study._label else ""
        raise StudyError(head + "\n".join(problems))


# -- the result ----------------------------------------------------------------------------


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

    def provenance(self) -> Any:
        """Where the run's numbers come from (:class:`mtown_geo.provenance.Provenance`): the town,
        the profile and its version, each data source with its date, licence and SHA-256, the
        toolkit, the run's time, its notes, the profile's assumptions and the documents cited."""
        return _provenance_of(self)

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


# -- the run -------------------------------------------------------------------------------


@contextlib.contextmanager
def _collect_warnings(notes: list[str]) -> Iterator[None]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", MtownGeoWarning)
        yield
    seen = set()
    for w in caught:
        text = f"{w.category.__name__}: {w.message}"
        if issubclass(w.category, MtownGeoWarning) and text not in seen:
            seen.add(text)
            notes.append(text)
            log.warning("%s", text)
        elif not issubclass(w.category, MtownGeoWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def _read_layer(study: Study, value: str, *, layer: str | None = None) -> gpd.GeoDataFrame:
    path = study.path(value)
    if not path.exists():
        raise DataNotFoundError(f"{path} does not exist (named in the study file)")
    try:
        from .sources.vector import read_vector
    except ImportError:  # pragma: no cover - the vector reader ships with the package
        return gpd.read_file(path, layer=layer)
    return read_vector(path, layer=layer)


def _extract(study: Study, value: str | None = None) -> OSMExtract:
    src = study.osm_source(value)
    return src if isinstance(src, OSMExtract) else read_osm(src)


def _boundaries(study: Study) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    if study._town is not None:
        town = study._town
        built = study._builtup if study._builtup is not None else study._town
        _crs.require_crs(town, what="town boundary")
        _crs.require_crs(built, what="built-up boundary")
        if town.empty or built.empty:
            raise InputError("a boundary layer is empty")
        return town.reset_index(drop=True), built.reset_index(drop=True)
    spec = study.boundaries
    town = _read_layer(study, spec.town, layer=spec.layer)
    _crs.require_crs(town, what="town boundary")
    if spec.builtup is None:
        if spec.kind_col not in town:
            raise StudyError(
                f"boundaries.builtup is not given and {spec.town} has no {spec.kind_col!r} column telling 镇域 from 建成区"
            )
        kinds = town[spec.kind_col].astype(str)
        built = town[kinds.isin(["建成区", "builtup", "built-up"])]
        town = town[kinds.isin(["镇域", "town"])]
        if town.empty or built.empty:
            raise StudyError(f"{spec.town}: need rows of kind 镇域 and 建成区 in column {spec.kind_col!r}")
    else:
        built = _read_layer(study, spec.builtup, layer=spec.layer)
        _crs.require_crs(built, what="built-up boundary")
    if town.empty or built.empty:
        raise InputError("a boundary layer is empty")
    return town.reset_index(drop=True), built.reset_index(drop=True)


def _osm_features_residential(study: Study, metric: Any, town: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    f = _extract(study).features
    is_res = f["tags"].map(lambda t: t.get("landuse") == "residential").to_numpy()
    res = f.loc[is_res, ["osm_id", "geometry"]]
    res = res[res.geom_type.isin(["Polygon", "MultiPolygon"])]
    return res.to_crs(metric)


def _residential(study: Study, metric: Any, town: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    parts = []
    for src in study.residential:
        if src.osm is not None:
            parts.append(_osm_features_residential(study, metric, town)[["geometry"]])
        elif src.file is not None:
            gdf = _read_layer(study, src.file, layer=src.layer)
            if src.class_col is not None:
                if src.class_col not in gdf:
                    raise StudyError(f"residential: {src.file} has no column {src.class_col!r}")
                classes = src.classes or ["R", "R1", "R2", "R3", "居住用地", "070"]
                codes = gdf[src.class_col].astype(str)
                gdf = gdf[codes.map(lambda c, ks=tuple(classes): c.startswith(ks))]
            parts.append(gdf.to_crs(metric)[["geometry"]])
        else:
            raise StudyError("residential: each source is `osm` or a `file`")
    if not parts:
        return gpd.GeoDataFrame(geometry=[], crs=metric)
    return gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs=metric)


def _source_label(study: Study, src: SourceSpec) -> str:
    """The name a source goes by in the inventory and the report: ``OSM <file>`` or the file's name."""
    if src.osm is not None:
        where = study.osm_source(src.osm)
        if isinstance(where, OSMExtract):
            return f"OSM {where.path.name}" if where.path is not None else "OSM"
        return f"OSM {Path(where).name}" if is_osm_file(where) else f"OSM ({where})"
    return Path(src.table or src.file or "").name or "—"


def _source_labels(study: Study, key: str) -> list[str]:
    """The labels of a study key's sources (``facilities``, ``parks``, ``greenways``), in order, once each."""
    return list(dict.fromkeys(_source_label(study, src) for src in getattr(study, key)))


@dataclass
class _FacilitySource:
    """Where the rows of one facility table or layer sit in the merged facility layer."""

    spec: SourceSpec
    label: str
    rows: slice
    report: Any = None  # the TableReport of a table


def _file_categories(gdf: gpd.GeoDataFrame, col: str, prof: Profile, label: str) -> pd.Series:
    """A facility layer's category column as the profile's ids (names and aliases resolved)."""
    values = gdf[col]
    blank = values.isna() | (values.astype(str).str.strip() == "")
    if blank.any():
        rows = ", ".join(str(v) for v in gdf.index[blank.to_numpy()][:10])
        raise StudyError(f"facilities: {label} has {int(blank.sum())} features without a category in {col!r} (rows {rows})")
    unique = pd.unique(values.astype(str))
    found = {v: prof.match_category(v) for v in unique}
    unknown = [v for v, c in found.items() if c is None]
    if unknown:
        parts = []
        for v in unknown[:12]:
            close = prof.similar_categories(v)
            n = int((values.astype(str) == v).sum())
            parts.append(f"{v!r} ({n} features" + (f"; did you mean {' or '.join(repr(c) for c in close)}?)" if close else ")"))
        raise StudyError(
            f"facilities: {label} has categories in {col!r} that the profile {prof.name!r} does not know: "
            + "; ".join(parts)
            + ". Write the profile's category ids, English or Chinese names or aliases (docs/profiles.md lists them), "
            "or leave those features out"
        )
    renamed = {v: c for v, c in found.items() if c is not None and c != v}
    if renamed:
        log.info("%s: categories %s", label, ", ".join(f"{k} → {v}" for k, v in renamed.items()))
    return values.astype(str).map(found)


def _facilities(
    study: Study,
    prof: Profile,
    town: gpd.GeoDataFrame,
    buffer_m: float,
    sources: list[_FacilitySource] | None = None,
) -> gpd.GeoDataFrame:
    parts = []
    at = 0
    for src in study.facilities:
        part: gpd.GeoDataFrame
        info: _FacilitySource | None = None
        label = _source_label(study, src)
        if src.osm is not None:
            part = facilities.from_osm(study.osm_source(src.osm), profile=prof, boundary=town, buffer_m=buffer_m)
        elif src.table is not None:
            from .sources.tables import read_facility_table

            kw: dict[str, Any] = {"profile": prof}
            for key in ("crs", "category_col", "type_col", "name_col"):
                if getattr(src, key) is not None:
                    kw[key] = getattr(src, key)
            part = read_facility_table(study.path(src.table), **kw)
            info = _FacilitySource(src, src.table, slice(0), part.attrs.get("table_report"))
        elif src.file is not None:
            gdf = _read_layer(study, src.file, layer=src.layer)
            col = src.category_col or "category"
            if col not in gdf:
                raise StudyError(f"facilities: {src.file} has no category column {col!r} (set category_col)")
            gdf = gdf.assign(**{col: _file_categories(gdf, col, prof, src.file)}).rename(columns={col: "category"})
            if src.name_col and src.name_col in gdf:
                gdf = gdf.rename(columns={src.name_col: "name"})
            part = gdf.to_crs(4326)
            info = _FacilitySource(src, src.file, slice(0))
        else:
            raise StudyError("facilities: each source is `osm`, a `table` or a `file`")
        part = part.assign(**{inventory.SOURCE_COL: label})
        if info is not None and sources is not None:
            info.rows = slice(at, at + len(part))
            sources.append(info)
        at += len(part)
        parts.append(part)
    if not parts:
        raise StudyError("facilities: give at least one source")
    fac = gpd.GeoDataFrame(pd.concat([p.to_crs(4326) for p in parts], ignore_index=True), crs=4326)
    # features each source holds but leaves out as not open to the public (a campus library):
    # the inventory tells them apart from facilities the data do not hold at all
    closed = []
    for p, src in zip(parts, study.facilities, strict=True):
        rep = p.attrs.get("facility_report")
        for category, fid, name, reason in getattr(rep, "not_public", ()):
            closed.append((category, fid, name, reason, _source_label(study, src)))
    fac.attrs["not_public"] = closed
    return fac


def _osm_reference(study: Study) -> gpd.GeoDataFrame | None:
    """The study's named OpenStreetMap features (WGS-84), to compare facility names with; None without OSM."""
    if study.osm is None and study._extract is None:
        return None
    feats = _extract(study).features
    return feats.loc[feats["name"].notna().to_numpy(), ["name", "geometry"]]


_UNSHIFTED_LABEL = {"gcj02": "GCJ-02 (Amap, Tencent)", "bd09": "BD-09 (Baidu)", "as_given": "WGS-84"}


def _check_coordinates(tw: _Town, notes: list[str]) -> None:
    """Compare each facility table and layer with the streets and OSM names: refuse a clear shift, note a doubt.

    A table's rows are tested in the coordinates it was written in (GCJ-02 rows taken back
    to GCJ-02), so a wrong default is caught as well as a wrong declaration.
    """
    st = tw.study
    mode = "walk" if "walk" in tw.profile.modes else tw.profile.circles[next(iter(tw.profile.circles))].mode
    reference: gpd.GeoDataFrame | None = None
    for src in tw.sources:
        rep = src.report
        for note in rep.notes if rep is not None else []:
            notes.append(note)
        part = tw.facilities.iloc[src.rows]
        if "facility_id" in part:
            part = part.drop_duplicates("facility_id")
        if part.empty:
            continue
        used = rep.coordinates if rep is not None and rep.coordinates in ("gcj02", "bd09") else "as_given"
        raw = part[[c for c in ("name",) if c in part] + ["geometry"]].to_crs(4326)
        if used != "as_given":
            forward = _crs.wgs84_to_gcj02 if used == "gcj02" else _crs.wgs84_to_bd09

            def _to_raw(xy: np.ndarray, fn: Any = forward) -> np.ndarray:
                x, y = fn(xy[:, 0], xy[:, 1])
                return np.column_stack([x, y])

            raw = raw.set_geometry(gpd.GeoSeries(shapely.transform(raw.geometry.values, _to_raw), index=raw.index, crs=4326))
        kind = "table" if rep is not None else "file"
        if not src.spec.shift_check:
            notes.append(f"facilities: the coordinates of the {kind} {src.label} were not checked (shift_check: false)")
            continue
        cent = raw.geometry.representative_point()
        if not _crs.in_shift_area(cent.x.to_numpy(), cent.y.to_numpy()).any():
            continue  # GCJ-02 and BD-09 exist only in China
        if reference is None:
            reference = _osm_reference(st)
        check = _crs.detect_shift(raw, tw.network(mode), reference=reference, warn=False)
        if check.best is not None and check.best != used:
            if kind == "table":
                value = {"as_given": "wgs84", "gcj02": "gcj02", "bd09": "bd09"}[check.best]
                fix = (
                    f"say so in the study file: under facilities, give the table's entry `crs: {value}` "
                    f"(- table: {src.label}\n    crs: {value})"
                )
            else:
                fix = (
                    f"convert the layer first, e.g. mtown_geo.crs.to_wgs84(geopandas.read_file({src.label!r}), "
                    f"source={check.best!r}).to_file(...)"
                )
            raise InputError(
                f"facilities: the coordinates of the {kind} {src.label} are read as {_UNSHIFTED_LABEL[used]} but look "
                f"{_UNSHIFTED_LABEL[check.best]}: every facility would stand 300–900 m from where it is. "
                f"Evidence: {check.evidence}. Fix: {fix}. If the coordinates are right, set "
                "`shift_check: false` on the entry"
            )
        if check.best is None:
            warnings.warn(
                f"facilities: cannot tell whether the coordinates of the {kind} {src.label} "
                f"({_UNSHIFTED_LABEL[used]} as read) are right: {check.message}",
                CoordinateShiftWarning,
                stacklevel=2,
            )
        else:
            log.info("facilities: the coordinates of %s fit as read (%s)", src.label, _UNSHIFTED_LABEL[used])


def _villages(study: Study, town: gpd.GeoDataFrame, metric: Any) -> gpd.GeoDataFrame:
    parts = []
    town_m = town.to_crs(metric).union_all()
    for src in study.villages:
        if src.osm is not None:
            f = _extract(study, src.osm).features
            is_v = f["tags"].map(lambda t: t.get("place") in ("village", "hamlet", "isolated_dwelling")).to_numpy()
            v = f.loc[is_v, ["name", "geometry"]].to_crs(metric)
        elif src.file is not None:
            v = _read_layer(study, src.file, layer=src.layer).to_crs(metric)
            if src.name_col and src.name_col in v:
                v = v.rename(columns={src.name_col: "name"})
        else:
            raise StudyError("villages: each source is `osm` or a `file`")
        v = v[v.intersects(town_m)]
        parts.append(v)
    if not parts:
        return gpd.GeoDataFrame({"name": []}, geometry=[], crs=metric)
    vil = gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs=metric)
    vil = vil.set_geometry(vil.geometry.representative_point())
    vil["area_m2"] = 0.0
    vil["pop"] = 0.0
    vil["res_area_m2"] = 0.0
    return vil.reset_index(drop=True)


def _network_for(study: Study, prof: Profile, mode: str, town: gpd.GeoDataFrame, cache: dict[str, Network]) -> Network:
    if mode in cache:
        return cache[mode]
    spec = study.network
    if spec.source == "osm" or is_osm_file(spec.source):
        net = network.from_osm(
            study.osm_source(spec.source),
            mode=mode,
            boundary=town,
            buffer_m=spec.buffer_m,
            profile=prof,
            crs=_crs.metric_crs(town),
        )
    else:
        lines = _read_layer(study, spec.source)
        _crs.require_crs(lines, what="road centreline layer")
        # the lines that reach the town plus the buffer, whole
        metric = _crs.metric_crs(town)
        reach_area = town.to_crs(metric).union_all().buffer(spec.buffer_m)
        lines = lines[lines.to_crs(metric).intersects(reach_area).to_numpy()]
        if lines.empty:
            raise StudyError(f"network.source: no line of {spec.source} comes within {spec.buffer_m:g} m of the town")
        kw: dict[str, Any] = {"mode": mode, "profile": prof, "snap_tol_m": spec.snap_tol_m, "crs": metric}
        for key in ("class_col", "oneway_col", "name_col", "level_col", "bridge_col", "tunnel_col"):
            if getattr(spec, key) is not None:
                kw[key] = getattr(spec, key)
        net = network.from_lines(lines, **kw)
    if spec.dem and prof.mode(mode).network == "walk":
        from . import terrain

        net = terrain.with_slope(net, study.path(spec.dem))
    cache[mode] = net
    return net


class _NoBar:
    """Stands in for a progress bar when none is shown."""

    def update(self, n: int = 1) -> None:
        return None

    def set_postfix_str(self, s: str) -> None:
        return None

    def close(self) -> None:
        return None


def _progress(total: int, desc: str, show: bool) -> Any:
    if not show:
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="step")


@dataclass
class _Town:
    """A study's inputs once read: boundaries, facilities and demand units, in a metric CRS."""

    study: Study
    profile: Profile
    town: gpd.GeoDataFrame
    built: gpd.GeoDataFrame
    metric: Any
    facilities: gpd.GeoDataFrame
    residential: gpd.GeoDataFrame
    units: gpd.GeoDataFrame
    weight: str
    networks: dict[str, Network] = field(default_factory=dict)
    sources: list[_FacilitySource] = field(default_factory=list)

    def network(self, mode: str) -> Network:
        return _network_for(self.study, self.profile, mode, self.town, self.networks)


def _profile_of(st: Study) -> Profile:
    return standards.load(st.profile if st.profile in standards.available() else st.path(st.profile))


#: Memory of a run per demand unit and per life circle on the grid (bytes): travel times,
#: coverage, gaps, parks and rasters. Measured with the peak resident size of runs of the
#: demo town at 20 m and 10 m cells (3,226 and 12,284 units): 7.2 kB per unit for two
#: circles, of which 1.6 kB is the grid's own; rounded up.
_RUN_BYTES_PER_UNIT_PER_CIRCLE = 3_000
#: The interactive map's memory per unit, and per unit and circle (bytes): the same runs
#: with ``outputs.maps`` gave 34 kB per unit for one circle and 47 kB for two.
_MAP_BYTES_PER_UNIT = 20_000
_MAP_BYTES_PER_UNIT_PER_CIRCLE = 10_000
#: Networks and their search tables (bytes): Andorra's whole walk network (137,000 nodes)
#: with its 15-minute search took 200 MB; three such networks.
_NETWORK_BYTES = 600 * 1024**2


def _grid_circles(st: Study, prof: Profile) -> list[str]:
    """The study's circles whose demand is the grid (not villages)."""
    return [c for c in (st.circles or list(prof.circles)) if c in prof.circles and prof.circles[c].demand != "villages"]


def _shortest_reach_m(prof: Profile, circles: list[str]) -> float | None:
    """The shortest reach (metres) of these circles over all their categories (``None`` without circles)."""
    reach = [prof.reach_m(c, cat) for c in circles for cat in [*prof.circles[c].required, *prof.circles[c].optional]]
    return min(reach) if reach else None


def _check_run_memory(st: Study, prof: Profile, built_m: gpd.GeoDataFrame) -> None:
    """Refuse, before any work, a run whose grid would not fit in the memory free."""
    n = len(_grid_circles(st, prof))
    per_unit = _RUN_BYTES_PER_UNIT_PER_CIRCLE * max(n, 1)
    if st.outputs.maps:
        per_unit += _MAP_BYTES_PER_UNIT + _MAP_BYTES_PER_UNIT_PER_CIRCLE * n
    limit = demand.available_memory_bytes()
    try:
        demand.check_grid_memory(
            built_m,
            cell_m=st.demand.cell_m,
            bytes_per_unit=per_unit,
            extra_bytes=_NETWORK_BYTES,
            max_memory_bytes=limit,
            what="the run's grid",
        )
    except InputError as exc:
        raise StudyError(f"{st.where('demand', 'cell_m')}demand.cell_m: {exc}") from None


def _require_inputs(st: Study) -> None:
    """Every file the study names exists: one error lists the missing ones with their lines, before any work."""
    missing = [
        f"{st.where(*key)}{'.'.join(map(str, key))}: {path} does not exist" for key, path in st.input_paths() if not path.exists()
    ]
    if missing:
        head = f"files named in the study {st._label} do not exist" if st._label else "files named in the study do not exist"
        raise DataNotFoundError(f"{head} (paths are relative to the study file's folder):\n" + "\n".join(missing))


def _prepare(st: Study, prof: Profile, notes: list[str]) -> _Town:
    _require_inputs(st)
    town, built = _boundaries(st)
    metric = _crs.metric_crs(town)
    built_m = built.to_crs(metric)
    _check_run_memory(st, prof, built_m)
    sources: list[_FacilitySource] = []
    fac = _facilities(st, prof, town, st.network.buffer_m, sources)
    units = demand.grid(built_m, cell_m=st.demand.cell_m, reach_m=_shortest_reach_m(prof, _grid_circles(st, prof)))
    residential = _residential(st, metric, town)
    units = _with_residential(units, residential, built_m)
    units = _with_population(st, units, built_m, notes)
    if st.zones is not None:
        units = _with_zones(st, units, metric)
    weight = st.demand.weight
    if weight == "residential" and units["res_area_m2"].sum() <= 0:
        notes.append(
            "no residential land inside the built-up area: coverage rates use the built-up area itself "
            "(weight=area); give residential land under `residential:` for the official denominator"
        )
        weight = "area"
    return _Town(st, prof, town, built, metric, fac, residential, units, weight, sources=sources)


#: Search limit (minutes) of the study's travel times: the whole network. Times beyond a
#: circle's thresholds are kept (``t_<category>`` of the ``units_<circle>`` layers); ``inf``
#: (NULL in the GeoPackage) means no path at all, or farther than the snap distance from the network.
SEARCH_LIMIT_MIN = float("inf")

_DENOMINATORS = {
    "residential": "建成区居住用地面积 residential land in the built-up area",
    "area": "建成区面积 built-up area",
    "pop": "人口 population",
    "units": "村庄数 villages",
}


def _rate(cov: pd.DataFrame, key: str) -> float:
    return float(cov["rate"].to_numpy(float)[list(cov.index).index(key)])


def _gap_names(inv: pd.DataFrame | None, keys: list[str]) -> tuple[str, ...]:
    """The Chinese names of those inventory rows among ``keys`` that no source holds."""
    if inv is None:
        return ()
    missing = set(inventory.gaps(inv))
    return tuple(str(inv.loc[k, "name_zh"]) for k in keys if k in missing)


def _gap_notes(inv: pd.DataFrame, prof: Profile, computed: Mapping[str, report.ComputedValue]) -> list[str]:
    """One note per category or layer no source holds: where it was looked for and the rows it leaves a lower bound."""
    rows = [*prof.annex, *([prof.greenway_target] if prof.greenway_target is not None else [])]
    notes = []
    for key in inv.index[inv["status"] == inventory.CLOSED]:
        entry = inv.loc[key]
        notes.append(
            f"不对外开放 not public: {entry['name_zh']!s} {entry['name_en']!s} (needed for {entry['needed_for']!s}): the data "
            f"hold {int(entry['not_public'])}, none open to the public (inside closed grounds such as a campus, or "
            "access=private): counted as a gap in service, not as missing data"
        )
    for key in inventory.gaps(inv):
        sources = [c for c in inv.attrs.get("sources_of", {}).get(key, inv.attrs.get("sources", [])) if c in inv.columns]
        hit = [
            (str(r.row) if r.row else r.name_zh)
            for r in rows
            if r.computed is not None and r.computed in computed and key in inventory.depends_on(prof, r.computed)
        ]
        looked = ", ".join(f"{c}: 0" for c in sources) or "no source given"
        entry = inv.loc[key]
        name = f"{entry['name_zh']!s} {entry['name_en']!s}"
        where = f" (needed for {entry['needed_for']!s})" if entry["needed_for"] else ""
        if len(hit) > 1:
            rows_text = f"; rows {', '.join(hit[:-1])} and {hit[-1]} show the rate from what the data holds as a lower bound"
        elif hit:
            rows_text = f"; row {hit[0]} shows the rate from what the data holds as a lower bound"
        else:
            rows_text = ""
        buffer = inv.attrs.get("buffer_m", 0.0)
        add = str(entry["note"]).split("; ", 1)[-1]
        notes.append(
            f"缺数据 data missing: {name}{where}: no source holds any inside the town or within {buffer:g} m of it "
            f"({looked}){rows_text}. {add[:1].upper() + add[1:]}"
        )
    return notes


def run(
    study: Study | str | os.PathLike[str] | Mapping[str, Any],
    *,
    out: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
    progress: bool = False,
    extra_files: Mapping[str, str | bytes] | None = None,
) -> StudyResult:
    """Run a study: every indicator, table and layer; written to ``out`` when given.

    Parameters
    ----------
    study : Study, path or mapping
        A study file (see :func:`template`), or its content.
    out : path, optional
        Output folder: made, or, when it holds only an earlier mtown-geo output, replaced
        on success; left untouched on failure. It is checked before anything is computed:
        a folder that holds other files, the current, home or study file's folder, a
        symbolic link or a folder that cannot be written is refused at once
        (see ``docs/safety.md``).
    overwrite : bool
        Write into an ``out`` that holds other files too: only the files mtown-geo wrote
        there are replaced; every other file stays as it is.
    progress : bool
        Show a progress bar (the CLI does).
    extra_files : mapping, optional
        Further files (relative name → text or bytes) written into the output folder.

    Returns
    -------
    StudyResult
        The indicator table, the per-circle, per-zone and siting tables, the layers
        (GeoDataFrames in the town's metric CRS) and the networks.
    """
    st = study if isinstance(study, Study) else load_study(study)
    if out is not None:
        check_output_dir(out, overwrite=overwrite, protect=[st.base_dir])
    st = _with_buildings(st)
    prof = _profile_of(st)
    notes: list[str] = []
    circles = list(st.circles) if st.circles is not None else list(prof.circles)
    steps = ["inputs", *[f"circle {c}" for c in circles], "parks", "greenways", "tasks", "siting", "report"]
    bar = _progress(len(steps), f"mtown-geo {st.name}", progress)
    tables: dict[str, pd.DataFrame] = {}
    layers: dict[str, gpd.GeoDataFrame] = {}
    rasters: dict[str, Any] = {}
    computed: dict[str, report.ComputedValue] = {}
    with _collect_warnings(notes):
        bar.set_postfix_str("inputs")
        tw = _prepare(st, prof, notes)
        _check_coordinates(tw, notes)
        metric = tw.metric
        town_m, built_m = tw.town.to_crs(metric), tw.built.to_crs(metric)
        layers["boundaries"] = gpd.GeoDataFrame(
            {"kind": ["镇域"] * len(town_m) + ["建成区"] * len(built_m), "name": st.name},
            geometry=list(town_m.geometry) + list(built_m.geometry),
            crs=metric,
        )
        if len(tw.residential):  # the land the residential-weighted rates measure
            land = shapely.intersection(tw.residential.geometry.union_all(), built_m.geometry.union_all())
            layers["residential"] = gpd.GeoDataFrame({"kind": ["居住用地"]}, geometry=[land], crs=metric)
        tables["inventory"] = inventory.take(
            tw.facilities,
            boundary=tw.town,
            buffer_m=st.network.buffer_m,
            profile=prof,
            circles=circles,
            sources=_source_labels(st, "facilities"),
            not_public=tw.facilities.attrs.get("not_public", ()),
        )
        bar.update()
        for circle in circles:
            bar.set_postfix_str(f"circle {circle}")
            _circle_step(tw, circle, computed, tables, layers, notes, rasters)
            bar.update()
        fac_m = tw.facilities.to_crs(metric)
        if "walk" in tw.networks:
            diag = access.reach(tw.networks["walk"], tw.facilities, max_time_min=15).facility_diagnostics()
            fac_m = fac_m.join(diag[["access_points", "snap_dist_m", "status"]])
        layers["facilities"] = fac_m
        bar.set_postfix_str("parks")
        _parks_step(tw, computed, tables, layers, notes)
        bar.update()
        bar.set_postfix_str("greenways")
        _greenways_step(tw, computed, tables, layers, notes)
        bar.update()
        bar.set_postfix_str("tasks")
        from . import tasks as _tasks

        task_values = _tasks.run_step(tw, tables, layers, notes)
        if task_values:
            tables["tasks"] = report.task_table(prof, task_values)
        bar.update()
        bar.set_postfix_str("siting")
        if st.siting.enabled:
            _siting_step(tw, tables, layers, notes)
        bar.update()
        bar.set_postfix_str("report")
        notes.extend(_gap_notes(tables["inventory"], prof, computed))
        indicators = report.indicator_table(prof, year=st.year, computed=computed, reported=st.reported)
        bar.update()
    bar.close()
    data_date = _extract(st).timestamp if (st.osm is not None or st._extract is not None) else None
    basemap = _basemap(tw) if (st.outputs.static_maps or st.outputs.maps) else None
    result = StudyResult(
        study=st,
        profile=prof,
        indicators=indicators,
        tables=tables,
        layers=layers,
        networks=tw.networks,
        notes=notes,
        rasters=rasters,
        data_date=data_date,
        basemap=basemap,
    )
    if out is not None:
        write(result, out, overwrite=overwrite, extra_files=extra_files)
    return result


def _with_buildings(st: Study) -> Study:
    """With maps to draw, the study's OSM file is read once *with* its buildings (for the basemap)."""
    if not (st.outputs.static_maps or st.outputs.maps) or st._extract is not None or st.osm is None:
        return st
    path = st.osm_path()
    if not (is_osm_file(path) and Path(path).exists()):
        return st
    return st.with_data(osm=read_osm(path, buildings=True))


def _basemap(tw: _Town) -> Any:
    """The maps' basemap: the OSM extract's streets, water, green land, land use and buildings, else the walk network's streets."""
    from .render import basemap_from_network, basemap_from_osm

    st = tw.study
    if st.osm is not None or st._extract is not None:
        try:
            ext = _extract(st)
        except (DataNotFoundError, InputError, StudyError) as exc:  # a place name, not a file: no extract in hand
            log.info("no OSM extract for the basemap (%s)", exc)
        else:
            return basemap_from_osm(ext, area=tw.town, crs=tw.metric, margin_m=max(st.network.buffer_m, 1500.0))
    net = tw.networks.get("walk") or next(iter(tw.networks.values()), None)
    return basemap_from_network(net).to_crs(tw.metric) if net is not None else None


def _isochrones_and_rasters(
    tw: _Town, r: access.Reach, circle: str, layers: dict[str, gpd.GeoDataFrame], rasters: dict[str, Any]
) -> None:
    """Service areas of every category present (at its threshold) and the travel-time raster."""
    from . import isochrones
    from . import rasters as _rasters

    prof = tw.profile
    present = [c for c in r.categories if (r.facilities["category"] == c).any()]
    if not present:
        return
    if tw.study.outputs.isochrones:
        limits = sorted({prof.threshold_min(circle, c) for c in present})
        areas = isochrones.service_areas(r, thresholds_min=limits, by="category", categories=present)
        keep = [prof.threshold_min(circle, c) == t for c, t in zip(areas["category"], areas["threshold_min"], strict=True)]
        layers[f"isochrones_{circle}"] = areas.loc[keep].to_crs(tw.metric).reset_index(drop=True)
    if tw.study.outputs.rasters:
        like = tw.study.path(tw.study.population.raster) if tw.study.population.raster else None
        kw: dict[str, Any] = {"like": like} if like is not None else {"resolution_m": tw.study.demand.cell_m}
        rasters[f"travel_time_{circle}"] = _rasters.travel_time_raster(
            r, categories=present, area=tw.built.to_crs(r.network.crs), **kw
        )


def _circle_step(
    tw: _Town,
    circle: str,
    computed: dict[str, report.ComputedValue],
    tables: dict[str, pd.DataFrame],
    layers: dict[str, gpd.GeoDataFrame],
    notes: list[str],
    rasters: dict[str, Any],
) -> None:
    prof = tw.profile
    spec = prof.circles[circle]
    net = tw.network(spec.mode)
    c_units = tw.units
    c_weight: Any = tw.weight
    if spec.demand == "villages":
        c_units = _villages(tw.study, tw.town, net.crs)
        c_weight = "units"
        if c_units.empty:
            notes.append(f"{circle}: no village inside the town (give `villages:`): the circle is not computed")
            return
        names = [str(n) for n in c_units["name"].fillna("(unnamed)")] if "name" in c_units else []
        shown = ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
        notes.append(
            f"{circle}: measured from each of the {len(c_units)} village(s) inside the town ({shown}): each counts "
            f"{100 / len(c_units):.1f} % of the rate; give all the town's villages under `villages:` if OSM lacks some"
        )
    else:
        c_units = c_units.to_crs(net.crs)
    # the whole network is searched (a few milliseconds more than stopping at the threshold):
    # the maps show times beyond the threshold, and "no path at all" apart from "farther"
    r = lifecircle.reach(net, tw.facilities, profile=prof, circle=circle, max_time_min=SEARCH_LIMIT_MIN)
    times = lifecircle.times_at(r, c_units, profile=prof, circle=circle)
    cov = lifecircle.coverage(times, c_units, profile=prof, circle=circle, weight=c_weight)
    if r is not None and spec.demand != "villages":
        _isochrones_and_rasters(tw, r, circle, layers, rasters)
    tables[f"coverage_{circle}"] = cov
    tables[f"k_of_n_{circle}"] = lifecircle.k_of_n(times, c_units, profile=prof, circle=circle, weight=c_weight)
    tables[f"k_of_n_{circle}"].attrs["weight"] = c_weight  # the unit of its weight column
    assessed = lifecircle.assess(times, c_units, profile=prof, circle=circle)
    layers[f"units_{circle}"] = assessed.to_crs(tw.metric)
    if spec.demand != "villages":
        layers[f"gaps_{circle}"] = lifecircle.gaps(assessed, profile=prof, circle=circle, by="category").to_crs(tw.metric)
    if "zone" in c_units:
        tables[f"zones_{circle}"] = lifecircle.coverage_by_zone(times, c_units, profile=prof, circle=circle, weight=c_weight)
    denom = _DENOMINATORS[c_weight]
    inv = tables.get("inventory")
    computed[f"circle:{circle}"] = report.ComputedValue(
        value=100.0 * _rate(cov, lifecircle.CIRCLE),
        denominator=denom,
        verified=spec.verified,
        note="" if spec.verified else f"assumption: {spec.source.strip()}",
        data_gaps=_gap_names(inv, spec.required),
        source=spec.source,
    )
    for cat in spec.required:
        cspec = prof.categories[cat]
        computed[f"category:{circle}:{cat}"] = report.ComputedValue(
            value=100.0 * _rate(cov, cat),
            denominator=denom,
            verified=False,
            note=f"spatial reading: share within {prof.threshold_min(circle, cat):g} min ({cspec.source.strip()})",
            data_gaps=_gap_names(inv, [cat]),
            source=cspec.source,
        )


def _annex_row_target(prof: Profile, key: str, year: int) -> tuple[float, AnnexRow, int] | None:
    """The target (0–1) of the annex row that computes ``key`` for a year (the latest earlier
    year with a target), with the row and the year; None when no row computes it."""
    for spec in prof.annex:
        if spec.computed == key:
            years = sorted(y for y, v in spec.targets.items() if y <= year and v is not None)
            if years:
                return float(spec.targets[years[-1]] or 0.0) / 100.0, spec, years[-1]
    return None


def _serves_parks(prof: Profile, category: str) -> bool:
    """Whether a category is the park land of row 8 (its OSM rules are the parks' rules)."""
    if prof.parks is None:
        return False
    park_rules = [dict(r.tags) for r in prof.parks.osm]
    return any(dict(r.tags) in park_rules for r in prof.categories[category].osm)


def category_target(study: Study, category: str, circle: str) -> tuple[float | None, str]:
    """The siting target (0–1) of a category and where it comes from.

    In this order: the study's ``siting.targets`` for the category (any name the profile
    accepts), the study's ``siting.target``, the target of the annex row that measures the
    category itself (row 10 elderly care, row 11 childcare; row 8 for the park category),
    else the target of the circle's own row (row 9 for the 15-minute circle), for the
    study's year.

    Returns
    -------
    tuple
        The target (``None`` when there is none) and its source as text, e.g.
        ``"annex row 11 (2025): 80 %"``.
    """
    prof = _profile_of(study)
    own = {prof.resolve_category(k): v for k, v in study.siting.targets.items()}
    if category in own:
        return own[category], f"study siting.targets: {100 * own[category]:g} %"
    if study.siting.target is not None:
        return study.siting.target, f"study siting.target: {100 * study.siting.target:g} %"
    keys = [f"category:{circle}:{category}"]
    if _serves_parks(prof, category):
        keys.append("park_coverage")
    keys.append(f"circle:{circle}")
    for key in keys:
        found = _annex_row_target(prof, key, study.year)
        if found is not None:
            value, row, year = found
            what = "" if key.startswith("category:") else f", {row.name_zh}"
            return value, f"annex row {row.row} ({year}{what}): {100 * value:g} %"
    return None, f"no annex row gives a target for {category} in {study.year}"


def _siting_step(tw: _Town, tables: dict[str, pd.DataFrame], layers: dict[str, gpd.GeoDataFrame], notes: list[str]) -> None:
    """What it takes to reach the target: the fewest new sites per category below its target.

    Each category's target is :func:`category_target`'s; ``siting.categories`` limits the
    categories (default every category the circle requires)."""
    from . import siting

    st, prof = tw.study, tw.profile
    circle = st.siting.circle
    if circle not in prof.circles or prof.circles[circle].demand == "villages":
        notes.append(f"siting: the circle {circle!r} has no residential demand units; skipped")
        return
    key = f"coverage_{circle}"
    if key not in tables:
        return
    cov = tables[key]
    spec = prof.circles[circle]
    net = tw.network(spec.mode)
    units = tw.units.to_crs(net.crs)
    weight = lifecircle.WEIGHTS[tw.weight] or "area_m2"
    rows = []
    site_layers = []
    missing = set(inventory.gaps(tables["inventory"])) if "inventory" in tables else set()
    wanted = spec.required
    if st.siting.categories is not None:
        chosen = [prof.resolve_category(c) for c in st.siting.categories]
        outside = [c for c in chosen if c not in spec.required]
        if outside:
            notes.append(f"siting: {outside} are not required by the {circle} circle; left out")
        wanted = [c for c in spec.required if c in chosen]
    for cat in wanted:
        target, target_source = category_target(st, cat, circle)
        if target is None:
            notes.append(f"siting: {target_source}; give siting.targets")
            continue
        rate = _rate(cov, cat)
        if rate >= target:
            continue
        plan = siting.add_facilities(
            net,
            tw.facilities,
            units,
            category=cat,
            threshold_min=prof.threshold_min(circle, cat),
            target=target,
            k=st.siting.max_sites,
            weight=weight,
            method=st.siting.method,
        )
        rows.append(
            {
                "category": cat,
                "name_zh": prof.categories[cat].name_zh,
                "coverage_now": plan.coverage_before,
                "target": target,
                "target_source": target_source,
                "new_sites": plan.n_sites,
                "coverage_after": plan.coverage_after,
                "target_reached": plan.target_reached,
                "max_coverage": plan.max_coverage,
                "at_least_sites": plan.bound_n_sites,
                "method": plan.method,
                "note": (
                    "缺数据 data missing: no source holds any of this category here, so these sites assume the town has "
                    "none; add the existing ones first (see the inventory). "
                    if cat in missing
                    else ""
                )
                + plan.message(),
            }
        )
        if plan.n_sites:
            sites = plan.sites.to_crs(tw.metric)
            keep = [
                c
                for c in sites.columns
                if c in ("order", "coverage", "coverage_gain", sites.geometry.name) or c.startswith(("new_", "covered_"))
            ]
            site_layers.append(sites[keep].assign(category=cat).reset_index(drop=True))
    if rows:
        tables[f"siting_{circle}"] = pd.DataFrame(rows).set_index("category")
    if site_layers:
        proposed = gpd.GeoDataFrame(pd.concat(site_layers, ignore_index=True), crs=tw.metric)
        layers[f"proposed_sites_{circle}"] = proposed
        tables[f"sites_{circle}"] = sites_table(proposed, prof)


def sites_table_empty(profile: Profile) -> pd.DataFrame:
    """The columns of :func:`sites_table` without a row (no site was needed)."""
    cols = ["category", "name_zh", "order", "lon_wgs84", "lat_wgs84", "lon_gcj02", "lat_gcj02", "x", "y"]
    return pd.DataFrame({c: [] for c in [*cols, "coverage", "coverage_gain"]})


def sites_table(sites: gpd.GeoDataFrame, profile: Profile) -> pd.DataFrame:
    """Proposed sites as a table a planner can take to a map or to Amap: one row per site.

    Parameters
    ----------
    sites : GeoDataFrame
        Points in a projected CRS with ``category``, ``order``, ``coverage`` and
        ``coverage_gain`` (shares of 0–1), as the siting step makes them.
    profile : Profile
        For the categories' Chinese names.

    Returns
    -------
    DataFrame
        ``category``, ``name_zh``, ``order``, ``lon_wgs84`` / ``lat_wgs84`` (WGS-84
        degrees, as GPS and OpenStreetMap), ``lon_gcj02`` / ``lat_gcj02`` (GCJ-02, as Amap
        and Tencent maps take them), ``x`` / ``y`` (metres in the sites' CRS: its EPSG code in
        ``attrs["crs"]``, its name in ``attrs["crs_name"]``), ``coverage``, ``coverage_gain``.
    """
    _crs.require_projected(sites, what="proposed sites")
    pts = sites.geometry.representative_point()
    wgs = gpd.GeoSeries(pts, crs=sites.crs).to_crs(4326)
    lon = wgs.x.to_numpy()
    lat = wgs.y.to_numpy()
    glon, glat = _crs.wgs84_to_gcj02(lon, lat)
    cats = sites["category"].astype(str).to_numpy() if "category" in sites else np.array([""] * len(sites))
    out = pd.DataFrame(
        {
            "category": cats,
            "name_zh": [profile.categories[c].name_zh if c in profile.categories else c for c in cats],
            "order": sites["order"].to_numpy() if "order" in sites else np.arange(1, len(sites) + 1),
            "lon_wgs84": lon,
            "lat_wgs84": lat,
            "lon_gcj02": glon,
            "lat_gcj02": glat,
            "x": pts.x.to_numpy(),
            "y": pts.y.to_numpy(),
            "coverage": sites["coverage"].to_numpy(float) if "coverage" in sites else np.nan,
            "coverage_gain": sites["coverage_gain"].to_numpy(float) if "coverage_gain" in sites else np.nan,
        }
    )
    epsg = sites.crs.to_epsg()
    out.attrs["crs"] = f"EPSG:{epsg}" if epsg else sites.crs.name
    out.attrs["crs_name"] = sites.crs.name
    return out


def _with_residential(units: gpd.GeoDataFrame, residential: gpd.GeoDataFrame, built: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    if residential.empty:
        return units
    return demand.with_residential(units, residential.to_crs(units.crs), area=built.to_crs(units.crs))


def _pop_per_cell(units: gpd.GeoDataFrame, pop_units: gpd.GeoDataFrame) -> np.ndarray:
    """People of each grid cell: the sum of the population units whose point falls in it
    (a point on a cell's edge goes to one cell only)."""
    cells = demand.cells(units)
    idx = cells.sindex.query(pop_units.geometry.to_crs(units.crs), predicate="intersects")
    idx = idx[:, np.unique(idx[0], return_index=True)[1]]
    pop = np.zeros(len(units))
    np.add.at(pop, idx[1], pop_units["pop"].to_numpy()[idx[0]])
    return pop


def _with_population(st: Study, units: gpd.GeoDataFrame, built: gpd.GeoDataFrame, notes: list[str]) -> gpd.GeoDataFrame:
    spec = st.population
    out = units.copy()
    if spec.raster is not None:
        cells = demand.from_raster(st.path(spec.raster), area=built, min_coverage=spec.min_coverage)
        out["pop"] = _pop_per_cell(units, cells)
        rep = cells.attrs.get("raster_report", {})
        notes.append(
            f"population from the raster {spec.raster}: its valid cells cover {rep.get('coverage', float('nan')):.1%} "
            f"of the built-up area (at least {spec.min_coverage:.0%} required), {rep.get('pop', float('nan')):,.0f} people"
        )
    elif spec.census is not None:
        census = _read_layer(st, spec.census)
        col = spec.count_col or next((c for c in ("pop", "POPU", "常住人口", "人口", "population") if c in census), None)
        if col is None or col not in census:
            raise StudyError(f"population.census: {spec.census} has no count column; set population.count_col")
        # areal weighting: each census polygon's count spread by area over the grid cells (clipped
        # to the built-up area); people living outside the built-up area are not counted
        census = census.to_crs(units.crs)
        census = census.assign(_count=pd.to_numeric(census[col], errors="coerce"), _area=census.area)
        if census["_count"].isna().any() or (census["_count"] < 0).any():
            raise StudyError(f"population.census: column {col!r} of {spec.census} must hold non-negative numbers")
        cells = demand.cells(units).assign(_cell=np.arange(len(units)))
        cells = cells.set_geometry(cells.geometry.intersection(built.to_crs(units.crs).union_all()))
        parts = gpd.overlay(
            cells[["_cell", "geometry"]], census[["_count", "_area", "geometry"]], how="intersection", keep_geom_type=True
        )
        people = parts["_count"] * parts.area / parts["_area"]
        out["pop"] = np.bincount(parts["_cell"].to_numpy(), weights=people.to_numpy(), minlength=len(units))
        notes.append(
            f"population from the census polygons of {spec.census} (column {col!r}), spread by area inside the built-up area"
        )
    elif spec.total is not None:
        # spread the resident population over residential land (else over the area)
        w = out["res_area_m2"].to_numpy() if out["res_area_m2"].sum() > 0 else out["area_m2"].to_numpy()
        out["pop"] = spec.total * w / w.sum()
        notes.append("population spread over residential land in proportion to its area (no population raster given)")
    return out


def _zone_polygons(st: Study, metric: Any) -> tuple[gpd.GeoDataFrame, str]:
    """The study's zones (sub-area polygons) in the metric CRS, and their name column."""
    assert st.zones is not None
    src = st.zones
    if src.file is None:
        raise StudyError("zones: give a `file` with the sub-area polygons")
    z = _read_layer(st, src.file, layer=src.layer).to_crs(metric)
    col = src.name_col or ("name" if "name" in z else None)
    if col is None or col not in z:
        raise StudyError(f"zones: {src.file} needs a name column (set name_col)")
    return z, col


def _with_zones(st: Study, units: gpd.GeoDataFrame, metric: Any) -> gpd.GeoDataFrame:
    z, col = _zone_polygons(st, metric)
    return demand.assign_zones(units, z, zone_col=col)


def _parks_layer(tw: _Town) -> gpd.GeoDataFrame:
    from . import parks

    st, prof = tw.study, tw.profile
    parts = []
    for src in st.parks:
        if src.osm is not None:
            parts.append(parks.from_osm(st.osm_source(src.osm), profile=prof, boundary=tw.town, crs=tw.metric))
        elif src.file is not None:
            layer = _read_layer(st, src.file, layer=src.layer)
            kw: dict[str, Any] = {"profile": prof}
            if src.class_col:
                kw["class_col"] = src.class_col
            if src.classes:
                kw["classes"] = tuple(src.classes)
            if src.name_col:
                kw["name_col"] = src.name_col
            parts.append(parks.from_landuse(layer, **kw).to_crs(tw.metric))
        else:
            raise StudyError("parks: each source is `osm` or a land-use `file` (with class_col / classes)")
        parts[-1] = parts[-1].assign(**{inventory.SOURCE_COL: _source_label(st, src)})
    if not parts:
        return gpd.GeoDataFrame({"name": [], "area_m2": []}, geometry=[], crs=tw.metric)
    return gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs=tw.metric)


def _inventory_layer(
    tw: _Town, tables: dict[str, pd.DataFrame], layer: gpd.GeoDataFrame, key: str, name_zh: str, name_en: str, study_key: str
) -> bool:
    """Add a layer (park land, greenways) to the run's inventory: its features per source inside
    the town and its buffer. Whether any source holds one."""
    town = tw.town.to_crs(tw.metric).union_all()
    reach = town.buffer(tw.study.network.buffer_m)
    geoms = np.asarray(layer.to_crs(tw.metric).geometry.values) if len(layer) else np.empty(0, dtype=object)
    inside = shapely.intersects(geoms, town) if len(geoms) else np.zeros(0, dtype=bool)
    near = ~inside & shapely.intersects(geoms, reach) if len(geoms) else np.zeros(0, dtype=bool)
    labels = layer[inventory.SOURCE_COL].astype(str).to_numpy() if inventory.SOURCE_COL in layer else np.full(len(layer), "—")
    counts = {label: int(((labels == label) & (inside | near)).sum()) for label in _source_labels(tw.study, study_key)}
    if "inventory" in tables:
        tables["inventory"] = inventory.layer_row(
            tables["inventory"],
            key,
            name_zh=name_zh,
            name_en=name_en,
            counts=counts,
            in_town=int(inside.sum()),
            in_buffer=int(near.sum()),
            needed_for="row 8" if key == inventory.PARK_LAND else "greenways",
            kind="parks" if key == inventory.PARK_LAND else "greenways",
        )
    return bool(sum(counts.values()))


def _residential_or_builtup(tw: _Town, notes: list[str], what: str) -> gpd.GeoDataFrame:
    if len(tw.residential):
        return tw.residential
    notes.append(f"{what}: no residential land given, the built-up area stands in for it")
    return tw.built.to_crs(tw.metric)


def _parks_step(
    tw: _Town,
    computed: dict[str, report.ComputedValue],
    tables: dict[str, pd.DataFrame],
    layers: dict[str, gpd.GeoDataFrame],
    notes: list[str],
) -> None:
    """Row 8: residential land within a park's service radius (buffers), and the walked variant."""
    from . import parks

    st, prof = tw.study, tw.profile
    if not st.parks:
        notes.append("parks: no source given; row 8 is not computed")
        return
    park_layer = _parks_layer(tw)
    held = _inventory_layer(tw, tables, park_layer, inventory.PARK_LAND, "公园绿地", "park land (any size)", "parks")
    residential = _residential_or_builtup(tw, notes, "park coverage")
    built_m = tw.built.to_crs(tw.metric)
    walk = tw.network("walk") if "walk" in prof.modes else None
    entrances = st.osm_source() if st.osm is not None or st._extract is not None else None
    kw: dict[str, Any] = {
        "profile": prof,
        "builtup": built_m,
        "network": walk,
        "entrance_points": entrances,
        "cell_m": st.demand.cell_m,
    }
    with warnings.catch_warnings():
        # the walked variant's grid over residential land has the demand grid's cell_m, already judged
        warnings.simplefilter("ignore", GridResolutionWarning)
        cov = parks.service_radius_coverage(park_layer, residential, layers=bool(len(park_layer)), **kw)
    notes.extend(f"parks: {n}" for n in cov.notes)
    rule_source = prof.parks.rules[cov.rule].source if prof.parks is not None and cov.rule in prof.parks.rules else ""
    computed["park_coverage"] = report.ComputedValue(
        value=cov.percent,
        denominator="建成区居住用地面积 residential land in the built-up area"
        if len(tw.residential)
        else "建成区面积 built-up area",
        verified=cov.verified,
        note=("; ".join(cov.notes) + "; " if cov.notes else "") + f"walked from entrances: {100 * cov.network_rate:.1f}%",
        details={"network_rate": 100 * cov.network_rate, "rule": cov.rule},
        data_gaps=() if held else ("公园绿地",),
        source=rule_source,
    )
    summary = {
        "rule": cov.rule,
        "rule_name": cov.rule_name,
        # verified in a report only when read in a final text (the radius rule is quoted second-hand)
        "verified": documents.verified(cov.verified, rule_source) if rule_source else cov.verified,
        "parks": cov.n_parks,
        "covered_m2": cov.covered_m2,
        "total_m2": cov.total_m2,
        "rate": cov.rate,
        "network_covered_m2": cov.network_covered_m2,
        "network_rate": cov.network_rate,
    }
    if st.population.total is not None and len(park_layer):
        per = parks.area_per_capita(park_layer, st.population.total, scope=tw.town.to_crs(tw.metric), profile=prof)
        summary.update(
            {"park_m2_per_person": per.m2_per_person, "park_m2_per_person_min": per.min_m2_per_person, "meets_gb55014": per.meets}
        )
    tables["parks"] = pd.DataFrame([summary])
    tables["parks_by_class"] = cov.by_class
    for name, gdf in cov.layers.items():
        layers[f"parks_{name}"] = gdf.to_crs(tw.metric)


def _greenways_step(
    tw: _Town,
    computed: dict[str, report.ComputedValue],
    tables: dict[str, pd.DataFrame],
    layers: dict[str, gpd.GeoDataFrame],
    notes: list[str],
) -> None:
    """Greenway km per 10,000 residents, and residential land within 1 km of a greenway."""
    from . import greenways

    st, prof = tw.study, tw.profile
    if not st.greenways:
        notes.append("greenways: no source given; not computed")
        return
    town_m = tw.town.to_crs(tw.metric)
    parts = []
    for src in st.greenways:
        if src.osm is not None:
            parts.append(greenways.from_osm(st.osm_source(src.osm), profile=prof, boundary=town_m, crs=tw.metric))
        elif src.file is not None:
            parts.append(_read_layer(st, src.file, layer=src.layer).to_crs(tw.metric))
        else:
            raise StudyError("greenways: each source is `osm` or a line `file`")
        parts[-1] = parts[-1].assign(**{inventory.SOURCE_COL: _source_label(st, src)})
    lines = (
        gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs=tw.metric)
        if parts
        else gpd.GeoDataFrame(geometry=[], crs=tw.metric)
    )
    held = _inventory_layer(tw, tables, lines, inventory.GREENWAYS, "绿道", "greenways", "greenways")
    spec = prof.greenways
    scope = town_m if spec is None or spec.scope == "town" else tw.built.to_crs(tw.metric)
    population: Any
    if st.population.total is not None:
        population = float(st.population.total)
    elif tw.units["pop"].sum() > 0:
        population = tw.units
    else:
        notes.append("greenways: no population given (population.total or a raster): km per 10,000 residents not computed")
        return
    res = greenways.length_per_10k(lines, population, scope=scope, profile=prof)
    notes.extend(f"greenways: {n}" for n in res.notes)
    computed["greenway_per_10k"] = report.ComputedValue(
        value=res.km_per_10k,
        denominator=f"常住人口 residents ({res.population_from})",
        verified=res.verified,
        note=f"{res.km:.2f} km of greenway (de-duplicated from {res.raw_km:.2f} km) for {res.pop:,.0f} residents",
        data_gaps=() if held else ("绿道",),
        source=spec.source if spec is not None else "",
    )
    row = {
        "km": res.km,
        "raw_km": res.raw_km,
        "pop": res.pop,
        "km_per_10k": res.km_per_10k,
        "target": res.target_km_per_10k,
        "meets_target": res.meets_target,
        "lines": res.n_lines,
        "tolerance_m": res.tolerance_m,
        "verified": res.verified,
    }
    if len(lines):
        residential = _residential_or_builtup(tw, notes, "greenway coverage")
        sc = greenways.service_coverage(lines, residential, profile=prof, builtup=tw.built.to_crs(tw.metric))
        row.update({"service_radius_m": sc.radius_m, "service_rate": sc.rate})
        layers["greenways"] = greenways.centrelines(lines, profile=prof, scope=scope).to_crs(tw.metric)
    tables["greenways"] = pd.DataFrame([row])


def check(study: Study | str | os.PathLike[str] | Mapping[str, Any], *, skip: tuple[str, ...] = ()) -> Any:
    """Validate a study's inputs before computing anything (see :mod:`mtown_geo.validate`).

    Reads the boundaries, facilities and residential land the study names, builds the
    walk network, and returns one :class:`~mtown_geo.validate.ValidationReport` of what
    is wrong, where, and how to fix it. A layer that cannot even be read is reported as
    an error of the report, not raised.

    Returns
    -------
    ValidationReport
    """
    from . import validate as _validate

    st = study if isinstance(study, Study) else load_study(study)
    prof = _profile_of(st)
    town, built = _boundaries(st)
    kw: dict[str, Any] = {"boundary": town, "builtup": built, "profile": prof, "skip": skip}
    notes: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MtownGeoWarning)
        kw["facilities"] = _facilities(st, prof, town, st.network.buffer_m)
        res = _residential(st, _crs.metric_crs(town), town)
        if len(res):
            kw["residential"] = res
        if "walk" in prof.modes:
            kw["network"] = _network_for(st, prof, "walk", town, {})
    if st.population.raster:
        kw["population_raster"] = st.path(st.population.raster)
        kw["min_coverage"] = st.population.min_coverage
    reference = _osm_reference(st)
    if reference is not None:
        kw["reference"] = reference
    del notes
    return _validate.validate(**kw)


def site(
    study: Study | str | os.PathLike[str] | Mapping[str, Any],
    *,
    category: str,
    target: float | None = None,
    k: int | None = None,
    method: Literal["greedy", "exact"] = "greedy",
    candidates: gpd.GeoDataFrame | str | os.PathLike[str] | None = None,
    out: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
) -> Any:
    """Where to build: new sites of one category for a study's town (see :mod:`mtown_geo.siting`).

    ``category`` is any name the profile accepts for it: its id (``kindergarten``), its
    English or Chinese name or a part of it (幼儿园, 卫生院) or an alias (托育); an unknown
    name is an :class:`~mtown_geo.InputError` naming the closest ones. The circle is the
    first of the study's circles that requires the category; its mode, threshold and the
    study's demand weight apply. ``target`` defaults to :func:`category_target` (the
    study's own target for the category, else the annex row that measures it, else the
    circle's row) for the study's year. With ``out``, writes
    ``siting.gpkg`` (layers ``new_sites`` and ``units``), ``new_sites.csv``,
    ``siting_summary.csv``, ``map.html`` and ``manifest.json``, atomically, under the
    folder rules of :func:`run` (``overwrite`` as there; checked before computing).

    Returns
    -------
    SitingPlan
    """
    from . import siting

    st = study if isinstance(study, Study) else load_study(study)
    prof = _profile_of(st)
    category = prof.resolve_category(category)  # 幼儿园, 托育, kindergarten... → the category's id
    circles = list(st.circles) if st.circles is not None else list(prof.circles)
    circle = next((c for c in circles if category in prof.circles[c].required + prof.circles[c].optional), None)
    if circle is None:
        raise InputError(f"no circle of the study ({circles}) lists the category {category!r}")
    if prof.circles[circle].demand == "villages":
        raise InputError(f"the {circle} circle is measured from villages; siting works on residential demand units")
    if out is not None:
        check_output_dir(out, overwrite=overwrite, protect=[st.base_dir])
    notes: list[str] = []
    tw = _prepare(st, prof, notes)
    net = tw.network(prof.circles[circle].mode)
    units = tw.units.to_crs(net.crs)
    if target is None and k is None:
        target, _ = category_target(st, category, circle)
        if target is None:
            raise InputError("give a target (0–1) or a number of sites k")
    cand = None
    if candidates is not None:
        cand = candidates if isinstance(candidates, gpd.GeoDataFrame) else _read_layer(st, str(candidates))
    weight = lifecircle.WEIGHTS[tw.weight] or "area_m2"
    plan = siting.add_facilities(
        net,
        tw.facilities,
        units,
        category=category,
        threshold_min=prof.threshold_min(circle, category),
        candidates=cand,
        k=k,
        target=target,
        weight=weight,
        method=method,
    )
    if out is not None:
        from .render import save_map, siting_map

        with atomic_dir(out, overwrite=overwrite, protect=[st.base_dir]) as tmp:
            sites = plan.sites.to_crs(tw.metric)
            assessed = units.join(plan.units).to_crs(tw.metric)
            if len(sites):
                _to_gpkg(sites, tmp / "siting.gpkg", "new_sites")
            _to_gpkg(assessed, tmp / "siting.gpkg", "units")
            # the sites as a planner takes them to a map: lon/lat in WGS-84 and GCJ-02, metres in the named CRS
            table = sites_table(sites.assign(category=category), prof) if len(sites) else sites_table_empty(prof)
            report.write_sites_csv(table, tmp / "new_sites.csv")
            report.write_csv(plan.summary().to_frame("value"), tmp / "siting_summary.csv")
            fmap = siting_map(
                assessed,
                sites,
                label=prof.categories[category].name_zh,
                bounds=tuple(tw.town.to_crs(4326).total_bounds),
                tiles=st.outputs.tiles,
            )
            save_map(fmap, tmp / "map.html")
            man = _manifest(st, prof)
            man["siting"] = {"category": category, "circle": circle, "target": target, "k": k, "method": method}
            _write_manifest(man, tmp)
    return plan


# -- writing -------------------------------------------------------------------------------


def write(
    result: StudyResult,
    out: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    extra_files: Mapping[str, str | bytes] | None = None,
) -> Path:
    """Write a result's tables, layers, maps and manifest into a folder, atomically.

    The folder rules of :func:`run` apply (``overwrite`` as there). ``extra_files``
    (relative name → text or bytes) are written into the folder too, inside the same atomic
    step (the demo keeps its study file beside the results).
    """
    st, prof = result.study, result.profile
    need = _output_bytes(result)
    _check_space(Path(out), need)
    with atomic_dir(out, overwrite=overwrite, protect=[st.base_dir]) as tmp, _disk_full_as_error(tmp, Path(out), need):
        for rel, content in (extra_files or {}).items():
            target = tmp / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                target.write_bytes(content)
            else:
                target.write_text(content, encoding="utf-8")
        tables = {"indicators": result.indicators, **result.tables}
        prov = result.provenance()
        report.write_tables(tables, tmp, title=f"{st.name} 现代化美丽城镇空间指标 ({st.year})", provenance=prov, profile=prof)
        if st.outputs.geopackage:
            gpkg = tmp / "layers.gpkg"
            with _fast_gpkg():
                for name, gdf in result.layers.items():
                    if len(gdf):
                        _to_gpkg(gdf, gpkg, name)
        if st.outputs.maps:
            _interactive_map(result, tmp / "map.html")
        if st.outputs.static_maps:
            _print_maps(result, tmp / "maps")
        if "tasks" in result.tables:
            from . import tasks as _tasks

            _tasks.write_maps(result, tmp, interactive=st.outputs.maps, static=st.outputs.static_maps)
        for name, raster in result.rasters.items():
            (tmp / "rasters").mkdir(exist_ok=True)
            raster.write(tmp / "rasters" / f"{name}.tif")
        man = _manifest(st, prof)
        man["notes"] = result.notes
        man["data_date"] = result.data_date
        man["provenance"] = prov.to_dict()
        _write_manifest(man, tmp)
    result.out_dir = Path(out)
    return Path(out)


def _manifest(st: Study, prof: Profile) -> dict[str, Any]:
    """The manifest of a study's outputs: its input files with SHA-256, configuration, profile, versions."""
    inputs: dict[str, str | Path] = {}
    if st._town is None:
        inputs["study.boundaries.town"] = st.path(st.boundaries.town)
        if st.boundaries.builtup:
            inputs["study.boundaries.builtup"] = st.path(st.boundaries.builtup)
    if st._extract is not None and st._extract.path is not None:
        inputs["study.osm"] = st._extract.path
    elif st.osm:
        inputs["study.osm"] = st.osm_path()
    if st.population.raster:
        inputs["study.population.raster"] = st.path(st.population.raster)
    man = report.manifest(inputs=inputs, config=st.model_dump(mode="json"), profile=prof)
    man["attribution"] = ATTRIBUTION
    return man


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
            import pyogrio

            info = pyogrio.read_info(path)
            if "source" in list(info["fields"]):
                col = pyogrio.read_dataframe(path, columns=["source"], read_geometry=False)["source"]
                if col.astype(str).str.contains("OpenStreetMap").any():
                    return provenance.OSM_LICENCE
        except Exception:  # a file that cannot be read here is read (and judged) by the run
            return provenance.OWN_LICENCE
    return provenance.OWN_LICENCE


def _provenance_of(result: StudyResult) -> Any:
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


def _write_manifest(man: Mapping[str, Any], folder: Path) -> None:
    import json

    (folder / "manifest.json").write_text(json.dumps(man, ensure_ascii=False, indent=2, default=str), encoding="utf-8")


_MIB = 1024 * 1024


def _output_bytes(result: StudyResult) -> int:
    """About how many bytes :func:`write` puts on the disk (within a factor of about 2).

    The GeoPackage takes about the layers' WKB and attribute bytes; the interactive map
    repeats each demand unit as GeoJSON text (about 270 bytes) in every category layer of
    its circle; a print map (PNG at 300 dpi and PDF) takes about 2 MiB.
    """
    st = result.study
    layer_bytes = 0
    map_bytes = 0
    for name, gdf in result.layers.items():
        if not len(gdf):
            continue
        geoms = gdf.geometry.to_numpy()
        wkb = int(sum(len(b) for b in shapely.to_wkb(geoms) if b is not None))
        attrs = 0
        for col in gdf.columns:
            if col == gdf.geometry.name:
                continue
            values = gdf[col]
            attrs += 8 * len(values) if values.dtype.kind in "fiub" else int(values.astype(str).str.len().sum())
        layer_bytes += wkb + attrs
        if name.startswith("units_"):
            map_bytes += 270 * len(gdf) * sum(1 for c in gdf.columns if str(c).startswith("t_"))
        else:
            map_bytes += 3 * wkb
    total = 64 * 1024 + sum(int(df.memory_usage(deep=True).sum()) * 4 for df in result.tables.values())
    if st.outputs.geopackage:
        total += int(1.2 * layer_bytes) + 64 * 1024 * len(result.layers)
    if st.outputs.maps:
        total += map_bytes + 2 * _MIB
    if st.outputs.static_maps:
        total += 2 * _MIB * (sum(1 for k in result.layers if k.startswith("units_")) + 2)
    total += sum(int(getattr(getattr(r, "values", None), "nbytes", 0)) for r in result.rasters.values())
    return total


def _free_bytes(path: Path) -> int:
    """Free bytes on the disk that holds ``path`` (or its nearest existing parent)."""
    import shutil

    p = path.expanduser().resolve()
    while not p.exists() and p != p.parent:
        p = p.parent
    return shutil.disk_usage(p).free


def _mib(n: float) -> str:
    return f"{n / _MIB:,.1f} MiB"


def _check_space(out: Path, need: int) -> None:
    """Refuse before writing anything when the disk of ``out`` has less room than the outputs need."""
    free = _free_bytes(out)
    if free < need:
        raise DiskFullError(
            f"not enough space to write the results into {out.expanduser().resolve()}: they need about {_mib(need)}, "
            f"the disk has {_mib(free)} free. Free some space, or choose an output folder on another disk"
        )


@contextlib.contextmanager
def _disk_full_as_error(tmp: Path, out: Path, need: int) -> Iterator[None]:
    """Turn a write that fails because the disk filled up into a :class:`DiskFullError`
    naming the folder and the space needed (the partial folder is then removed by
    :func:`atomic_dir`)."""
    import errno

    try:
        yield
    except Exception as exc:
        codes = {getattr(e, "errno", None) for e in (exc, exc.__cause__, exc.__context__) if e is not None}
        text = str(exc).lower()
        free = _free_bytes(tmp)
        full = bool(codes & {errno.ENOSPC, errno.EDQUOT}) or "no space left" in text or "disk is full" in text
        if not full and not (isinstance(exc, (OSError, RuntimeError)) and free < _MIB):
            raise
        written = sum(f.stat().st_size for f in tmp.rglob("*") if f.is_file())
        raise DiskFullError(
            f"the disk filled up while writing the results into {out.expanduser().resolve()} "
            f"({type(exc).__name__}: {exc}); {_mib(written)} were written, {_mib(free)} are left. The results need about "
            f"{_mib(max(need, written))}: free some space, or choose an output folder on another disk. The output folder "
            "was left as it was"
        ) from exc


@contextlib.contextmanager
def _fast_gpkg() -> Iterator[None]:
    """GeoPackage writes without SQLite's per-layer disk syncs.

    Outputs are built in a temporary folder and moved into place only when complete
    (:func:`mtown_geo._io.atomic_dir`), so the journal and the syncs SQLite makes after each
    layer buy nothing here; dropping them halves the time of a small layer. The settings are
    GDAL's, for the whole process, and are restored when the block ends.
    """
    import pyogrio

    keys = ("OGR_SQLITE_SYNCHRONOUS", "OGR_SQLITE_JOURNAL")
    before = {k: pyogrio.get_gdal_config_option(k) for k in keys}
    pyogrio.set_gdal_config_options({"OGR_SQLITE_SYNCHRONOUS": "OFF", "OGR_SQLITE_JOURNAL": "MEMORY"})
    try:
        yield
    finally:
        pyogrio.set_gdal_config_options(before)


def _to_gpkg(gdf: gpd.GeoDataFrame, path: Path, layer: str) -> None:
    frame = gdf.copy()
    for col in frame.columns:
        if col == frame.geometry.name:
            continue
        values = frame[col]
        if values.dtype == object:
            frame[col] = values.map(lambda v: v if v is None or isinstance(v, (str, int, float, bool)) else str(v))
        elif pd.api.types.is_float_dtype(values):
            arr = values.to_numpy(dtype=float, na_value=np.nan)
            if np.isinf(arr).any():  # GeoPackage readers take NULL for "not reached", not inf
                frame[col] = np.where(np.isinf(arr), np.nan, arr)
    frame.to_file(path, layer=layer, driver="GPKG")


def _interactive_map(result: StudyResult, path: Path) -> None:
    from .render import save_map, town_map

    if not any(len(g) for g in result.layers.values()):
        return
    fmap = town_map(
        result.layers,
        profile=result.profile,
        tiles=result.study.outputs.tiles,
        title=f"{result.study.name} 出行时间 travel time",
        banner=_gap_banner(result, result.data_gaps) or "",
    )
    save_map(fmap, path)


def _gap_banner(result: StudyResult, keys: list[str]) -> str | None:
    """The banner of a map whose indicator rests on categories (or layers) no data source holds, else None."""
    inv = result.tables.get("inventory")
    if inv is None:
        return None
    missing = [k for k in keys if k in set(inventory.gaps(inv))]
    if not missing:
        return None
    names = "、".join(str(inv.loc[k, "name_zh"]) for k in missing[:3])
    if len(missing) > 3:  # a long list would cover the map: the inventory sheet has them all
        names += f" 等 {len(missing)} 类 ({len(missing) - 3} more: see the inventory)"
    return (
        f"缺数据 Data missing: 数据中没有{names}——图中的缺口来自数据，不是本镇的服务缺口；覆盖率为下限。"
        f"No data source holds any {names} here: the gaps shown are in the data, not necessarily in the town; "
        "the rate is a lower bound. Add an Amap / Baidu POI export or the town's own table."
    )


def _print_maps(result: StudyResult, folder: Path) -> None:
    """One PNG (300 dpi) and PDF per indicator and an overview of the facilities, on the run's own basemap.

    Life circles: how many required categories each place reaches (k of n); elderly care
    and childcare: travel time with the service area and the gaps; parks; greenways.
    Each paints only the land its rate measures.
    """
    import matplotlib.pyplot as plt

    from .render import facilities_map, layers_map, life_circle_map, save_figure, travel_time_map

    st, prof, layers = result.study, result.profile, result.layers
    folder.mkdir(parents=True, exist_ok=True)
    bounds = layers.get("boundaries")
    fac = layers.get("facilities")
    weight = {"residential": "res_area_m2", "pop": "pop", "area": "area_m2"}[st.demand.weight]
    common: dict[str, Any] = {"boundaries": bounds, "data_date": result.data_date, "basemap": result.basemap}
    built = bounds[bounds["kind"] == "建成区"] if bounds is not None else None
    figures: list[tuple[str, Any]] = []
    for circle in [c for c in ("15min", "5min", "10min", "30min") if len(layers.get(f"units_{c}", ()))]:
        units = layers[f"units_{circle}"]
        cspec = prof.circles[circle]
        grid = {"x", "y", "cell_m"} <= set(units.columns)
        w = weight if weight in units and units[weight].sum() > 0 else ("area_m2" if "area_m2" in units else None)
        if not grid:
            w = None  # villages: each counts once
        land = (layers.get("residential") if w == "res_area_m2" else built) if grid else None
        req_fac = fac[fac["category"].isin(cspec.required)] if fac is not None else None
        figures.append(
            (
                f"{circle}_coverage",
                life_circle_map(
                    units,
                    units["n_reached"],
                    len(cspec.required),
                    weight=w,
                    land=land,
                    facilities=req_fac,
                    profile=prof,
                    title_zh=f"{st.name} {cspec.name_zh}",
                    title_en=f"{cspec.name_en} ({st.year}): categories reached",
                    banner=_gap_banner(result, cspec.required),
                    **common,
                ),
            )
        )
        if circle != "15min" or not grid:
            continue
        times = pd.DataFrame({c[2:]: units[c].to_numpy(float) for c in units.columns if c.startswith("t_")}, index=units.index)
        iso = layers.get(f"isochrones_{circle}")
        gaps = layers.get(f"gaps_{circle}")
        for cat in ("elderly_care", "childcare"):
            if cat not in times:
                continue
            name_zh = prof.categories[cat].name_zh
            figures.append(
                (
                    f"{circle}_{cat}",
                    travel_time_map(
                        units,
                        times,
                        cat,
                        max_time_min=SEARCH_LIMIT_MIN,
                        threshold_min=prof.threshold_min(circle, cat),
                        weight=w,
                        land=land,
                        service_area=iso[iso["category"] == cat] if iso is not None and len(iso) else None,
                        gaps=gaps[gaps["category"] == cat] if gaps is not None and len(gaps) else None,
                        profile=prof,
                        facilities=fac,
                        title_zh=f"{st.name} {name_zh}可达时间",
                        banner=_gap_banner(result, [cat]),
                        **common,
                    ),
                )
            )
    if "parks_buffers" in layers:
        park_layers: list[tuple[Any, Any, str]] = []
        buffers = layers["parks_buffers"]
        for colour, (_, row) in zip(("#a6d96a", "#d9ef8b", "#fee08b"), buffers.iterrows(), strict=False):
            park_layers.append(
                (
                    buffers.loc[[row.name]],
                    {"facecolor": colour, "edgecolor": "#66bd63", "alpha": 0.45},
                    f"公园 {row['size_label']} → {row['radius_m']:g} m 服务半径 radius",
                )
            )
        if "parks_covered" in layers:
            park_layers.append(
                (
                    layers["parks_covered"],
                    {"facecolor": "#1a9850", "alpha": 0.85},
                    "覆盖居住用地 covered residential {area_ha:.1f} ha",
                )
            )
        if "parks_uncovered" in layers:
            park_layers.append(
                (
                    layers["parks_uncovered"],
                    {"facecolor": "#d73027", "alpha": 0.85, "hatch": "////"},
                    "未覆盖居住用地 not covered {area_ha:.1f} ha",
                )
            )
        park_layers.append((layers["parks_parks"], {"facecolor": "#006837", "edgecolor": "#00441b"}, "公园 parks {n} 处"))
        rate = result.tables.get("parks")
        sub = f"覆盖率 coverage {100 * float(rate['rate'].iloc[0]):.1f}%" if rate is not None and len(rate) else None
        figures.append(
            (
                "row08_parks",
                layers_map(
                    park_layers,
                    title_zh=f"{st.name} 公园绿地服务半径覆盖",
                    title_en="Park service-radius coverage",
                    subtitle=sub,
                    banner=_gap_banner(result, [inventory.PARK_LAND]),
                    **common,
                ),
            )
        )
    if "greenways" in layers and len(layers["greenways"]):
        green = layers["greenways"]
        g = result.tables.get("greenways")
        sub = f"万人拥有绿道长度 {float(g['km_per_10k'].iloc[0]):.2f} km/万人" if g is not None and len(g) else None
        figures.append(
            (
                "greenways",
                layers_map(
                    [(green, {"color": "#00a651", "linewidth": 2.0}, "绿道 greenways {km:.2f} km")],
                    title_zh=f"{st.name} 绿道",
                    title_en="Greenways",
                    subtitle=sub,
                    crs=green.crs,
                    **common,
                ),
            )
        )
    if fac is not None and len(fac):
        needed = [c for c in result.data_gaps if c in prof.categories]
        banner = _gap_banner(result, needed)
        figures.append(
            ("facilities", facilities_map(fac, profile=prof, title_zh=f"{st.name} 公共服务设施分布", banner=banner, **common))
        )
    for name, fig in figures:
        try:
            save_figure(fig, folder / name)
        finally:
            plt.close(fig)
