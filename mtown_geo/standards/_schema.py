"""The schema of a standard profile (validated with pydantic; unknown keys are refused).

Every number is checked when the profile is loaded: it must be finite (``.inf`` and
``.nan`` are refused) and lie in the range given here, so a typo (a negative speed, a
target of 500 %) is an error naming the key and its line instead of a wrong result.
The ranges are generous bounds of what a planning rule can mean, not advice.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Iterable, Mapping
from typing import Annotated, ClassVar, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .._errors import InputError, UnknownNameError
from .._yaml import LocatedError

__all__ = [
    "AnnexRow",
    "CategorySpec",
    "ChargerRules",
    "CircleSpec",
    "CountyList",
    "FacilityRules",
    "GreenClass",
    "GreenSpaceRules",
    "GreenwaySpec",
    "ModeSpec",
    "NeighbourhoodRules",
    "NetworkFilter",
    "ParkRule",
    "ParkSizeClass",
    "ParkSpec",
    "Profile",
    "RoadTest",
    "SpeedGroup",
    "StreetRules",
    "TagRule",
    "TaskIndicator",
    "TaskTarget",
    "TasksRules",
    "TransitRules",
    "VillageRoadRules",
    "category_key",
]


# -- ranges ----------------------------------------------------------------------------------

#: Fastest speed (km/h) a mode may have on each kind of network: a brisk run on foot, a fast
#: e-bike (GB 17761-2018 caps e-bikes at 25 km/h; speed pedelecs reach 45), and China's
#: motorway limit plus a margin. The slowest speed of any mode is :data:`MIN_SPEED_KMH`.
MAX_SPEED_KMH: dict[str, float] = {"walk": 10.0, "bike": 45.0, "drive": 130.0}
#: Slowest speed (km/h) of any mode, speed group or road class.
_T = TypeVar("_T")

MIN_SPEED_KMH = 1.0
#: Longest time threshold of a circle (minutes).
MAX_THRESHOLD_MIN = 120.0
#: Longest distance threshold of a circle (metres).
MAX_THRESHOLD_M = 30_000.0
#: Years an annex target may be given for.
MIN_YEAR, MAX_YEAR = 2000, 2100

SpeedKmh = Annotated[float, Field(ge=MIN_SPEED_KMH, le=max(MAX_SPEED_KMH.values()))]
ThresholdMin = Annotated[float, Field(gt=0, le=MAX_THRESHOLD_MIN)]
ThresholdM = Annotated[float, Field(gt=0, le=MAX_THRESHOLD_M)]
TargetYear = Annotated[int, Field(ge=MIN_YEAR, le=MAX_YEAR)]


class _Strict(BaseModel):
    # allow_inf_nan=False: YAML reads `.inf` and `.nan` as numbers; no rule may use them
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class _Sourced(_Strict):
    """A rule that states where it comes from and whether that source was verified."""

    source: str = Field(min_length=1)
    verified: bool
    note: str | None = None


class NetworkFilter(_Strict):
    """Which OSM ways make up the network of a travel mode (osmnx-style exclusions)."""

    exclude_highway: list[str] = []
    exclude_tags: dict[str, list[str]] = {}
    include_tags: dict[str, list[str]] = {}
    oneway: bool = False
    source: str = "osmnx network_type filters"


class SpeedGroup(_Sourced):
    """The speed of a group of people (e.g. ``elderly``) using a mode."""

    speed_kmh: SpeedKmh


class ModeSpec(_Sourced):
    """A travel mode: the network it uses and its speeds (km/h, at most :data:`MAX_SPEED_KMH` of its network)."""

    network: Literal["walk", "bike", "drive"]
    speed_kmh: SpeedKmh
    speed_by_highway_kmh: dict[str, SpeedKmh] = {}
    use_maxspeed: bool = False
    maxspeed_factor: float = Field(default=1.0, ge=0.1, le=1.5)
    wait_min: float = Field(default=0.0, ge=0, le=60)
    groups: dict[str, SpeedGroup] = {}
    name_zh: str = ""

    @model_validator(mode="after")
    def _speeds_fit_the_network(self) -> ModeSpec:
        top = MAX_SPEED_KMH[self.network]
        speeds: list[tuple[tuple[str, ...], float]] = [(("speed_kmh",), self.speed_kmh)]
        speeds += [(("groups", g, "speed_kmh"), spec.speed_kmh) for g, spec in self.groups.items()]
        speeds += [(("speed_by_highway_kmh", c), v) for c, v in self.speed_by_highway_kmh.items()]
        for loc, value in speeds:
            if value > top:
                raise LocatedError(
                    loc,
                    f"{value:g} km/h is too fast for the {self.network} network (at most {top:g} km/h); speeds are in km/h",
                )
        return self


class TagRule(_Strict):
    """OSM tags that all must match (``"*"`` matches any value; a list matches any of its values).

    ``absent`` names keys the feature must *not* have (e.g. a school counts as a primary school
    by fallback only when no ``isced:level`` says its level).
    """

    tags: dict[str, str | list[str]]
    absent: list[str] = []
    fallback: bool = False

    @field_validator("tags")
    @classmethod
    def _not_empty(cls, v: dict[str, str | list[str]]) -> dict[str, str | list[str]]:
        if not v:
            raise ValueError("a tag rule needs at least one tag")
        return v

    def matches(self, tags: dict[str, str]) -> bool:
        """Whether a feature's tags satisfy every key of the rule (and carry none of ``absent``)."""
        if any(tags.get(key) is not None for key in self.absent):
            return False
        for key, want in self.tags.items():
            have = tags.get(key)
            if have is None:
                return False
            if want == "*":
                continue
            if isinstance(want, list):
                if have not in want:
                    return False
            elif have != want:
                return False
        return True


