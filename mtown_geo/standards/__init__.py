"""Standard profiles: the rules every indicator rests on, as validated YAML data.

A profile fixes the travel modes and speeds, the OSM-tag → category map, the life
circles (mode, threshold, required categories), the park and greenway rules and the
policy annex's targets. Each rule carries its ``source`` and whether it was
``verified``. Shipped profiles: ``zhejiang-2023`` (default) and ``gb50180-2018``.

Examples
--------
>>> from mtown_geo import standards
>>> p = standards.load("zhejiang-2023")
>>> p.threshold_min("15min")
15.0
>>> round(standards.load("gb50180-2018").threshold_min("5min"), 2)  # 300 m at 4 km/h
4.5
"""

from __future__ import annotations

import copy
import functools
import threading
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import ValidationError

from .._errors import DataNotFoundError, ProfileError
from .._yaml import DuplicateKeyError, format_validation_error, load_with_lines
from ._schema import (
    MAX_SPEED_KMH,
    MAX_THRESHOLD_M,
    MAX_THRESHOLD_MIN,
    MAX_YEAR,
    MIN_SPEED_KMH,
    MIN_YEAR,
    AnnexRow,
    CategorySpec,
    ChargerRules,
    CircleSpec,
    CountyList,
    FacilityRules,
    GreenClass,
    GreenSpaceRules,
    GreenwaySpec,
    ModeSpec,
    NeighbourhoodRules,
    NetworkFilter,
    ParkRule,
    ParkSizeClass,
    ParkSpec,
    Profile,
    RoadTest,
    SpeedGroup,
    StreetRules,
    TagRule,
    TaskIndicator,
    TasksRules,
    TaskTarget,
    TransitRules,
    VillageRoadRules,
    category_key,
)

__all__ = [
    "DEFAULT_PROFILE",
    "MAX_SPEED_KMH",
    "MAX_THRESHOLD_M",
    "MAX_THRESHOLD_MIN",
    "MAX_YEAR",
    "MIN_SPEED_KMH",
    "MIN_YEAR",
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
    "available",
    "category_key",
    "load",
    "resolve",
]

#: Name of the profile used when none is given.
DEFAULT_PROFILE = "zhejiang-2023"


