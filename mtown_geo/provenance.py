"""Where a report's numbers come from and how far to trust them.

Every file a run writes carries a :class:`Provenance`: the town and report year, the
standard profile and its version, each data source with its date, licence and (for files)
name and SHA-256, the toolkit's version, the run's time, and every assumption and warning
of the run. :func:`notes_table` lays it out as the 说明 Notes sheet / section; the
documents the rules rest on are cited with title, issuer, number and clause
(:mod:`mtown_geo.documents`), never by an internal file name.

A data date more than two years before the report year is a warning of its own
(:func:`data_age_warning`): OpenStreetMap and POI data age fast in growing towns.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from . import documents, standards
from ._io import input_sha256
from ._version import __version__
from .sources.osm import ATTRIBUTION
from .standards import Profile

__all__ = [
    "MAX_DATA_AGE_YEARS",
    "OSM_LICENCE",
    "DataSource",
    "Provenance",
    "assumptions",
    "data_age_warning",
    "file_source",
    "notes_table",
    "profile_version",
    "toolkit_version",
]

log = logging.getLogger(__name__)

#: Data older than this many years before the report year are flagged.
MAX_DATA_AGE_YEARS = 2
#: The licence line of OpenStreetMap data.
OSM_LICENCE = "© OpenStreetMap contributors, Open Database Licence (ODbL) 1.0 — openstreetmap.org/copyright"
#: The licence line of a planner's own file.
OWN_LICENCE = "the planner's own data (licence as the supplier gives it)"


def toolkit_version() -> str:
    """``mtown-geo <version>``: the version of the code that ran."""
    return f"mtown-geo {__version__}"


def profile_version(profile: Profile, path: str | Path | None = None) -> str:
    """How a report names a profile's version: shipped with which toolkit, or which file, and the SHA-256 of its rules."""
    digest = _of_profile(profile).digest
    where = f"file {Path(path).name}" if path is not None else f"shipped with {toolkit_version()}"
    return f"{where}; rules SHA-256 {digest}"


@dataclass(frozen=True)
class DataSource:
    """One input of a run: what it is, its file and checksum, its date and its licence."""

    role: str
    name: str
    sha256: str | None = None
    date: str | None = None
    licence: str = OWN_LICENCE
    path: str = ""

    def line(self) -> str:
        """One line for a report: role, name, date, licence and the first 12 hex digits of the hash."""
        parts = [f"{self.role}: {self.name}"]
        if self.date:
            parts.append(f"data as of {self.date}")
        if self.sha256:
            parts.append(f"SHA-256 {self.sha256[:12]}…")
        parts.append(self.licence)
        return "; ".join(parts)


def file_source(role: str, path: str | Path, *, date: str | None = None, licence: str = OWN_LICENCE) -> DataSource:
    """A :class:`DataSource` for a file: its name, SHA-256 (when it exists) and full path."""
    p = Path(path)
    digest = None
    if p.is_file():
        digest = input_sha256(p)
    return DataSource(role=role, name=p.name or str(path), sha256=digest, date=date, licence=licence, path=str(p))


def data_age_warning(data_date: str | None, year: int) -> str | None:
    """A warning when the data date lies more than :data:`MAX_DATA_AGE_YEARS` years before 1 January of the report year."""
    if not data_date:
        return None
    try:
        when = date.fromisoformat(str(data_date)[:10])
    except ValueError:
        return None
    limit = date(year - MAX_DATA_AGE_YEARS, 1, 1)
    if when >= limit:
        return None
    years = (date(year, 1, 1) - when).days / 365.25
    return (
        f"数据时效 data age: the data are dated {when.isoformat()}, {years:.1f} years before the report year {year} "
        f"(more than {MAX_DATA_AGE_YEARS}): facilities built since then are missing, so rates may be too low; "
        "use a newer extract or the planner's own up-to-date tables"
    )


@dataclass(frozen=True)
class Assumption:
    """A rule of the profile a report cannot call verified, and why."""

    rule: str
    source: str
    reading: documents.Reading


