"""The documents the profile's rules cite, and how far a rule taken from each can be trusted.

Every rule of a standard profile names its ``source`` in a few words ("浙政办发〔2023〕49号
annex (consultation draft)", "GB 50180-2018 附录B", "城市体检 2021 指标解释 (secondary
quotation)"). A report must cite the documents themselves — title, issuer, number and the
clause used — and call a rule *verified* only when it was read in a final, published text.
:func:`cite` finds the documents a source names (:data:`DOCUMENTS`); :func:`reading` says
what kind of text a rule was taken from; :func:`verified` combines that with the profile's
own ``verified`` flag.

The annex targets of the Zhejiang profile come from the second consultation draft
(二次征求意见稿) of 浙政办发〔2023〕49号: a rule taken from it is never reported as verified.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

__all__ = ["DOCUMENTS", "Citation", "Document", "Reading", "cite", "reading", "verified"]

#: What kind of text a rule was taken from.
Reading = Literal["final", "draft", "secondary", "assumption", "unknown"]


@dataclass(frozen=True)
class Document:
    """A document rules are taken from.

    ``status`` is that of the text the profile's rules were read in: ``final`` for a
    published standard or notice, ``draft`` for a consultation draft, ``superseded``
    for a standard replaced by a later one.
    """

    number: str
    title: str
    issuer: str
    status: Literal["final", "draft", "superseded"]
    pattern: str
    note: str = ""

    def citation(self) -> str:
        """``《title》 (number, issuer)`` — how a report names the document."""
        parts = [p for p in (self.number, self.issuer) if p]
        return f"{self.title} ({', '.join(parts)})"


#: The documents the shipped profiles cite. A profile's ``source`` text names a document
#: when it matches the document's ``pattern``.
DOCUMENTS: tuple[Document, ...] = (
    Document(
        "浙政办发〔2023〕49号",
        "《浙江省人民政府办公厅关于全面推进现代化美丽城镇建设的指导意见》",
        "浙江省人民政府办公厅",
        "draft",
        r"浙政办发〔2023〕49号",
        "annex targets and task wording taken from the second consultation draft (二次征求意见稿); "
        "check them against the final published text",
    ),
    Document(
        "GB 50180-2018",
        "《城市居住区规划设计标准》",
        "住房和城乡建设部、国家市场监督管理总局",
        "final",
        r"GB\s*50180[-—]2018",
    ),
    Document("TD/T 1062-2021", "《社区生活圈规划技术指南》", "自然资源部", "final", r"TD/T\s*1062[-—]2021"),
    Document(
        "",
        "城市体检指标体系及指标解释（2021年）",
        "住房和城乡建设部",
        "final",
        r"城市体检\s*2021",
        "quoted by secondary sources",
    ),
    Document("GB 55014-2021", "《园林绿化工程项目规范》", "住房和城乡建设部", "final", r"GB\s*55014[-—]2021"),
    Document("GB/T 50563-2010", "《城市园林绿化评价标准》", "住房和城乡建设部", "final", r"GB/T\s*50563[-—]2010"),
    Document("", "《绿道规划设计导则》（2016）", "住房和城乡建设部", "final", r"绿道规划设计导则"),
    Document("CJJ 37-2012", "《城市道路工程设计规范》", "住房和城乡建设部", "final", r"CJJ\s*37[-—]2012"),
    Document(
        "GB 17761-2018",
        "《电动自行车安全技术规范》",
        "国家市场监督管理总局、国家标准化管理委员会",
        "final",
        r"GB\s*17761[-—]2018",
    ),
    Document("CJJ/T 85-2017", "《城市绿地分类标准》", "住房和城乡建设部", "final", r"CJJ/T\s*85[-—]2017"),
    Document(
        "中发〔2016〕6号",
        "《中共中央 国务院关于进一步加强城市规划建设管理工作的若干意见》",
        "中共中央、国务院",
        "final",
        r"中发〔2016〕6号",
    ),
    Document(
        "国办发〔2023〕19号",
        "《国务院办公厅关于进一步构建高质量充电基础设施体系的指导意见》",
        "国务院办公厅",
        "final",
        r"国办发〔2023〕19号",
    ),
    Document("JTG B01-2014", "《公路工程技术标准》", "交通运输部", "final", r"JTG\s*B01[-—]2014"),
    Document("GB 50220-95", "《城市道路交通规划设计规范》", "建设部", "superseded", r"GB\s*50220[-—]95"),
)

_DRAFT = re.compile(r"consultation draft|征求意见稿|draft", re.IGNORECASE)
_SECONDARY = re.compile(
    r"secondary|quotation|quoted|news|reprint|as reported|believed|not read|\bwiki\b|vendor page|新华社|日报",
    re.IGNORECASE,
)
_ASSUMPTION = re.compile(r"assum|inference|inferred|example|not a standard|found in no standard|from memory|假设", re.IGNORECASE)
#: The forms a clause takes right after a document's number: 附录B, 6.0.2, 表5.0.2, 第十条, annex row 9, task 16...
_CLAUSE = re.compile(
    r"^(附录\s*[A-Z]\d*|表\s*\d+(?:\.\d+)*|第[\d一二三四五六七八九十百]+[条章款节]|\d+(?:\.\d+)+|[（(][一二三四五六七八九十]+[)）]"
    r"|annex(?: row \d+)?|task \d+|paragraph \d+|指标解释)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Citation:
    """A document named in a rule's source, with the clause the source gives (``附录B``, ``annex row 9``)."""

    document: Document
    clause: str


def cite(source: str) -> list[Citation]:
    """The documents a rule's source text names, in the order they appear, once each."""
    found: list[tuple[int, Citation]] = []
    text = " ".join(str(source or "").split())
    for doc in DOCUMENTS:
        m = re.search(doc.pattern, text)
        if m is None:
            continue
        rest = text[m.end() :].lstrip(" :：")
        clause = _CLAUSE.match(rest)
        found.append((m.start(), Citation(doc, clause.group(1) if clause else "")))
    return [c for _, c in sorted(found, key=lambda t: t[0])]


def reading(source: str) -> Reading:
    """What kind of text a rule was taken from, judged from its source.

    ``draft`` when it names a consultation draft or a document whose text at hand is one;
    ``secondary`` when it was read in a quotation, a news item or a secondary page;
    ``assumption`` when the source says it is one; ``final`` when it names only final
    documents read as such; ``unknown`` otherwise.
    """
    text = " ".join(str(source or "").split())
    docs = [c.document for c in cite(text)]
    if _DRAFT.search(text) or any(d.status == "draft" for d in docs):
        return "draft"
    if _ASSUMPTION.search(text):
        return "assumption"
    if _SECONDARY.search(text) or any(d.status == "superseded" for d in docs):
        return "secondary"
    if docs:
        return "final"
    return "unknown"


def verified(flag: bool, source: str) -> bool:
    """Whether a report may call a rule verified: the profile says so, *and* it was read in a final text."""
    return bool(flag) and reading(source) == "final"