class CategorySpec(_Sourced):
    """A facility category and how to recognise it in OSM, names and POI exports.

    ``aliases`` are the other names a planner may write for the category in a category
    column (Chinese names such as 托育 or 卫生院, abbreviations); together with the id,
    ``name_en`` and the parts of ``name_zh`` they are the names
    :meth:`Profile.resolve_category` accepts.
    """

    name_zh: str
    name_en: str
    aliases: list[str] = []
    osm: list[TagRule] = []
    name_patterns: list[str] = []
    exclude_name_patterns: list[str] = []
    amap_typecodes: list[str] = []
    baidu_types: list[str] = []
    min_area_m2: float | None = Field(default=None, ge=0, le=10_000_000)
    public: bool = False

    def names(self, key: str) -> list[str]:
        """Every name the category goes by: its id, English name, Chinese name and its parts, aliases."""
        out = [key, self.name_en]
        full = self.name_zh.strip()
        plain = re.sub(r"\s*[(（].*?[)）]\s*", "", full).strip()
        out += [full, plain, *(part.strip() for part in re.split(r"[/／]", plain))]
        out += self.aliases
        return [n for n in out if n and n.strip()]


def category_key(name: str) -> str:
    """A category name as names are compared: NFKC, lower case, runs of spaces, ``_`` and ``-`` as one space."""
    text = unicodedata.normalize("NFKC", str(name))
    return re.sub(r"[\s_\-]+", " ", text).strip().lower()


def _rules(*rules: dict[str, str | list[str]]) -> list[TagRule]:
    return [TagRule(tags=r) for r in rules]


class FacilityRules(_Sourced):
    """How OSM features become facilities, beyond each category's own rules.

    * ``name_keys``: a feature is recognised by its *name* only when it carries one of these
      keys (or nothing but names) — a shop, a stop or a gate named after a school is not a
      school;
    * ``never_by_name``: features never recognised by their name, whatever their keys: transport
      stops, named after what they serve (a bus stop 清华附中, a subway station 国家图书馆),
      and shops, restaurants and car parks, named after brands or what they sit beside. Their
      own tag rules still apply (a bus stop counts as a bus stop);
    * ``closed_access`` and ``closed_grounds``: in the categories marked ``public``, a feature
      tagged ``access`` with one of these values, or lying inside grounds matching one of these
      rules (a university campus), is not a public facility and is left out;
    * ``merge_inside``: one facility mapped twice — a point or a smaller outline inside an
      outline of the same category — counts once: ``same_name`` when both carry the same name,
      ``off`` never.
    """

    source: str = Field(default="mtown_geo's built-in facility rules", min_length=1)
    verified: bool = False
    name_keys: list[str] = [
        "amenity",
        "leisure",
        "healthcare",
        "social_facility",
        "office",
        "building",
        "landuse",
        "club",
        "tourism",
    ]
    never_by_name: list[TagRule] = Field(
        default_factory=lambda: _rules(
            {"highway": ["bus_stop", "platform"]},
            {"public_transport": "*"},
            {"railway": ["station", "halt", "tram_stop", "subway_entrance", "platform", "stop"]},
            {"amenity": ["bus_station", "ferry_terminal", "taxi", "parking", "parking_entrance", "bicycle_parking"]},
            {"amenity": ["restaurant", "fast_food", "cafe", "food_court", "bar", "pub"]},
            {"shop": "*"},
        )
    )
    closed_access: list[str] = ["private", "no"]
    closed_grounds: list[TagRule] = Field(default_factory=lambda: _rules({"amenity": ["university", "college"]}))
    merge_inside: Literal["same_name", "off"] = "same_name"


