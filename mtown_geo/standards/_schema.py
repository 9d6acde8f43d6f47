"""The schema of a standard profile (validated with pydantic; unknown keys are refused)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "AnnexRow",
    "CategorySpec",
    "CircleSpec",
    "GreenwaySpec",
    "ModeSpec",
    "NetworkFilter",
    "ParkRule",
    "ParkSizeClass",
    "ParkSpec",
    "Profile",
    "SpeedGroup",
    "TagRule",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


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
    speed_kmh: float = Field(gt=0)


class ModeSpec(_Sourced):
    """A travel mode: the network it uses and its speeds."""

    network: Literal["walk", "bike", "drive"]
    speed_kmh: float = Field(gt=0)
    speed_by_highway_kmh: dict[str, float] = {}
    use_maxspeed: bool = False
    maxspeed_factor: float = Field(default=1.0, gt=0, le=1.5)
    wait_min: float = Field(default=0.0, ge=0)
    groups: dict[str, SpeedGroup] = {}
    name_zh: str = ""


class TagRule(_Strict):
    """OSM tags that all must match (``"*"`` matches any value; a list matches any of its values)."""

    tags: dict[str, str | list[str]]
    fallback: bool = False

    @field_validator("tags")
    @classmethod
    def _not_empty(cls, v: dict[str, str | list[str]]) -> dict[str, str | list[str]]:
        if not v:
            raise ValueError("a tag rule needs at least one tag")
        return v

    def matches(self, tags: dict[str, str]) -> bool:
        """Whether a feature's tags satisfy every key of the rule."""
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
    """A facility category and how to recognise it in OSM, names and POI exports."""

    name_zh: str
    name_en: str
    osm: list[TagRule] = []
    name_patterns: list[str] = []
    exclude_name_patterns: list[str] = []
    amap_typecodes: list[str] = []
    baidu_types: list[str] = []
    min_area_m2: float | None = Field(default=None, ge=0)


class CircleSpec(_Sourced):
    """A life circle: a travel mode, a time threshold and the categories it must reach."""

    name_zh: str
    name_en: str
    mode: str
    time_min: float | None = Field(default=None, gt=0)
    dist_m: float | None = Field(default=None, gt=0)
    required: list[str] = Field(min_length=1)
    optional: list[str] = []
    category_time_min: dict[str, float] = {}
    category_dist_m: dict[str, float] = {}
    demand: Literal["residential", "builtup", "town", "villages"] = "residential"

    @model_validator(mode="after")
    def _threshold(self) -> CircleSpec:
        if (self.time_min is None) == (self.dist_m is None):
            raise ValueError("a circle needs exactly one of time_min or dist_m")
        return self


class ParkSizeClass(_Strict):
    min_area_m2: float = Field(ge=0)
    max_area_m2: float | None = None
    radius_m: float = Field(gt=0)
    label_zh: str = ""


class ParkRule(_Sourced):
    name_zh: str
    classes: list[ParkSizeClass] = Field(min_length=1)


class ParkSpec(_Strict):
    osm: list[TagRule]
    merge_touching: bool = True
    merge_tolerance_m: float = Field(default=1.0, ge=0)
    default_rule: str
    rules: dict[str, ParkRule]
    per_capita_min_m2: float = 8.0
    per_capita_source: str = "GB 55014-2021"

    @model_validator(mode="after")
    def _default_known(self) -> ParkSpec:
        if self.default_rule not in self.rules:
            raise ValueError(f"default_rule {self.default_rule!r} is not one of the rules {sorted(self.rules)}")
        return self


class GreenwaySpec(_Sourced):
    osm: list[TagRule] = []
    name_patterns: list[str] = []
    waterside_highway: list[str] = []
    waterside_dist_m: float = Field(default=30.0, ge=0)
    dedupe_tolerance_m: float = Field(default=15.0, ge=0)
    service_radius_m: float = Field(default=1000.0, gt=0)
    target_km_per_10k: float = 1.0
    scope: Literal["town", "builtup"] = "town"


class AnnexRow(_Sourced):
    """One row of the policy annex: its targets and whether the toolkit computes it."""

    row: int
    name_zh: str
    name_en: str
    unit: str
    targets: dict[int, float | None]
    computed: str | None = None


class Profile(_Strict):
    """A standard profile: every rule the indicators rest on, with its source."""

    name: str
    title: str
    description: str = ""
    access_speed_kmh: float = Field(default=4.0, gt=0)
    max_snap_dist_m: float = Field(default=300.0, gt=0)
    networks: dict[str, NetworkFilter]
    modes: dict[str, ModeSpec]
    categories: dict[str, CategorySpec]
    circles: dict[str, CircleSpec]
    parks: ParkSpec | None = None
    greenways: GreenwaySpec | None = None
    annex: list[AnnexRow] = []
    greenway_target: AnnexRow | None = None

    @model_validator(mode="after")
    def _references(self) -> Profile:
        for name, mode in self.modes.items():
            if mode.network not in self.networks:
                raise ValueError(f"modes.{name}.network: {mode.network!r} is not in networks")
        for name, circle in self.circles.items():
            if circle.mode not in self.modes:
                raise ValueError(f"circles.{name}.mode: {circle.mode!r} is not one of the modes {sorted(self.modes)}")
            for key in ("required", "optional"):
                for cat in getattr(circle, key):
                    if cat not in self.categories:
                        raise ValueError(f"circles.{name}.{key}: unknown category {cat!r}")
            for cat in list(circle.category_time_min) + list(circle.category_dist_m):
                if cat not in circle.required + circle.optional:
                    raise ValueError(f"circles.{name}: threshold given for {cat!r}, which the circle does not list")
        return self

    # -- convenience lookups ---------------------------------------------------------

    def mode(self, name: str) -> ModeSpec:
        """The spec of a travel mode, with an error naming the known modes."""
        try:
            return self.modes[name]
        except KeyError:
            raise KeyError(f"unknown mode {name!r}; the profile {self.name!r} has {sorted(self.modes)}") from None

    def speed_kmh(self, mode: str, group: str | None = None) -> float:
        """Travel speed of a mode (km/h), for a speed group when given (e.g. ``"elderly"``)."""
        spec = self.mode(mode)
        if group is None or group == "adult":
            return spec.speed_kmh
        try:
            return spec.groups[group].speed_kmh
        except KeyError:
            raise KeyError(f"mode {mode!r} has no speed group {group!r}; it has {sorted(spec.groups) or 'none'}") from None

    def threshold_min(self, circle: str, category: str | None = None) -> float:
        """Time threshold (minutes) of a circle, for one category when it has its own.

        Circles given by distance (``dist_m``) are turned into minutes at the circle
        mode's speed, so a 300 m band at 4 km/h is 4.5 minutes.
        """
        if circle not in self.circles:
            raise KeyError(f"unknown circle {circle!r}; the profile {self.name!r} has {sorted(self.circles)}")
        return _profile_threshold_min(self, circle, category)

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
        if self.greenways is not None and not self.greenways.verified:
            out.append(("greenways", self.greenways.source))
        return out


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
