"""Python's cyclic garbage collector paused around work that makes many short-lived objects."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["paused"]


@contextmanager
def paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for the block (restored after, also on error).

    Drawing a sheet or a circle's service areas makes and drops some 10^4–10^5 objects
    (shapely geometries, artists, transforms, paths), each tracked by the collector; in a
    process holding a town's layers every few tens of thousands of new objects may set
    off a collection that walks all of them, a tenth of a second or more for a full one.
    Reference counting still frees what holds no reference cycle, as before; the little
    cyclic garbage of the block is collected when the collector runs again. A block
    inside another keeps the collector paused until the outer one ends.
    """
    was_on = gc.isenabled()
    if was_on:
        gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()