def available() -> list[str]:
    """Names of the profiles shipped with the package."""
    folder = resources.files(__package__)
    return sorted(p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml"))


_Lines = dict[tuple[Any, ...], int]


def _resolve_extends(parent: Any, *, label: str, lines: _Lines, folder: Path | None) -> str | Path:
    """What ``extends:`` names: a shipped profile, or a file relative to the extending file's folder."""
    line = lines.get(("extends",))
    at = f"{label}:{line}: " if line else f"{label}: "
    if not isinstance(parent, str) or not parent.strip():
        raise ProfileError(f"{at}extends: give a shipped profile ({', '.join(available())}) or the path of a .yaml file")
    if parent in available():
        return parent
    path = Path(parent).expanduser()
    if not path.is_absolute():
        path = (folder if folder is not None else Path.cwd()) / path
    if not path.is_file():
        base = "the extending file's folder" if folder is not None else "the current folder"
        raise DataNotFoundError(
            f"{at}extends: {parent!r} is not a shipped profile ({', '.join(available())}) and {path} does not exist "
            f"(a relative path is taken from {base})"
        )
    return path.resolve()


def _read_raw(
    name_or_path: str | Path, *, _seen: tuple[str, ...] = ()
) -> tuple[dict[str, Any], _Lines, str, dict[str, tuple[str, _Lines]]]:
    """A profile's raw keys (``extends`` resolved), its lines, its label, and for every
    top-level key the (label, lines) of the file that gave it."""
    text: str
    label: str
    folder: Path | None = None
    path = Path(name_or_path)
    if isinstance(name_or_path, str) and name_or_path in available():
        text = resources.files(__package__).joinpath(f"{name_or_path}.yaml").read_text(encoding="utf-8")
        label = f"{name_or_path}.yaml"
        ident = name_or_path
    elif path.suffix in (".yaml", ".yml") or path.exists():
        if not path.exists():
            raise DataNotFoundError(f"profile file {path} does not exist; shipped profiles: {', '.join(available())}")
        text = path.read_text(encoding="utf-8")
        label = str(path)
        folder = path.resolve().parent
        ident = str(path.resolve())
    else:
        raise ProfileError(
            f"unknown profile {str(name_or_path)!r}; shipped profiles: {', '.join(available())}, or give a path to a .yaml file"
        )
    if ident in _seen:
        chain = " → ".join([*_seen, ident])
        raise ProfileError(f"{label}: 'extends' goes round in a circle: {chain}")
    try:
        data, lines = load_with_lines(text, source=label)
    except DuplicateKeyError as exc:
        raise ProfileError(str(exc)) from None
    except yaml.YAMLError as exc:
        raise ProfileError(f"{label}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ProfileError(f"{label}: a profile is a mapping of keys (name, modes, circles...)")
    origins = {str(k): (label, lines) for k in data}
    if "extends" in data:
        parent = _resolve_extends(data.pop("extends"), label=label, lines=lines, folder=folder)
        origins.pop("extends", None)
        base, _, _, base_origins = _read_raw(parent, _seen=(*_seen, ident))
        merged = copy.deepcopy(base)
        merged.update(data)  # a top-level key given here replaces the parent's whole value
        data = merged
        origins = {**base_origins, **origins}
    return data, lines, label, origins


@functools.lru_cache(maxsize=32)
def _load_cached(key: str) -> Profile:
    data, lines, label, origins = _read_raw(key)
    try:
        return Profile.model_validate(data)
    except ValidationError as exc:
        text = format_validation_error(exc, lines=lines, source=label, origins=origins)
        raise ProfileError(f"invalid profile {label}:\n{text}") from None


def load(name_or_path: str | Path = DEFAULT_PROFILE) -> Profile:
    """Load and validate a standard profile.

    Parameters
    ----------
    name_or_path : str or path-like
        A shipped profile's name (see :func:`available`) or the path to a YAML file.
        A file may start with ``extends: <profile>`` to take every top-level key it does
        not give from another profile: a shipped name, or a path relative to the folder
        of the file that says ``extends``.

    Returns
    -------
    Profile
        The validated, immutable profile.

    Raises
    ------
    ProfileError
        Unknown name, malformed YAML, a key given twice, a key the schema does not know,
        a number out of its range (see :mod:`mtown_geo.standards._schema`), or
        ``extends`` going round in a circle; the message names the file, the key path
        and its line.
    DataNotFoundError
        A path that does not exist, or an ``extends`` naming a file that does not exist
        (the message gives the path tried).
    """
    if isinstance(name_or_path, Path) or not (isinstance(name_or_path, str) and name_or_path in available()):
        key = str(Path(name_or_path).resolve()) if Path(name_or_path).exists() else str(name_or_path)
    else:
        key = name_or_path
    return _load_cached(key)


_T = TypeVar("_T")
#: values derived from profiles, by (profile object, name): the profile kept beside its value
_DERIVED: dict[tuple[int, str], tuple[Profile, Any]] = {}
_DERIVED_MAX = 16
_DERIVED_LOCK = threading.Lock()


def derived(profile: Profile, name: str, make: Callable[[Profile], _T]) -> _T:
    """``make(profile)``, made once per profile object and name and kept (a few at most).

    For what a run derives from its profile alone and every town of a batch needs again (the
    hash of its rules, its JSON text): profiles are frozen models, shared by the towns.
    """
    known = _DERIVED.get((id(profile), name))
    if known is None or known[0] is not profile:
        known = (profile, make(profile))
        with _DERIVED_LOCK:  # towns may be written by several threads of one worker
            while len(_DERIVED) >= _DERIVED_MAX:
                del _DERIVED[next(iter(_DERIVED))]
            _DERIVED[(id(profile), name)] = known
    return known[1]


def resolve(profile: Profile | str | Path | None) -> Profile:
    """The profile itself, a loaded profile for a name or path, or the default for ``None``."""
    if isinstance(profile, Profile):
        return profile
    return load(DEFAULT_PROFILE if profile is None else profile)
