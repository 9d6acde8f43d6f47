"""Counts in words: one thing in the singular, any other number in the plural."""

from __future__ import annotations

import warnings

import pytest

import mtown_geo as mg
from mtown_geo import _words

from .conftest import OSM_FILES, shared_path


def test_count_and_agree_take_the_singular_only_for_one() -> None:
    assert _words.count(1, "park has", "parks have") == "1 park has"
    assert _words.count(0, "park has", "parks have") == "0 parks have"
    assert _words.count(2, "park has", "parks have") == "2 parks have"
    assert _words.agree(1, "lies", "lie") == "lies"
    assert _words.agree(7, "lies", "lie") == "lie"


def test_one_facility_mapped_twice_is_counted_once_in_the_singular() -> None:
    """Andorra la Vella has one school mapped twice (a point inside its own outline)."""
    path = shared_path(OSM_FILES["andorra"])
    towns = mg.batch.towns_from_osm(path, admin_level="7")
    town = towns[towns["name"] == "Andorra la Vella"].reset_index(drop=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fac = mg.facilities.from_osm(mg.sources.read_osm(path), boundary=town)
    merged = fac.attrs["facility_report"].merged_frame()
    assert len(merged) == 1
    repairs = [str(w.message) for w in caught if issubclass(w.category, mg.RepairWarning)]
    assert len(repairs) == 1
    assert repairs[0].startswith("1 facility was mapped twice (a point or outline inside an outline of the same category ")
    assert "name) and is counted once: Col·legi Sant Ermengol (primary_school)" in repairs[0]


@pytest.mark.parametrize("n_missing", [1, 2])
def test_validation_counts_features_without_geometry_in_agreement(n_missing: int) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fac = mg.facilities.from_osm(mg.demo_osm_path())
    fac.loc[fac.index[:n_missing], fac.geometry.name] = None
    report = mg.validate.validate(facilities=fac)
    (problem,) = [p for p in report.problems if p.check == "missing_geometry"]
    if n_missing == 1:
        assert problem.message == f"1 of {len(fac)} features has no geometry and is left out"
    else:
        assert problem.message == f"2 of {len(fac)} features have no geometry and are left out"