class CircleSpec(_Sourced):
    """A life circle: a travel mode, a time threshold and the categories it must reach."""

    name_zh: str
    name_en: str
    mode: str
    time_min: ThresholdMin | None = None
    dist_m: ThresholdM | None = None
    required: list[str] = Field(min_length=1)
    optional: list[str] = []
    category_time_min: dict[str, ThresholdMin] = {}
    category_dist_m: dict[str, ThresholdM] = {}
    demand: Literal["residential", "builtup", "town", "villages"] = "residential"

    @model_validator(mode="after")
    def _threshold(self) -> CircleSpec:
        if (self.time_min is None) == (self.dist_m is None):
            raise ValueError("a circle needs exactly one of time_min or dist_m")
        return self


class ParkSizeClass(_Strict):
    """Parks of ``min_area_m2`` up to ``max_area_m2`` serve a radius of ``radius_m``."""

    min_area_m2: float = Field(ge=0, le=100_000_000)
    max_area_m2: float | None = Field(default=None, gt=0, le=100_000_000)
    radius_m: float = Field(gt=0, le=5000)
    label_zh: str = ""

    @model_validator(mode="after")
    def _sizes_in_order(self) -> ParkSizeClass:
        if self.max_area_m2 is not None and self.max_area_m2 <= self.min_area_m2:
            raise LocatedError(
                ("max_area_m2",),
                f"{self.max_area_m2:g} m² is not above min_area_m2 ({self.min_area_m2:g} m²); omit it for no upper bound",
            )
        return self


class ParkRule(_Sourced):
    name_zh: str
    classes: list[ParkSizeClass] = Field(min_length=1)


class ParkSpec(_Strict):
    osm: list[TagRule]
    merge_touching: bool = True
    merge_tolerance_m: float = Field(default=1.0, ge=0, le=50)
    default_rule: str
    rules: dict[str, ParkRule]
    per_capita_min_m2: float = Field(default=8.0, gt=0, le=100)
    per_capita_source: str = "GB 55014-2021"

    @model_validator(mode="after")
    def _default_known(self) -> ParkSpec:
        if self.default_rule not in self.rules:
            raise LocatedError(("default_rule",), f"{self.default_rule!r} is not one of the rules {sorted(self.rules)}")
        return self


class GreenwaySpec(_Sourced):
    osm: list[TagRule] = []
    name_patterns: list[str] = []
    waterside_highway: list[str] = []
    waterside_dist_m: float = Field(default=30.0, ge=0, le=500)
    dedupe_tolerance_m: float = Field(default=15.0, ge=0, le=100)
    service_radius_m: float = Field(default=1000.0, gt=0, le=10_000)
    target_km_per_10k: float = Field(default=1.0, gt=0, le=100)
    scope: Literal["town", "builtup"] = "town"


class AnnexRow(_Sourced):
    """One row of the policy annex: its targets and whether the toolkit computes it."""

    row: int = Field(ge=0, le=999)
    name_zh: str
    name_en: str
    unit: str
    targets: dict[TargetYear, Annotated[float, Field(ge=0)] | None]
    computed: str | None = None

    @property
    def is_percent(self) -> bool:
        """Whether the row is a rate in percent (its values and targets lie in 0–100)."""
        return self.unit.strip() in ("%", "％")

    @model_validator(mode="after")
    def _percent_targets(self) -> AnnexRow:
        if self.is_percent:
            for year, value in self.targets.items():
                if value is not None and value > 100:
                    raise LocatedError(
                        ("targets", year),
                        f"a target of {value:g} % is above 100 %; targets of a % row are percentages (0–100)",
                    )
        return self


