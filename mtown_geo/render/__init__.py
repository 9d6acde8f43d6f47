"""Maps: interactive (folium) and, later, print maps."""

from .interactive import TIME_BINS, reach_map

__all__ = ["TIME_BINS", "reach_map"]
