"""Standard profiles: loading, validation, inheritance and lookups."""

from __future__ import annotations

import pytest
import yaml
from pydantic import ValidationError

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


# -- hostile profiles: every number range-checked, duplicate keys, `extends` ----------------------


def _shipped_text() -> str:
    from importlib import resources

    return resources.files(standards).joinpath("zhejiang-2023.yaml").read_text(encoding="utf-8")


def _edit(text: str, old: str, new: str) -> str:
    assert text.count(old) >= 1, old
    return text.replace(old, new, 1)


def _line(text: str, needle: str, *, after: str | None = None) -> int:
    """1-based line of the first line holding ``needle`` (below the line holding ``after``)."""
    lines = text.splitlines()
    start = 0 if after is None else next(i for i, ln in enumerate(lines) if after in ln)
    return next(i for i, ln in enumerate(lines[start:], start + 1) if needle in ln)


#: (case, text to replace in the shipped profile, replacement, the key path and the words of the error)
HOSTILE_PROFILE_NUMBERS = [
    ("negative road speed", "      residential: 20", "      residential: -20",
     "modes.drive.speed_by_highway_kmh.residential", "greater than or equal to 1, got -20"),
    ("zero road speed", "      residential: 20", "      residential: 0",
     "modes.drive.speed_by_highway_kmh.residential", "greater than or equal to 1, got 0"),
    ("infinite walk speed", "    speed_kmh: 4.0\n", "    speed_kmh: .inf\n", "modes.walk.speed_kmh", "finite number, got .inf"),
    ("nan walk speed", "    speed_kmh: 4.0\n", "    speed_kmh: .nan\n", "modes.walk.speed_kmh", "finite number, got .nan"),
    ("walking at car speed", "    speed_kmh: 4.0\n", "    speed_kmh: 40\n", "modes.walk.speed_kmh",
     "40 km/h is too fast for the walk network (at most 10 km/h)"),
    ("snap distance 1e9", "max_snap_dist_m: 300.0", "max_snap_dist_m: 1e9", "max_snap_dist_m", "less than or equal to 2000, got 1e9"),
    ("target of 500 %", "targets: {2023: 90, 2025: 95, 2027: 99}, computed: circle:15min",
     "targets: {2023: 90, 2025: 500, 2027: 99}, computed: circle:15min", "annex.8.targets.2025", "500 % is above 100 %"),
    ("target of -50 %", "targets: {2023: 90, 2025: 95, 2027: 99}, computed: circle:15min",
     "targets: {2023: 90, 2025: -50, 2027: 99}, computed: circle:15min", "annex.8.targets.2025", "greater than or equal to 0, got -50"),
    ("target for the year 1900", "targets: {2023: 90, 2025: 95, 2027: 99}, computed: circle:15min",
     "targets: {1900: 90, 2025: 95, 2027: 99}, computed: circle:15min", "annex.8.targets.1900", "greater than or equal to 2000, got 1900"),
    ("target for an unknown category", 'computed: "category:15min:childcare"', 'computed: "category:15min:childcar"',
     "annex.10.computed", "unknown category 'childcar'; did you mean 'childcare'?"),
    ("15-minute circle of 1500 minutes", "    time_min: 15\n", "    time_min: 1500\n", "circles.15min.time_min",
     "less than or equal to 120, got 1500"),
    ("negative park radius", '{min_area_m2: 5000, radius_m: 500, label_zh: "≥5000 m²"}',
     '{min_area_m2: 5000, radius_m: -500, label_zh: "≥5000 m²"}', "parks.rules.mohurd-2021.classes.0.radius_m",
     "greater than 0, got -500"),
    ("park size class upside down", "{min_area_m2: 2000, max_area_m2: 5000, radius_m: 300",
     "{min_area_m2: 2000, max_area_m2: 1500, radius_m: 300", "parks.rules.mohurd-2021.classes.1.max_area_m2",
     "1500 m² is not above min_area_m2 (2000 m²)"),
    ("annex row numbered twice", "{row: 10,", "{row: 9,", "annex.9.row", "row 9 is given twice (entries 9 and 10)"),
    ("bus wait longer than the circle", "    wait_min: 5.0\n", "    wait_min: 45\n", None, None),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "old", "new", "key", "words"), HOSTILE_PROFILE_NUMBERS, ids=[c[0] for c in HOSTILE_PROFILE_NUMBERS]
)
def test_out_of_range_numbers_are_refused_with_file_and_line(tmp_path, case, old, new, key, words):
    shipped = _shipped_text()
    text = _edit(shipped, old, new)
    line = shipped[: shipped.index(old)].count("\n") + 1  # the line of the edit
    if key is None:  # the bus waits 45 min; a circle on the bus of 30 minutes would reach nothing
        text = _edit(text, "    mode: ebike\n    time_min: 30\n", "    mode: bus\n    time_min: 30\n")
        key, words = "circles.30min.time_min", "not longer than the 45-minute wait of the mode 'bus'"
        line = _line(text, "    time_min: 30")
    path = tmp_path / "mine.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(mg.ProfileError) as info:
        standards.load(path)
    assert f"{path}:{line}: {key}: " in str(info.value)
    assert words in str(info.value)