# -- the policy's other spatial tasks (主要任务) ---------------------------------------------


class TaskTarget(_Sourced):
    """A target or a reference value of a policy-task indicator, with its source."""

    value: float = Field(ge=0, le=1_000_000)
    op: Literal[">=", ">", "<=", "<"] = ">="
    label: str = ""

    def met(self, value: float) -> bool:
        """Whether a value meets the target (by ``op``)."""
        return {
            ">=": value >= self.value - 1e-9,
            ">": value > self.value,
            "<=": value <= self.value + 1e-9,
            "<": value < self.value,
        }[self.op]

    def text(self) -> str:
        """``≥ 90 % (label; source) [verified|unverified]``-style wording for reports."""
        sign = {">=": "≥", ">": ">", "<=": "≤", "<": "<"}[self.op]
        what = f"{self.label}; " if self.label else ""
        return f"{sign} {self.value:g} ({what}{' '.join(self.source.split())}; {'verified' if self.verified else 'unverified'})"


class TaskIndicator(_Sourced):
    """One indicator of a policy task: its names, unit, the definition's source and its target.

    ``target`` decides pass/fail; ``references`` are shown beside the value only. The shipped
    profile sets a ``target`` only where its source was verified.
    """

    name_zh: str
    name_en: str
    unit: str
    target: TaskTarget | None = None
    references: list[TaskTarget] = []


class _TaskRules(_Sourced):
    """A policy task's rules: every one names its source; ``indicators`` are the report rows."""

    indicators: dict[str, TaskIndicator]

    #: The indicator keys the toolkit computes for the task (set by each subclass).
    KEYS: ClassVar[tuple[str, ...]] = ()

    @model_validator(mode="after")
    def _known_indicators(self) -> _TaskRules:
        missing = [k for k in self.KEYS if k not in self.indicators]
        unknown = [k for k in self.indicators if k not in self.KEYS]
        if missing or unknown:
            raise ValueError(
                f"indicators: the task computes {list(self.KEYS)}; "
                + (f"missing {missing}" if missing else "")
                + ("; " if missing and unknown else "")
                + (f"unknown {unknown}" if unknown else "")
            )
        return self


class StreetRules(_TaskRules):
    """Task 1 小街区密路网: which roads count, how dual carriageways, junctions and blocks are treated."""

    highway: list[str] = Field(min_length=1)
    exclude_tags: dict[str, list[str]] = {}
    internal_highway: list[str] = []
    internal_exclude_tags: dict[str, list[str]] = {}
    dual_carriageway_gap_m: float = Field(default=40.0, gt=0, le=200)
    dual_carriageway_angle_deg: float = Field(default=30.0, gt=0, lt=90)
    junction_merge_m: float = Field(default=15.0, ge=0, le=100)
    block_max_side_m: float = Field(default=300.0, gt=0, le=5000)
    min_block_area_m2: float = Field(default=1000.0, ge=0, le=100_000)
    min_block_width_m: float = Field(default=20.0, ge=0, le=500)
    KEYS: ClassVar[tuple[str, ...]] = (
        "street_density",
        "street_density_internal",
        "street_density_town",
        "intersection_density",
        "block_share",
        "block_median_side",
    )


class RoadTest(_Sourced):
    """What makes a road segment qualify (two-lane, or grade 3): lanes, width, surface, class."""

    min_lanes: int = Field(default=2, ge=1, le=8)
    min_width_m: float = Field(default=6.0, gt=0, le=50)
    max_grade_cn: int = Field(default=4, ge=0, le=5)
    paved_surfaces: list[str] = []
    unpaved_surfaces: list[str] = []
    assume_highway: list[str] = []
    unknown_in_mountains: list[str] = []
    never_highway: list[str] = []
    assume_paved_highway: list[str] = []


class CountyList(_Sourced):
    names: list[str] = []


class VillageRoadRules(_TaskRules):
    """Task 2 行政村通双车道公路 / 山区县城镇通三级公路."""

    two_lane: RoadTest
    grade3: RoadTest
    village_end_m: float = Field(default=300.0, ge=0, le=5000)
    seat_end_m: float = Field(default=500.0, ge=0, le=5000)
    weak_dist_m: float = Field(default=200.0, ge=0, le=5000)
    seat_name_patterns: list[str] = []
    committee_name_patterns: list[str] = []
    trunk_ref_classes: list[str] = ["G", "S"]
    mountain_counties: CountyList
    KEYS: ClassVar[tuple[str, ...]] = ("village_two_lane", "village_two_lane_weak", "town_grade3")


