"""Travel-time classes that say only what the search measured.

A class "15–30 min" is honest only if the search that produced the times ran at least 30
minutes: a search cut at 15 minutes gives ``inf`` both to a place 16 minutes away and to
one that no path reaches. :func:`time_classes` therefore builds the classes from the
breaks *and the search's cut-off*:

* breaks beyond the cut-off are dropped, and the cut-off itself becomes the last break
  (a search cut at 20 min with breaks 5/10/15/30 gives ≤ 5, 5–10, 10–15, 15–20);
* after the last break comes "> last break" — measured places farther than it when the
  whole network was searched, else "> cut-off (the search's limit)";
* "不可达 unreachable (no path)" is a class of its own when unreachable places can be told
  apart: always after a whole-network search (``inf`` then means no path at all, or a
  place farther than the snap distance from the network), and after a cut search when
  the caller says which places have no path; otherwise the last class reads
  "> cut-off 或不可达 or unreachable".

:func:`classify` puts each time in its class.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .._errors import InputError

__all__ = ["DEFAULT_BREAKS_MIN", "TimeClass", "breaks_for", "classify", "time_classes"]

#: Default class breaks in minutes (5, 10, 15 and 30).
DEFAULT_BREAKS_MIN: tuple[float, ...] = (5.0, 10.0, 15.0, 30.0)

# green → yellow → orange → red for measured times, dark red beyond, grey for no path
_RAMP = ("#1a9850", "#91cf60", "#d9ef8b", "#fee08b", "#fdae61", "#f46d43", "#d73027")
_BEYOND = "#a50026"
_UNREACHABLE = "#8c8c8c"


@dataclass(frozen=True)
class TimeClass:
    """One class of a travel-time map.

    Attributes
    ----------
    lower_min, upper_min : float
        The class holds times ``t`` with ``lower_min < t <= upper_min`` (the first class
        from 0 inclusive); ``upper_min`` is ``inf`` for the class beyond the last break.
    colour : str
        Fill colour (hex).
    label : str
        Legend text in Chinese and English, e.g. ``"10–15 分钟 min"``.
    kind : str
        ``"time"`` (measured within the breaks), ``"beyond"`` (measured, or known to be,
        farther than the last break), ``"unreachable"`` (no path), or ``"beyond_or_unreachable"``.
    """

    lower_min: float
    upper_min: float
    colour: str
    label: str
    kind: str


def _fmt(v: float) -> str:
    return f"{v:g}"


def breaks_for(threshold_min: float) -> tuple[float, ...]:
    """Breaks for a map of one threshold: 5-minute steps up to it, then twice the threshold.

    >>> breaks_for(15)
    (5.0, 10.0, 15.0, 30.0)
    >>> breaks_for(5)
    (5.0, 10.0)
    >>> breaks_for(30)
    (10.0, 20.0, 30.0, 60.0)
    """
    if not (isinstance(threshold_min, (int, float)) and math.isfinite(threshold_min) and threshold_min > 0):
        raise InputError(f"threshold_min must be a positive number of minutes, got {threshold_min!r}")
    t = float(threshold_min)
    step = 5.0 if t <= 20 else 10.0
    inner = [b for b in np.arange(step, t, step) if b < t]
    return tuple(float(b) for b in [*inner, t, 2 * t])


def time_classes(
    breaks_min: Sequence[float] = DEFAULT_BREAKS_MIN,
    *,
    max_time_min: float = math.inf,
    unreachable_known: bool | None = None,
) -> tuple[TimeClass, ...]:
    """The classes of a travel-time map, honest about the search's cut-off.

    Parameters
    ----------
    breaks_min : sequence of float
        Upper bounds of the measured classes in minutes, increasing.
    max_time_min : float, optional
        The cut-off of the search that produced the times (``Reach.max_time_min``;
        ``inf``: the whole network was searched).
    unreachable_known : bool, optional
        Whether places without any path can be told from places beyond the cut-off
        (default: only when the whole network was searched).

    Returns
    -------
    tuple of TimeClass
        The measured classes, then the class beyond, then (when known) "unreachable".
    """
    try:
        b = [float(x) for x in breaks_min]
    except (TypeError, ValueError):
        raise InputError(f"breaks_min must be numbers of minutes, got {breaks_min!r}") from None
    if not b or any(not math.isfinite(x) or x <= 0 for x in b) or any(y <= x for x, y in itertools.pairwise(b)):
        raise InputError(f"breaks_min must be increasing positive minutes, got {list(breaks_min)!r}")
    if not (isinstance(max_time_min, (int, float)) and max_time_min > 0):
        raise InputError(f"max_time_min must be a positive number of minutes (or inf), got {max_time_min!r}")
    whole = math.isinf(max_time_min)
    if not whole:
        b = [x for x in b if x < max_time_min] + [float(max_time_min)]
    if unreachable_known is None:
        unreachable_known = whole
    ramp = _ramp(len(b))
    out = []
    lower = 0.0
    for i, upper in enumerate(b):
        label = f"≤ {_fmt(upper)} 分钟 min" if i == 0 else f"{_fmt(lower)}–{_fmt(upper)} 分钟 min"
        out.append(TimeClass(lower, upper, ramp[i], label, "time"))
        lower = upper
    if whole:
        out.append(TimeClass(lower, math.inf, _BEYOND, f"> {_fmt(lower)} 分钟 min", "beyond"))
    elif unreachable_known:
        out.append(TimeClass(lower, math.inf, _BEYOND, f"> {_fmt(lower)} 分钟 min（超出搜索范围 beyond the search）", "beyond"))
    else:
        out.append(
            TimeClass(
                lower,
                math.inf,
                _BEYOND,
                f"> {_fmt(lower)} 分钟或不可达 min or unreachable（搜索上限 search limit）",
                "beyond_or_unreachable",
            )
        )
    if unreachable_known:
        out.append(TimeClass(math.inf, math.inf, _UNREACHABLE, "不可达 unreachable（无路径 no path）", "unreachable"))
    return tuple(out)


def _ramp(n: int) -> list[str]:
    """``n`` colours from green to red, spread over the ramp."""
    if n == 1:
        return [_RAMP[0]]
    idx = np.round(np.linspace(0, len(_RAMP) - 1, n)).astype(int)
    return [_RAMP[i] for i in idx]


def classify(
    times_min: np.ndarray,
    classes: Sequence[TimeClass],
    *,
    unreachable: np.ndarray | None = None,
) -> np.ndarray:
    """The position in ``classes`` of each time (minutes; ``inf`` where none was found).

    ``unreachable`` (bool per time) marks places known to have no path; without it,
    with an "unreachable" class, every ``inf`` time is taken as no path (a whole-network
    search), else as beyond the cut-off.
    """
    t = np.asarray(times_min, dtype=float)
    if np.isnan(t).any():
        raise InputError("travel times must not be NaN: unreachable places are inf")
    if (t < 0).any():
        raise InputError("travel times must not be negative")
    kinds = [c.kind for c in classes]
    uppers = np.array([c.upper_min for c in classes if c.kind == "time"])
    out = np.searchsorted(uppers, t, side="left")  # t == upper goes to that class
    beyond = next(i for i, k in enumerate(kinds) if k in ("beyond", "beyond_or_unreachable"))
    out = np.minimum(out, beyond)
    if "unreachable" in kinds:
        u = kinds.index("unreachable")
        no_path = np.isinf(t) if unreachable is None else (np.asarray(unreachable, dtype=bool) & np.isinf(t))
        out = np.where(no_path, u, out)
    return out.astype(np.int64)
