"""Readers: files and services → GeoDataFrames and arrays."""

from .osm import ATTRIBUTION, OSMExtract, is_osm_file, read_osm
from .tables import TableReport, read_facility_table
from .vector import read_vector

__all__ = ["ATTRIBUTION", "OSMExtract", "TableReport", "is_osm_file", "read_facility_table", "read_osm", "read_vector"]