class TransitRules(_TaskRules):
    """Task 2 城乡公交一体化: which features are bus stops, merging, radii."""

    osm: list[TagRule] = Field(min_length=1)
    merge_dist_m: float = Field(default=40.0, ge=0, le=500)
    radius_m: float = Field(default=500.0, gt=0, le=10_000)
    radius_small_m: float = Field(default=300.0, gt=0, le=10_000)
    village_dist_m: float = Field(default=2000.0, gt=0, le=50_000)
    village_near_m: float = Field(default=500.0, gt=0, le=50_000)
    KEYS: ClassVar[tuple[str, ...]] = (
        "bus_500m",
        "bus_300m",
        "bus_500m_network",
        "village_bus_2km",
        "village_bus_500m",
        "bus_stops_served",
    )


class GreenClass(_Sourced):
    name_zh: str
    osm: list[TagRule] = Field(min_length=1)


class GreenSpaceRules(_TaskRules):
    """Task 3 园林城镇: green-land classes (counted once, in order) and land-cover classes."""

    classes: dict[str, GreenClass] = Field(min_length=1)
    exclude: list[TagRule] = []
    landcover_classes: dict[Annotated[int, Field(ge=0, le=65535)], str] = {}
    landcover_source: str = ""
    KEYS: ClassVar[tuple[str, ...]] = ("green_land_ratio", "park_per_capita", "green_cover_ratio")


class ChargerRules(_TaskRules):
    """Task 3 新能源充电桩: which charging stations are for cars and public; radii and times."""

    exclude: list[TagRule] = []
    car: list[TagRule] = []
    exclude_name_patterns: list[str] = []
    private: list[TagRule] = []
    merge_dist_m: float = Field(default=30.0, ge=0, le=500)
    radius_m: float = Field(default=900.0, gt=0, le=50_000)
    drive_min: ThresholdMin = 5.0
    village_drive_min: ThresholdMin = 30.0
    KEYS: ClassVar[tuple[str, ...]] = ("charger_radius", "charger_drive", "village_charger", "town_charger")


class NeighbourhoodRules(_TaskRules):
    """Task 5 邻里中心全覆盖: walking times and the per-community distance."""

    walk_min: ThresholdMin = 5.0
    walk_long_min: ThresholdMin = 15.0
    zone_dist_m: float = Field(default=500.0, ge=0, le=10_000)
    KEYS: ClassVar[tuple[str, ...]] = ("centre_5min", "centre_15min", "centre_zones")


class TasksRules(_Strict):
    """The policy's other spatial tasks (浙政办发〔2023〕49号 tasks 1, 2, 3, 5); each may be left out."""

    streets: StreetRules | None = None
    village_roads: VillageRoadRules | None = None
    transit: TransitRules | None = None
    greenspace: GreenSpaceRules | None = None
    chargers: ChargerRules | None = None
    neighbourhood: NeighbourhoodRules | None = None

    def assumptions(self) -> list[tuple[str, str]]:
        """Every rule of the tasks marked ``verified: false``, as (key path, source) pairs."""
        out: list[tuple[str, str]] = []
        for name in type(self).model_fields:
            spec = getattr(self, name)
            if spec is None:
                continue
            if not spec.verified:
                out.append((f"tasks.{name}", spec.source))
            for key, ind in spec.indicators.items():
                if not ind.verified:
                    out.append((f"tasks.{name}.indicators.{key}", ind.source))
                if ind.target is not None and not ind.target.verified:
                    out.append((f"tasks.{name}.indicators.{key}.target", ind.target.source))
            for sub in ("two_lane", "grade3", "mountain_counties"):
                rule = getattr(spec, sub, None)
                if rule is not None and not rule.verified:
                    out.append((f"tasks.{name}.{sub}", rule.source))
            for key, cls in (getattr(spec, "classes", None) or {}).items():
                if not cls.verified:
                    out.append((f"tasks.{name}.classes.{key}", cls.source))
        return out


