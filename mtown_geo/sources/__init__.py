"""Readers: files and services → GeoDataFrames and arrays."""

from .osm import ATTRIBUTION, OSMExtract, is_osm_file, read_osm

__all__ = ["ATTRIBUTION", "OSMExtract", "is_osm_file", "read_osm"]