def _rules(profile: Profile) -> Iterable[tuple[str, bool, str]]:
    """Every rule of a profile with a source: (key path, verified flag, source)."""
    for key, spec in profile.modes.items():
        yield f"modes.{key}", spec.verified, spec.source
        for group, g in spec.groups.items():
            yield f"modes.{key}.groups.{group}", g.verified, g.source
    for section in ("categories", "circles"):
        for key, spec in getattr(profile, section).items():
            yield f"{section}.{key}", spec.verified, spec.source
    if profile.parks is not None:
        for key, rule in profile.parks.rules.items():
            if key == profile.parks.default_rule:
                yield f"parks.rules.{key}", rule.verified, rule.source
        yield "parks.per_capita_min_m2", True, profile.parks.per_capita_source
    if profile.greenways is not None:
        yield "greenways", profile.greenways.verified, profile.greenways.source
    if profile.annex:
        first, last = profile.annex[0], profile.annex[-1]
        yield f"annex rows {first.row}–{last.row} (targets)", all(r.verified for r in profile.annex), first.source
    if profile.greenway_target is not None:
        yield "greenway_target", profile.greenway_target.verified, profile.greenway_target.source
    tasks = getattr(profile, "tasks", None)
    if tasks is not None:
        for name in type(tasks).model_fields:
            spec = getattr(tasks, name)
            if spec is None:
                continue
            yield f"tasks.{name}", spec.verified, spec.source
            for key, ind in spec.indicators.items():
                yield f"tasks.{name}.{key}", ind.verified, ind.source
                if ind.target is not None:
                    yield f"tasks.{name}.{key}.target", ind.target.verified, ind.target.source


def assumptions(profile: Profile) -> list[Assumption]:
    """The rules of a profile a report must label: not marked verified, or read in a draft or a secondary text."""
    out = []
    for key, flag, source in _rules(profile):
        if not documents.verified(flag, source):
            out.append(Assumption(key, " ".join(source.split()), documents.reading(source)))
    return out


def _cited(profile: Profile) -> list[tuple[documents.Document, list[str], list[str]]]:
    """The documents a profile's rules cite: each with the clauses given and the rules citing it."""
    found: dict[str, tuple[documents.Document, list[str], list[str]]] = {}
    for key, _, source in _rules(profile):
        for c in documents.cite(source):
            _, clauses, rules = found.setdefault(c.document.pattern, (c.document, [], []))
            if c.clause and c.clause not in clauses:
                clauses.append(c.clause)
            rules.append(key)
    order = {d.pattern: i for i, d in enumerate(documents.DOCUMENTS)}
    return sorted(found.values(), key=lambda t: order[t[0].pattern])


@dataclass(frozen=True)
class _ProfileFacts:
    """What a report says of a profile alone: the hash of its rules, its assumptions, the documents it cites."""

    digest: str
    assumptions: tuple[Assumption, ...]
    cited: tuple[tuple[documents.Document, tuple[str, ...], tuple[str, ...]], ...]


def _of_profile(profile: Profile) -> _ProfileFacts:
    """:class:`_ProfileFacts` of a profile, gathered once per profile object."""
    return standards.derived(profile, "provenance", _profile_facts)


def _profile_facts(profile: Profile) -> _ProfileFacts:
    return _ProfileFacts(
        digest=hashlib.sha256(profile.model_dump_json().encode("utf-8")).hexdigest()[:12],
        assumptions=tuple(assumptions(profile)),
        cited=tuple((d, tuple(c), tuple(r)) for d, c, r in _cited(profile)),
    )


_READING_ZH = {
    "draft": "征求意见稿 consultation draft",
    "secondary": "二手资料 secondary source",
    "assumption": "假设 assumption",
    "unknown": "来源未核实 source not checked",
    "final": "正式文本 final text",
}


