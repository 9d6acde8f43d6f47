"""Maps: interactive (folium, self-contained HTML) and print maps (PNG 300 dpi and PDF, Chinese text)."""

from .interactive import TIME_BINS, escape_text, new_map, reach_map, save_map, siting_map, town_map
from .static import coverage_map, layers_map, save_figure, travel_time_map

__all__ = [
    "TIME_BINS",
    "coverage_map",
    "escape_text",
    "layers_map",
    "new_map",
    "reach_map",
    "save_figure",
    "save_map",
    "siting_map",
    "town_map",
    "travel_time_map",
]
