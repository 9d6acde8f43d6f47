"""Standard profiles: loading, validation, inheritance and lookups."""

from __future__ import annotations

import pytest

import mtown_geo as mg
from mtown_geo import standards


def test_shipped_profiles_load():
    assert {"zhejiang-2023", "gb50180-2018"} <= set(standards.available())
    p = standards.load()
    assert p.name == "zhejiang-2023"
    assert set(p.circles) == {"5min", "15min", "30min"}
    assert p.threshold_min("15min") == 15.0
    assert p.speed_kmh("walk") == 4.0 and p.speed_kmh("bike") == 12.0
    assert p.speed_kmh("walk", "elderly") < p.speed_kmh("walk")
    # the annex's targets (policy draft) for the computed rows
    rows = {r.row: r for r in p.annex}
    assert rows[8].targets == {2023: 88, 2025: 90, 2027: 92}
    assert rows[9].targets == {2023: 90, 2025: 95, 2027: 99}
    assert rows[11].targets == {2023: 75, 2025: 80, 2027: 90}
    assert rows[10].targets == {2023: 90, 2025: 95, 2027: 99}
    assert len(rows) == 18


def test_gb50180_distance_bands_in_minutes():
    g = standards.load("gb50180-2018")
    # 300 m, 500 m, 1000 m at 4 km/h (66.67 m/min)
    assert g.threshold_min("5min") == pytest.approx(4.5)
    assert g.threshold_min("10min") == pytest.approx(7.5)
    assert g.threshold_min("15min") == pytest.approx(15.0)
    assert g.categories == standards.load().categories  # inherited


def test_every_rule_says_where_it_comes_from():
    p = standards.load()
    for section in (p.modes, p.categories, p.circles):
        for spec in section.values():
            assert spec.source.strip()
    assumptions = dict(p.assumptions())
    assert "circles.15min" in assumptions  # the required categories are an assumption
    assert "parks.rules.mohurd-2021" not in assumptions


def test_unknown_key_is_named_with_its_line(tmp_path):
    bad = tmp_path / "mine.yaml"
    bad.write_text(
        "extends: zhejiang-2023\nname: mine\ntitle: t\ncircles:\n  15min:\n    name_zh: x\n    name_en: x\n"
        "    mode: walk\n    time_min: 15\n    requird: [park]\n    required: [park]\n    source: s\n    verified: false\n",
        encoding="utf-8",
    )
    with pytest.raises(mg.ProfileError, match=r"mine.yaml:10: circles.15min.requird: unknown key 'requird'"):
        standards.load(bad)


def test_bad_references_are_refused(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "extends: zhejiang-2023\nname: bad\ntitle: t\ncircles:\n  c:\n    name_zh: x\n    name_en: x\n"
        "    mode: teleport\n    time_min: 15\n    required: [park]\n    source: s\n    verified: false\n",
        encoding="utf-8",
    )
    with pytest.raises(mg.ProfileError, match="teleport"):
        standards.load(bad)


def test_user_copy_with_edits(tmp_path):
    mine = tmp_path / "strict.yaml"
    mine.write_text(
        "extends: zhejiang-2023\nname: strict\ntitle: strict 800 m\ncircles:\n  15min:\n    name_zh: 15分钟 (800 m)\n"
        "    name_en: strict\n    mode: walk\n    dist_m: 800\n    required: [kindergarten, park]\n"
        "    source: strict variant\n    verified: false\n",
        encoding="utf-8",
    )
    p = standards.load(mine)
    assert p.threshold_min("15min") == pytest.approx(12.0)


def test_unknown_profile_and_missing_file(tmp_path):
    with pytest.raises(mg.ProfileError, match="zhejiang-2023"):
        standards.load("zhejiang-2099")
    with pytest.raises(mg.DataNotFoundError):
        standards.load(tmp_path / "nope.yaml")