@dataclass(frozen=True)
class Provenance:
    """What a report says about its own origins (see the module's docstring)."""

    town: str
    code: str
    year: int
    profile: str
    profile_title: str
    profile_version: str
    toolkit: str
    run_time: str
    sources: tuple[DataSource, ...] = ()
    notes: tuple[str, ...] = ()
    assumptions: tuple[Assumption, ...] = ()
    cited: tuple[tuple[documents.Document, tuple[str, ...], tuple[str, ...]], ...] = ()
    warnings: tuple[str, ...] = field(default_factory=tuple)

    @classmethod
    def of(
        cls,
        *,
        town: str,
        code: str = "",
        year: int,
        profile: Profile,
        profile_path: str | Path | None = None,
        sources: Sequence[DataSource] = (),
        notes: Sequence[str] = (),
        run_time: datetime | None = None,
    ) -> Provenance:
        """Gather a run's provenance: the profile's version, unverified rules and documents, the data's age."""
        when = (run_time or datetime.now().astimezone()).isoformat(timespec="seconds")
        warnings = [w for w in (data_age_warning(s.date, year) for s in sources) if w]
        facts = _of_profile(profile)
        return cls(
            town=town,
            code=code,
            year=year,
            profile=profile.name,
            profile_title=profile.title,
            profile_version=profile_version(profile, profile_path),
            toolkit=toolkit_version(),
            run_time=when,
            sources=tuple(sources),
            notes=tuple(notes),
            assumptions=facts.assumptions,
            cited=facts.cited,
            warnings=tuple(dict.fromkeys(warnings)),
        )

    @property
    def data_dates(self) -> list[str]:
        """The dates of the sources that have one."""
        return [s.date for s in self.sources if s.date]

    @property
    def attribution(self) -> str:
        """The attribution line every output carries when any source is OpenStreetMap."""
        return ATTRIBUTION if any(s.licence == OSM_LICENCE for s in self.sources) else ""

    def header_lines(self) -> list[tuple[str, str]]:
        """The short block a file starts with: (label, value) pairs."""
        lines = [
            ("镇/街道 Town", f"{self.town}" + (f" ({self.code})" if self.code else "")),
            ("考核年份 Report year", str(self.year)),
            ("标准 Profile", f"{self.profile} — {self.profile_title} ({self.profile_version})"),
        ]
        for s in self.sources:
            lines.append(("数据 Data", s.line()))
        lines.append(("软件 Toolkit", f"{self.toolkit}; run {self.run_time}"))
        for w in self.warnings:
            lines.append(("⚠ 警示 Warning", w))
        return lines

    def one_line(self) -> str:
        """Everything a single cell can carry: town, year, profile and version, data, toolkit, run time, warnings."""
        parts = [f"{self.town}" + (f" ({self.code})" if self.code else ""), f"report year {self.year}"]
        parts.append(f"profile {self.profile} ({self.profile_version})")
        parts += [s.line() for s in self.sources]
        parts.append(f"{self.toolkit}, run {self.run_time}")
        parts += [w.split(":", 1)[0] + ": data more than two years older than the report year" for w in self.warnings]
        return " | ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """Everything as plain JSON-ready data."""
        return {
            "town": self.town,
            "code": self.code,
            "year": self.year,
            "profile": {"name": self.profile, "title": self.profile_title, "version": self.profile_version},
            "toolkit": self.toolkit,
            "run_time": self.run_time,
            "sources": [
                {"role": s.role, "name": s.name, "sha256": s.sha256, "date": s.date, "licence": s.licence} for s in self.sources
            ],
            "attribution": self.attribution,
            "warnings": list(self.warnings),
            "notes": list(self.notes),
            "assumptions": [{"rule": a.rule, "source": a.source, "reading": a.reading} for a in self.assumptions],
            "documents": [
                {
                    "number": d.number,
                    "title": d.title,
                    "issuer": d.issuer,
                    "status": d.status,
                    "note": d.note,
                    "clauses": list(c),
                    "rules": list(r),
                }
                for d, c, r in self.cited
            ],
        }


def notes_table(prov: Provenance) -> pd.DataFrame:
    """The 说明 Notes sheet: the report's origins, warnings, notes, assumptions and documents, one item a row.

    Returns
    -------
    DataFrame
        Columns ``section``, ``item`` and ``text``.
    """
    rows: list[tuple[str, str, str]] = []
    for label, value in prov.header_lines():
        if label != "⚠ 警示 Warning":  # the warnings have a section of their own
            rows.append(("报告 Report", label, value))
    if prov.attribution:
        rows.append(("报告 Report", "署名 Attribution", prov.attribution))
    for i, w in enumerate(prov.warnings, 1):
        rows.append(("警示 Warnings", str(i), w))
    for i, n in enumerate(prov.notes, 1):
        rows.append(("运行提示 Notes of the run", str(i), n))
    for a in prov.assumptions:
        why = "未核实 not read in a final text" if a.reading == "final" else _READING_ZH[a.reading]
        rows.append(("假设 Assumptions", a.rule, f"{why}: {a.source}"))
    for d, clauses, rules in prov.cited:
        status = {"final": "已发布 published", "draft": "征求意见稿 consultation draft", "superseded": "已废止 superseded"}[
            d.status
        ]
        text = f"{d.citation()}; {status}"
        if clauses:
            text += f"; clauses used: {', '.join(clauses)}"
        if d.note:
            text += f"; {d.note}"
        text += f"; cited by {', '.join(dict.fromkeys(rules))}"
        rows.append(("依据文件 Documents cited", d.number or d.title, text))
    return pd.DataFrame(rows, columns=["section", "item", "text"])
