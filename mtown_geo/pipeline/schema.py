"""The study file: its keys (pydantic models), the template ``mtown-geo init`` writes, and loading.

:func:`load_study` checks everything that can be checked without reading data: the keys,
every number's range, and the keys only the profile can judge (circles, year, ``reported``
rows, siting categories), each error with its line in the file. :func:`load_profile` is the
profile a study names (a built-in name or a YAML file beside the study).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import geopandas as gpd
import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator

from .. import standards
from .._errors import (
    DataNotFoundError,
    InputError,
    ProfileError,
    StudyError,
)
from .._yaml import DuplicateKeyError, format_validation_error, load_with_lines
from .._yaml import where as _where
from ..sources.osm import OSMExtract, is_osm_file
from ..standards import MAX_YEAR, MIN_YEAR, Profile

log = logging.getLogger(__name__)


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


#: The study file's ``demand.weight`` words and the demand units' column each names (the
#: ``weight`` of :func:`mtown_geo.demand.weights`).
WEIGHT_COLUMNS: dict[str, str] = {"residential": "res_area_m2", "pop": "pop", "area": "area_m2"}


class DemandSpec(_Strict):
    cell_m: float = Field(default=50.0, ge=1, le=2000)
    weight: Literal["residential", "pop", "area"] = "residential"

    @property
    def column(self) -> str:
        """The demand units' column ``weight`` names (``res_area_m2``, ``pop`` or ``area_m2``)."""
        return WEIGHT_COLUMNS[self.weight]


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
        prof = load_profile(study)
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


def load_profile(st: Study) -> Profile:
    return standards.load(st.profile if st.profile in standards.available() else st.path(st.profile))
