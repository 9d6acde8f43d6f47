"""Maps: interactive (folium, self-contained HTML) and print maps (PNG 300 dpi and PDF, Chinese text)."""

from ._basemap import Basemap, basemap_from_network, basemap_from_osm
from ._classes import TimeClass, time_classes
from .interactive import TIME_BINS, escape_text, new_map, reach_map, save_map, siting_map, town_map
from .static import coverage_map, facilities_map, layers_map, life_circle_map, save_figure, travel_time_map
from .taskmaps import save_figures, task_map, task_print_maps

__all__ = [
    "TIME_BINS",
    "Basemap",
    "TimeClass",
    "basemap_from_network",
    "basemap_from_osm",
    "coverage_map",
    "escape_text",
    "facilities_map",
    "layers_map",
    "life_circle_map",
    "new_map",
    "reach_map",
    "save_figure",
    "save_figures",
    "save_map",
    "siting_map",
    "task_map",
    "task_print_maps",
    "time_classes",
    "town_map",
    "travel_time_map",
]
