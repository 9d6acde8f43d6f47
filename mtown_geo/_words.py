"""Counts in words: a number with the noun phrase that agrees with it.

Warnings, notes and errors count facilities, parks, cells and rows; one of them is written
in the singular ("1 facility lies …", "1 of 4 points lies …"), more in the plural.
"""

from __future__ import annotations

__all__: list[str] = []


def count(n: int, one: str, many: str) -> str:
    """``n`` followed by the phrase that agrees with it.

    Parameters
    ----------
    n : int
        The count.
    one, many : str
        The phrase for exactly one, and for any other count (zero included).

    Returns
    -------
    str
        For example ``count(1, "park has", "parks have")`` is ``"1 park has"`` and
        ``count(3, "park has", "parks have")`` is ``"3 parks have"``.
    """
    return f"{n} {one if n == 1 else many}"


def agree(n: int, one: str, many: str) -> str:
    """The phrase that agrees with ``n``, without the number (``agree(1, "lies", "lie")`` is ``"lies"``)."""
    return one if n == 1 else many