def test_what_yaml_makes_of_inf_nan_and_1e9():
    """YAML reads `.inf` and `.nan` as floats and `1e9` (no dot) as text: each is still judged as a number."""
    from mtown_geo._yaml import load_with_lines

    data, _ = load_with_lines("a: .inf\nb: -.inf\nc: .nan\nd: 1e9\ne: 1.0e+9\nf: 1_000\n")
    assert data["a"] == float("inf") and data["b"] == float("-inf") and data["c"] != data["c"]
    assert data["d"] == "1e9" and data["e"] == 1e9 and data["f"] == 1000
    text = _shipped_text()
    for spelling in ("1e9", "1.0e+9", "1_000_000_000", ".inf", ".nan"):
        raw = yaml.safe_load(_edit(text, "max_snap_dist_m: 300.0", f"max_snap_dist_m: {spelling}"))
        with pytest.raises(ValidationError) as info:
            standards.Profile.model_validate(raw)
        assert [e["loc"] for e in info.value.errors()] == [("max_snap_dist_m",)], spelling
    # a number YAML kept as text is taken as that number when it is in range
    raw = yaml.safe_load(_edit(text, "max_snap_dist_m: 300.0", "max_snap_dist_m: 5e2"))
    assert standards.Profile.model_validate(raw).max_snap_dist_m == 500.0


def test_shipped_profiles_are_within_every_range():
    for name in standards.available():
        p = standards.load(name)
        for mode in p.modes.values():
            assert standards.MIN_SPEED_KMH <= mode.speed_kmh <= standards.MAX_SPEED_KMH[mode.network]


def test_duplicate_keys_are_refused_naming_both_lines(tmp_path):
    text = _shipped_text()
    annex_line = 1 + next(i for i, ln in enumerate(text.splitlines()) if "computed: circle:15min" in ln)
    cases = {
        # top level: the second value would silently win
        "top": (_edit(text, "max_snap_dist_m: 300.0", "max_snap_dist_m: 300.0\nmax_snap_dist_m: 30"), "max_snap_dist_m", 21, 22),
        # nested: a second walk speed inside modes.walk
        "nested": (_edit(text, "    speed_kmh: 4.0\n", "    speed_kmh: 4.0\n    speed_kmh: 40\n"), "modes.walk.speed_kmh", 68, 69),
        # inside a flow mapping of a list entry
        "flow": (
            _edit(text, "targets: {2023: 90, 2025: 95, 2027: 99}, computed: circle:15min",
                  "targets: {2023: 90, 2025: 95, 2025: 50}, computed: circle:15min"),
            "annex.8.targets.2025", annex_line, annex_line,
        ),
    }  # fmt: skip
    for case, (bad, key, first, second) in cases.items():
        path = tmp_path / f"{case}.yaml"
        path.write_text(bad, encoding="utf-8")
        with pytest.raises(mg.ProfileError) as info:
            standards.load(path)
        msg = str(info.value)
        assert f"{path}:{second}: {key}: " in msg, (case, msg)
        assert f"given twice (lines {first} and {second})" in msg, (case, msg)


def _base_copy(folder, *, walk_kmh: float, name: str = "base"):
    """A full profile (the shipped one) with its own name and walking speed, written as ``folder/base.yaml``."""
    folder.mkdir(parents=True, exist_ok=True)
    text = _edit(
        _edit(_shipped_text(), "name: zhejiang-2023", f"name: {name}"), "    speed_kmh: 4.0\n", f"    speed_kmh: {walk_kmh}\n"
    )
    (folder / "base.yaml").write_text(text, encoding="utf-8")
    return folder / "base.yaml"