class Profile(_Strict):
    """A standard profile: every rule the indicators rest on, with its source."""

    name: str
    title: str
    description: str = ""
    access_speed_kmh: float = Field(default=4.0, ge=MIN_SPEED_KMH, le=MAX_SPEED_KMH["walk"])
    max_snap_dist_m: float = Field(default=300.0, gt=0, le=2000)
    networks: dict[str, NetworkFilter]
    modes: dict[str, ModeSpec]
    categories: dict[str, CategorySpec]
    circles: dict[str, CircleSpec]
    facility_rules: FacilityRules = Field(default_factory=FacilityRules)
    parks: ParkSpec | None = None
    greenways: GreenwaySpec | None = None
    annex: list[AnnexRow] = []
    greenway_target: AnnexRow | None = None
    tasks: TasksRules | None = None

    @model_validator(mode="after")
    def _references(self) -> Profile:
        for name, mode in self.modes.items():
            if mode.network not in self.networks:
                raise LocatedError(("modes", name, "network"), f"{mode.network!r} is not in networks {sorted(self.networks)}")
        for name, circle in self.circles.items():
            if circle.mode not in self.modes:
                raise LocatedError(("circles", name, "mode"), f"{circle.mode!r} is not one of the modes {sorted(self.modes)}")
            for key in ("required", "optional"):
                for i, cat in enumerate(getattr(circle, key)):
                    if cat not in self.categories:
                        raise LocatedError(("circles", name, key, i), f"unknown category {cat!r}{_closest(cat, self.categories)}")
            for key in ("category_time_min", "category_dist_m"):
                for cat in getattr(circle, key):
                    if cat not in circle.required + circle.optional:
                        raise LocatedError(
                            ("circles", name, key, cat), f"threshold given for {cat!r}, which the circle does not list"
                        )
            self._check_wait(name)
        self._check_annex()
        return self

    def _check_wait(self, circle: str) -> None:
        """A mode's wait (bus) must leave time to travel within each threshold of the circle."""
        spec = self.circles[circle]
        wait = self.modes[spec.mode].wait_min
        if wait <= 0:
            return
        for cat in [None, *spec.required, *spec.optional]:
            limit = _profile_threshold_min(self, circle, cat)
            if limit <= wait:
                if cat in spec.category_time_min:
                    loc: tuple[str, ...] = ("circles", circle, "category_time_min", cat)
                elif cat in spec.category_dist_m:
                    loc = ("circles", circle, "category_dist_m", cat)
                else:
                    loc = ("circles", circle, "time_min" if spec.time_min is not None else "dist_m")
                raise LocatedError(
                    loc,
                    f"the threshold of {limit:g} min{'' if cat is None else f' for {cat!r}'} is not longer than the "
                    f"{wait:g}-minute wait of the mode {spec.mode!r}: nothing could ever be reached",
                )

    def _check_annex(self) -> None:
        """Annex rows are numbered once each, and what they say they compute exists."""
        seen: dict[int, int] = {}
        for i, row in enumerate(self.annex):
            if row.row < 1:
                raise LocatedError(("annex", i, "row"), f"annex rows are numbered from 1, got {row.row}")
            if row.row in seen:
                raise LocatedError(("annex", i, "row"), f"row {row.row} is given twice (entries {seen[row.row] + 1} and {i + 1})")
            seen[row.row] = i
            problem = self.computed_problem(row.computed)
            if problem:
                raise LocatedError(("annex", i, "computed"), problem)
        if self.greenway_target is not None and self.greenway_target.computed not in (None, "greenway_per_10k"):
            raise LocatedError(
                ("greenway_target", "computed"),
                f"{self.greenway_target.computed!r}: the greenway target is computed as 'greenway_per_10k'",
            )

    def computed_problem(self, key: str | None) -> str:
        """Why an annex row's ``computed`` key names nothing the toolkit computes ('' when it is fine).

        Known keys: ``park_coverage``, ``greenway_per_10k``, ``circle:<circle>`` and
        ``category:<circle>:<category>``.
        """
        if key is None or key in ("park_coverage", "greenway_per_10k"):
            return ""
        parts = key.split(":")
        if parts[0] == "circle" and len(parts) == 2:
            if parts[1] not in self.circles:
                return f"{key!r}: {parts[1]!r} is not one of the circles {sorted(self.circles)}"
            return ""
        if parts[0] == "category" and len(parts) == 3:
            if parts[1] not in self.circles:
                return f"{key!r}: {parts[1]!r} is not one of the circles {sorted(self.circles)}"
            if parts[2] not in self.categories:
                return f"{key!r}: unknown category {parts[2]!r}{_closest(parts[2], self.categories)}"
            return ""
        return (
            f"{key!r} is not something the toolkit computes: use park_coverage, greenway_per_10k, "
            "circle:<circle> or category:<circle>:<category>"
        )

    @model_validator(mode="after")
    def _unique_category_names(self) -> Profile:
        seen: dict[str, str] = {}
        for key, spec in self.categories.items():
            for name in spec.names(key):
                norm = category_key(name)
                other = seen.setdefault(norm, key)
                if other != key:
                    raise LocatedError(
                        ("categories", key),
                        f"the name {name!r} also names the category {other!r}; a name (id, name_zh part, name_en "
                        "or alias) may stand for one category only",
                    )
        return self

    # -- convenience lookups ---------------------------------------------------------

    def category_index(self) -> dict[str, str]:
        """Every accepted category name (compared by :func:`category_key`) → category id.

        The names are each category's id, ``name_en``, ``name_zh`` (whole, without its
        bracketed part, and each part of it split at ``/``) and ``aliases``.
        """
        index: dict[str, str] = {}
        for key, spec in self.categories.items():
            for name in spec.names(key):
                index.setdefault(category_key(name), key)
        return index

    def match_category(self, name: str) -> str | None:
        """The category id a name stands for (see :meth:`resolve_category`), or None."""
        if not isinstance(name, str) or not name.strip():
            return None
        return self.category_index().get(category_key(name))

    def similar_categories(self, name: str, *, n: int = 3) -> list[str]:
        """The accepted names closest to ``name`` (difflib ratio), one per category, best first.

        Each is given as ``"name (id)"`` (or the id alone); only names scoring at least
        0.5 and within 0.1 of the best are offered.
        """
        key = category_key(name)
        best: dict[str, tuple[float, str]] = {}
        for cat, spec in self.categories.items():
            for nm in spec.names(cat):
                ratio = difflib.SequenceMatcher(None, key, category_key(nm)).ratio()
                if ratio > best.get(cat, (0.0, ""))[0]:
                    best[cat] = (ratio, nm)
        ranked = sorted(((r, nm, cat) for cat, (r, nm) in best.items()), key=lambda t: -t[0])
        if not ranked or ranked[0][0] < 0.5:
            return []
        top = ranked[0][0]
        return [nm if nm == cat else f"{nm} ({cat})" for r, nm, cat in ranked[:n] if r >= max(0.5, top - 0.1)]

    def resolve_category(self, name: str) -> str:
        """The category id a planner's name stands for.

        Accepted, whatever the case and spacing: the id (``kindergarten``), the English
        name (``Kindergarten``, ``primary school``), the Chinese name or any part of it
        (幼儿园, 卫生院 for ``卫生服务站/卫生院``) and the category's ``aliases`` (托育,
        诊所...).

        Raises
        ------
        InputError
            An unknown name; the message names the closest accepted names.

        Examples
        --------
        >>> from mtown_geo import standards
        >>> p = standards.load("zhejiang-2023")
        >>> p.resolve_category("托育"), p.resolve_category("Kindergarten")
        ('childcare', 'kindergarten')
        """
        found = self.match_category(name)
        if found is not None:
            return found
        close = self.similar_categories(str(name))
        hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise InputError(
            f"unknown facility category {str(name)!r} for the profile {self.name!r}.{hint} Accepted: the ids "
            f"({', '.join(self.categories)}), their English and Chinese names and the aliases listed in the "
            "profile (docs/profiles.md)"
        )

    def mode(self, name: str) -> ModeSpec:
        """The spec of a travel mode.

        Raises
        ------
        UnknownNameError
            A mode the profile does not have; the message names the known modes and the closest.
        """
        return _lookup(self.modes, name, what="mode", profile=self.name)

    def circle(self, name: str) -> CircleSpec:
        """The spec of a life circle (``"5min"``, ``"15min"``...).

        Raises
        ------
        UnknownNameError
            A circle the profile does not have; the message names the known circles and the closest.
        """
        return _lookup(self.circles, name, what="circle", profile=self.name)

    def category(self, name: str) -> CategorySpec:
        """The spec of a facility category by its id (``"kindergarten"``).

        A planner's name for a category (幼儿园, ``Kindergarten``, an alias) is turned into
        its id by :meth:`resolve_category`; given here, it is refused with that id as hint.

        Raises
        ------
        UnknownNameError
            A category id the profile does not have; the message names the closest id.
        """
        if isinstance(name, str) and name in self.categories:
            return self.categories[name]
        found = self.match_category(name) if isinstance(name, str) else None
        hint = f"; did you mean {found!r}?" if found is not None else _closest(str(name), self.categories)
        raise UnknownNameError(f"unknown category {name!r}: the profile {self.name!r} has {sorted(self.categories)}{hint}")

    def speed_kmh(self, mode: str, group: str | None = None) -> float:
        """Travel speed of a mode (km/h), for a speed group when given (e.g. ``"elderly"``).

        Raises
        ------
        UnknownNameError
            An unknown mode, or a speed group the mode does not have.
        """
        spec = self.mode(mode)
        if group is None or group == "adult":
            return spec.speed_kmh
        if group not in spec.groups:
            raise UnknownNameError(
                f"mode {mode!r} has no speed group {group!r}: it has {sorted(spec.groups) or 'none'} "
                f"(and 'adult', the mode's own speed){_closest(str(group), spec.groups)}"
            )
        return spec.groups[group].speed_kmh

    def threshold_min(self, circle: str, category: str | None = None) -> float:
        """Time threshold (minutes) of a circle, for one category when it has its own.

        Circles given by distance (``dist_m``) are turned into minutes at the circle
        mode's speed, so a 300 m band at 4 km/h is 4.5 minutes.

        Raises
        ------
        UnknownNameError
            An unknown circle or category id.
        """
        self.circle(circle)
        if category is not None:
            self.category(category)
        return _profile_threshold_min(self, circle, category)

    def reach_m(self, circle: str, category: str | None = None) -> float:
        """How far (metres) a circle reaches, for one category when it has its own threshold.

        The threshold (minutes, less the mode's ``wait_min``) times the mode's speed:
        15 minutes at 4 km/h is 1000 m. What a demand grid must resolve is a fraction of
        the shortest reach (see :func:`mtown_geo.demand.grid`).

        Raises
        ------
        UnknownNameError
            An unknown circle or category id.
        """
        minutes = self.threshold_min(circle, category)
        mode = self.mode(self.circle(circle).mode)
        return max(minutes - mode.wait_min, 0.0) * mode.speed_kmh * 1000.0 / 60.0

    def assumptions(self) -> list[tuple[str, str]]:
        """Every rule the profile marks ``verified: false``, as (key path, source) pairs."""
        out: list[tuple[str, str]] = []
        for section in ("modes", "categories", "circles"):
            for key, spec in getattr(self, section).items():
                if not spec.verified:
                    out.append((f"{section}.{key}", spec.source))
        if self.parks is not None:
            for key, rule in self.parks.rules.items():
                if not rule.verified:
                    out.append((f"parks.rules.{key}", rule.source))
        if not self.facility_rules.verified:
            out.append(("facility_rules", self.facility_rules.source))
        if self.greenways is not None and not self.greenways.verified:
            out.append(("greenways", self.greenways.source))
        if self.tasks is not None:
            out.extend(self.tasks.assumptions())
        return out


def _closest(name: str, known: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the nearest known name, or ``""``."""
    near = difflib.get_close_matches(name, [str(k) for k in known], n=1)
    return f"; did you mean {near[0]!r}?" if near else ""


def _lookup(table: Mapping[str, _T], name: str, *, what: str, profile: str) -> _T:
    """``table[name]``, or an :class:`UnknownNameError` naming the known names and the closest."""
    if isinstance(name, str) and name in table:
        return table[name]
    raise UnknownNameError(f"unknown {what} {name!r}: the profile {profile!r} has {sorted(table)}{_closest(str(name), table)}")


def _profile_threshold_min(profile: Profile, circle: str, category: str | None = None) -> float:
    spec = profile.circles[circle]
    if category is not None and category in spec.category_time_min:
        return spec.category_time_min[category]
    if category is not None and category in spec.category_dist_m:
        return spec.category_dist_m[category] / (profile.modes[spec.mode].speed_kmh * 1000.0 / 60.0)
    if spec.time_min is not None:
        return spec.time_min
    assert spec.dist_m is not None  # guaranteed by the validator
    return spec.dist_m / (profile.modes[spec.mode].speed_kmh * 1000.0 / 60.0)
