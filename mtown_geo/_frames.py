"""Result objects as tables: the one-row reading of a result's headline figures.

Every result object has ``to_frame()``. Results that are one set of figures (a rate, its
numerator and denominator, counts) give one row of their plain fields through
:func:`one_row`; results that are one row per thing (nodes, sites, repairs, bands) build
their own table.
"""

from __future__ import annotations

import dataclasses
import numbers
import warnings
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from ._errors import DeprecatedNameWarning

__all__: list[str] = []


def _plain(value: Any) -> bool:
    return value is None or isinstance(value, (str, bool, numbers.Number, np.bool_))


def one_row(result: Any, *, drop: Iterable[str] = (), extra: dict[str, Any] | None = None) -> pd.DataFrame:
    """A dataclass result as a one-row DataFrame of its plain fields, in field order.

    Numbers, text, flags and None are kept; a list or tuple of them is joined by ``"; "``
    (``notes``); tables, layers, geometries, arrays and dicts are left out (they are
    attributes of their own). ``extra`` adds columns at the end.
    """
    skip = set(drop)
    row: dict[str, Any] = {}
    for f in dataclasses.fields(result):
        if f.name in skip or f.name.startswith("_"):
            continue
        value = getattr(result, f.name)
        if _plain(value):
            row[f.name] = value
        elif isinstance(value, (list, tuple)) and all(_plain(v) for v in value):
            row[f.name] = "; ".join(str(v) for v in value)
    row.update(extra or {})
    return pd.DataFrame([row])


def renamed(old: str, new: str, owner: str) -> None:
    """Warn that ``owner.old()`` is now ``owner.new()`` (a :class:`~mtown_geo.DeprecatedNameWarning`).

    Called from the old method, so the warning points at the line that called it.
    """
    warnings.warn(f"{owner}.{old}() is now {owner}.{new}()", DeprecatedNameWarning, stacklevel=3)