def test_extends_is_resolved_against_the_profiles_own_folder(tmp_path, monkeypatch):
    """`extends: base.yaml` means the base.yaml beside the profile, whatever the working folder holds."""
    mine_dir = tmp_path / "profiles"
    _base_copy(mine_dir, walk_kmh=5.0)
    (mine_dir / "mine.yaml").write_text("extends: base.yaml\nname: mine\ntitle: mine\n", encoding="utf-8")
    elsewhere = tmp_path / "work"
    _base_copy(elsewhere, walk_kmh=3.0, name="wrong-base")  # a different base.yaml in the working folder
    monkeypatch.chdir(elsewhere)
    p = standards.load(mine_dir / "mine.yaml")
    assert p.name == "mine" and p.speed_kmh("walk") == 5.0
    # also through a relative path given from the working folder, and from a subfolder
    (mine_dir / "sub").mkdir()
    (mine_dir / "sub" / "child.yaml").write_text("extends: ../mine.yaml\nname: child\ntitle: c\n", encoding="utf-8")
    assert standards.load("../profiles/sub/child.yaml").speed_kmh("walk") == 5.0


def test_extends_a_missing_base_names_the_path_tried(tmp_path, monkeypatch):
    folder = tmp_path / "profiles"
    folder.mkdir()
    (folder / "mine.yaml").write_text("# my profile\nextends: bsae.yaml\nname: mine\ntitle: mine\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(mg.DataNotFoundError) as info:
        standards.load(folder / "mine.yaml")
    msg = str(info.value)
    assert f"{folder / 'mine.yaml'}:2: extends: 'bsae.yaml'" in msg
    assert str(folder / "bsae.yaml") in msg and "folder" in msg


def test_extends_cycle_is_refused(tmp_path):
    (tmp_path / "a.yaml").write_text("extends: sub/b.yaml\nname: a\ntitle: a\n", encoding="utf-8")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.yaml").write_text("extends: ../a.yaml\nname: b\ntitle: b\n", encoding="utf-8")
    with pytest.raises(mg.ProfileError, match="goes round in a circle"):
        standards.load(tmp_path / "a.yaml")


def test_error_in_an_inherited_key_names_the_parents_file_and_line(tmp_path):
    base = _base_copy(tmp_path, walk_kmh=-4.0)
    (tmp_path / "mine.yaml").write_text("extends: base.yaml\nname: mine\ntitle: mine\n", encoding="utf-8")
    with pytest.raises(mg.ProfileError) as info:
        standards.load(tmp_path / "mine.yaml")
    assert f"{base}:68: modes.walk.speed_kmh: must be greater than or equal to 1, got -4" in str(info.value)


@pytest.mark.parametrize(
    ("lookup", "match"),
    [
        (lambda p: p.mode("wlk"), r"unknown mode 'wlk'.*did you mean 'walk'\?"),
        (lambda p: p.circle("15mins"), r"unknown circle '15mins'.*did you mean '15min'\?"),
        (lambda p: p.threshold_min("20min"), r"unknown circle '20min'"),
        (lambda p: p.reach_m("15min", "kindergarden"), r"unknown category 'kindergarden'.*did you mean 'kindergarten'\?"),
        (lambda p: p.category("幼儿园"), r"unknown category '幼儿园'.*did you mean 'kindergarten'\?"),  # a name, not the id
        (lambda p: p.speed_kmh("walk", "eldery"), r"no speed group 'eldery'.*did you mean 'elderly'\?"),
    ],
)
def test_profile_lookups_name_the_closest(lookup, match):
    p = standards.load("zhejiang-2023")
    with pytest.raises(mg.UnknownNameError, match=match) as err:
        lookup(p)
    # a KeyError and a ProfileError whose text is the message (KeyError's own str() would quote it)
    assert isinstance(err.value, KeyError) and isinstance(err.value, mg.ProfileError)
    assert str(err.value) == err.value.args[0]


def test_profile_lookups_of_known_names():
    p = standards.load("zhejiang-2023")
    assert p.circle("15min") is p.circles["15min"] and p.category("kindergarten") is p.categories["kindergarten"]
    assert p.reach_m("15min") == pytest.approx(1000.0)  # 15 min at 4 km/h
    assert p.speed_kmh("walk", "adult") == p.modes["walk"].speed_kmh
