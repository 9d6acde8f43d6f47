"""Maps: interactive (folium) and, later, print maps."""

from .interactive import TIME_BINS, new_map, reach_map, save_map, town_map

__all__ = ["TIME_BINS", "new_map", "reach_map", "save_map", "town_map"]
