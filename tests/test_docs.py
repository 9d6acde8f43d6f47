"""The user documentation in docs/: generated pages up to date, every key and rule documented, links that work."""

from __future__ import annotations

import importlib.util
import re
import typing
import warnings
from pathlib import Path
from types import ModuleType, UnionType
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

import mtown_geo as mg
from mtown_geo import report, standards, study

from .conftest import ROOT

DOCS = ROOT / "docs"


def _load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("mtown_geo_docs_generate", DOCS / "_generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def generator() -> ModuleType:
    return _load_generator()


def _page(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


def _sections(text: str) -> dict[str, str]:
    """Heading line → the text under it, up to the next heading of any level."""
    out: dict[str, str] = {}
    current = ""
    for line in text.splitlines():
        if re.match(r"^#{1,6} ", line):
            current = line
            out[current] = ""
        elif current:
            out[current] += line + "\n"
    return out


def _table_rows(section: str) -> dict[str, list[str]]:
    """Rows of the Markdown tables in a section, by their first cell (without backticks)."""
    rows = {}
    for line in section.splitlines():
        if line.startswith("|") and not line.startswith("|---"):
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
            if cells:
                rows[cells[0].strip("`")] = cells
    return rows


# -- generated pages ------------------------------------------------------------------------


@pytest.mark.parametrize("page", ["study-file.md", "profiles.md", "cli.md"])
def test_generated_page_is_up_to_date(generator: ModuleType, page: str) -> None:
    """A committed generated page equals what the generator makes from the code now."""
    fresh = generator.PAGES[page]()
    committed = _page(page)
    assert committed == fresh, f"docs/{page} is out of date: run `python docs/_generate.py` and commit the result"


def test_every_study_key_has_a_meaning(generator: ModuleType) -> None:
    assert generator.missing_study_descriptions() == []
    assert "(no description)" not in _page("study-file.md")


def _models_of(annotation: Any) -> list[type[BaseModel]]:
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, UnionType, list):
        return [m for a in args for m in _models_of(a)]
    return [annotation] if isinstance(annotation, type) and issubclass(annotation, BaseModel) else []


def test_every_key_of_the_study_model_is_in_the_page() -> None:
    """Walk the pydantic models of the study file here, and find each key in its section's table."""
    sections = _sections(_page("study-file.md"))
    top = next(body for head, body in sections.items() if "Top-level keys" in head)
    top_rows = _table_rows(top)
    missing = [name for name in study.Study.model_fields if name not in top_rows]
    for name, info in study.Study.model_fields.items():
        for model in _models_of(info.annotation):
            head = next((h for h in sections if h.startswith("## ") and f"`{name}`" in h), None)
            assert head is not None, f"no section of docs/study-file.md for `{name}`"
            rows = _table_rows(sections[head])
            missing += [f"{name}.{sub}" for sub in model.model_fields if sub not in rows]
    assert missing == [], f"study-file keys missing from docs/study-file.md: {missing}"
    # defaults shown are the model's
    assert "`1000`" in _table_rows(sections["## `network`"])["buffer_m"][2]
    assert "`residential`" in _table_rows(sections["## `demand`"])["weight"][2]
    assert "required" in top_rows["name"][2]


def test_the_template_in_the_page_is_a_valid_study_file(tmp_path: Path) -> None:
    text = _page("study-file.md")
    block = re.search(r"```yaml\n(.*?)```", text.split("The full template")[1], re.S)
    assert block is not None
    path = tmp_path / "study.yaml"
    path.write_text(block.group(1), encoding="utf-8")
    st = mg.load_study(path)
    assert st.profile == "zhejiang-2023" and st.circles == ["5min", "15min", "30min"]
    assert st.network.buffer_m == 1000 and st.demand.cell_m == 50


# -- profiles --------------------------------------------------------------------------------


def _raw_yaml(name: str) -> dict[str, Any]:
    from importlib import resources

    data = yaml.safe_load(resources.files(standards).joinpath(f"{name}.yaml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _profile_section(name: str) -> dict[str, str]:
    """The sub-sections of one profile's part of docs/profiles.md."""
    text = _page("profiles.md")
    part = text.split(f"\n## `{name}`\n", 1)[1]
    part = re.split(r"\n## ", part, maxsplit=1)[0]
    return _sections(part)


def test_profile_page_has_every_rule_of_the_default_yaml() -> None:
    """Read zhejiang-2023.yaml with plain YAML and find each rule's values in the page."""
    raw = _raw_yaml("zhejiang-2023")
    sec = _profile_section("zhejiang-2023")
    modes = _table_rows(next(b for h, b in sec.items() if "(`modes`)" in h))
    for key, m in raw["modes"].items():
        assert key in modes, key
        assert modes[key][3].startswith(f"{m['speed_kmh']:g}"), (key, modes[key][3])
        assert ("✔" in modes[key][-1]) == m["verified"]
    for key, c in raw["categories"].items():
        body = next((b for h, b in sec.items() if h.startswith(f"#### `{key}`")), None)
        assert body is not None, f"category {key} is not in docs/profiles.md"
        for code in c.get("amap_typecodes", []):
            assert f"`{code}`" in body, (key, code)
        for pattern in c.get("name_patterns", []) + c.get("exclude_name_patterns", []):
            assert pattern in body, (key, pattern)
        for rule in c.get("osm", []):
            for tag in rule["tags"]:
                assert f"`{tag}=" in body, (key, tag)
    circles = _table_rows(next(b for h, b in sec.items() if "(`circles`)" in h))
    for key, c in raw["circles"].items():
        row = circles[key]
        assert row[3] == f"{c['time_min']:g} min"
        assert re.findall(r"`(\w+)`", row[4]) == c["required"]
        assert row[7] == f"`{c['demand']}`"
    parks = _table_rows(next(b for h, b in sec.items() if "(`parks`)" in h))
    for key, r in raw["parks"]["rules"].items():
        for cls in r["classes"]:
            assert f"→ {cls['radius_m']:g} m" in parks[key][2]
            assert f"{cls['min_area_m2']:g}" in parks[key][2]
    annex = _table_rows(next(b for h, b in sec.items() if "Annex targets" in h))
    for r in raw["annex"]:
        row = annex[str(r["row"])]
        for col, year in zip((4, 5, 6), (2023, 2025, 2027), strict=True):
            value = r["targets"][year]
            assert row[col] == ("—" if value is None else f"{value:g}"), (r["row"], year)
    assert "万人拥有绿道长度" in annex["—"][1]


def test_an_extending_profile_shows_only_what_it_changes() -> None:
    raw = _raw_yaml("gb50180-2018")
    assert raw["extends"] == "zhejiang-2023"
    sec = _profile_section("gb50180-2018")
    assert not any("(`modes`)" in h or "(`categories`)" in h for h in sec)
    circles = _table_rows(next(b for h, b in sec.items() if "(`circles`)" in h))
    assert set(circles) - {"生活圈 Circle"} == set(raw["circles"])
    for key, c in raw["circles"].items():
        minutes = c["dist_m"] / (4.0 * 1000 / 60)  # walking 4 km/h, from the parent's modes
        assert circles[key][3] == f"{c['dist_m']:g} m = {minutes:.4g} min"


def test_the_profile_example_in_the_page_loads_and_does_what_it_says(tmp_path: Path) -> None:
    part = _page("profiles.md").split("Copying and editing a profile", 1)[1]
    block = re.search(r"```yaml\n(.*?)```", part, re.S)
    assert block is not None
    path = tmp_path / "my_profile.yaml"
    path.write_text(block.group(1), encoding="utf-8")
    p = standards.load(path)
    assert p.threshold_min("15min", "primary_school") == 12.0  # as the page's snippet says
    assert p.threshold_min("15min", "kindergarten") == 15.0
    assert set(p.circles) == {"5min", "15min", "30min"}
    assert p.modes == standards.load("zhejiang-2023").modes  # inherited whole
    assert "circles.15min" in dict(p.assumptions())


# -- the command line ------------------------------------------------------------------------


def test_cli_page_documents_every_command_and_option() -> None:
    import typer

    from mtown_geo.cli import app

    sections = _sections(_page("cli.md"))
    group: Any = typer.main.get_command(app)
    for name, cmd in group.commands.items():
        body = sections.get(f"## `mtown-geo {name}`")
        assert body is not None, f"mtown-geo {name} is not in docs/cli.md"
        for prm in cmd.params:
            for opt in prm.opts if getattr(prm, "param_type_name", "") == "option" else []:
                assert f"`{opt}`" in body, (name, opt)
        assert f"Usage: mtown-geo {name}" in body


# -- hand-written pages ----------------------------------------------------------------------


def _slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"^#+\s*", "", heading).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def test_links_between_pages_resolve() -> None:
    bad = []
    for page in sorted(DOCS.glob("*.md")):
        text = page.read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if target.startswith(("http://", "https://", "mailto:")):
                continue
            file_part, _, anchor = target.partition("#")
            dest = (page.parent / file_part).resolve() if file_part else page
            if not dest.exists():
                bad.append(f"{page.name}: {target} (no such file)")
                continue
            if anchor and dest.is_file():
                slugs = {_slug(h) for h in dest.read_text(encoding="utf-8").splitlines() if re.match(r"^#{1,6} ", h)}
                if anchor not in slugs:
                    bad.append(f"{page.name}: {target} (no such heading)")
    assert bad == []


def test_install_page_gives_the_readme_commands() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    install = _page("install.md")
    commands = re.findall(r"```bash\n(python3 -m venv [^\n]+)\n```", readme)
    assert len(commands) >= 2
    for command in commands:
        assert command in install
    quick = '.venv/bin/python -m pytest -m "not slow" -n 2'  # the quick loop, beside the full command
    assert quick in readme and quick in install
    assert "environment.yml" in install and "chromium" in install.lower()


def test_indicators_page_names_every_column_of_the_indicator_table() -> None:
    text = _page("indicators.md")
    rows = _table_rows(text.split("### The indicator table", 1)[1].split("###", 1)[0])
    documented = {c.strip("`") for cell in rows for c in re.findall(r"`(\w+)`", f"`{cell}`")}
    assert set(report.COLUMNS) <= documented, set(report.COLUMNS) - documented


@pytest.mark.slow
def test_indicators_page_names_every_output_of_a_run(tmp_path: Path) -> None:
    """Run the demo town and find each table, layer, file and column it writes in the page."""
    text = _page("indicators.md")
    st = mg.load_study(mg.demo_study(tmp_path / "study"))
    st = st.model_copy(update={"demand": st.demand.model_copy(update={"cell_m": 100.0})})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.MtownGeoWarning)
        result = mg.run(st, out=tmp_path / "out")

    def generic(name: str) -> str:
        return re.sub(r"_(\d+min)$", "_<circle>", name)

    for name in [*result.tables, *result.layers, *result.rasters]:
        assert f"`{generic(name)}`" in text, f"output {name!r} of a run is not described in docs/indicators.md"
    cov = result.tables["coverage_15min"]
    for col in cov.columns:
        assert f"`{col}`" in text, col
    for col in ("n_reached", "n_required", "covered", "missing"):
        assert col in result.layers["units_15min"] and f"`{col}`" in text
    for f in (tmp_path / "out").iterdir():
        if f.stem == "indicators":
            assert "`indicators.csv/.xlsx/.json/.md`" in text and f.suffix in ".csv/.xlsx/.json/.md", f.name
        elif f.name.startswith("indicators_"):
            assert "`indicators_<name>.csv`" in text
        else:
            assert f"`{f.name}" in text, f"{f.name} written by a run is not described in docs/indicators.md"
