"""YAML reading that remembers the line of every key, for error messages that point at it.

:func:`load_with_lines` refuses a key given twice in one mapping (at any depth), where
plain YAML readers silently keep the last value. :class:`LocatedError` lets a validator
that checks several keys at once (a cross-reference, a range that depends on another
key) name the exact key at fault, so :func:`format_validation_error` can give its line.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

__all__ = ["DuplicateKeyError", "LocatedError", "format_validation_error", "line_of", "load_with_lines", "where"]

_MERGE_TAG = "tag:yaml.org,2002:merge"


class DuplicateKeyError(yaml.YAMLError):
    """A mapping gives the same key twice (YAML readers would silently keep the last value).

    Attributes
    ----------
    path : tuple
        Key path of the repeated key (``("population", "total")``).
    first_line, second_line : int
        1-based lines of the two occurrences.
    """

    def __init__(self, path: tuple[Any, ...], first_line: int, second_line: int, *, source: str = "") -> None:
        self.path = path
        self.first_line = first_line
        self.second_line = second_line
        self.source = source
        dotted = ".".join(str(p) for p in path)
        where_ = f"{source}:{second_line}: " if source else f"line {second_line}: "
        super().__init__(
            f"{where_}{dotted}: the key {str(path[-1])!r} is given twice (lines {first_line} and {second_line}); "
            "YAML would silently keep only the last value: delete or rename one of them"
        )


class LocatedError(ValueError):
    """A validation problem at a key path below the model that raises it.

    Raised inside a pydantic validator, its ``loc`` is appended to the validator's own
    location, so the message names the key at fault and its line in the file.
    """

    def __init__(self, loc: tuple[Any, ...], message: str) -> None:
        self.loc = tuple(loc)
        self.message = message
        super().__init__(message)


def _key_of(node: yaml.Node, loader: Any) -> Any:
    """The key a key node stands for, as the mapping will hold it (``12``, ``"walk"``)."""
    if isinstance(node, yaml.ScalarNode):
        try:
            return loader.construct_object(node, deep=True)
        except yaml.YAMLError:
            return node.value
    return f"<{type(node).__name__} at line {node.start_mark.line + 1}>"


def _same_key(key: Any) -> Any:
    """Keys that one mapping of the schema would hold as one: ``12`` and ``"12"`` (int-keyed maps)."""
    if isinstance(key, str) and key.strip().isdigit():
        return int(key)
    return key


def _walk(node: yaml.Node, path: tuple[Any, ...], lines: dict[tuple[Any, ...], int], source: str, loader: Any) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if key_node.tag == _MERGE_TAG:  # `<<: *anchor` merges keys that the mapping may override
                _walk(value_node, path, lines, source, loader)
                continue
            key = _key_of(key_node, loader)
            same = _same_key(key)
            if same in seen:
                raise DuplicateKeyError((*path, key), seen[same], line, source=source)
            seen[same] = line
            lines[(*path, key)] = line
            _walk(value_node, (*path, key), lines, source, loader)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, (*path, i), lines, source, loader)


def load_with_lines(text: str, *, source: str | Path = "<string>") -> tuple[Any, dict[tuple[Any, ...], int]]:
    """Parse YAML text; return the data and a map from key paths to 1-based line numbers.

    Raises
    ------
    DuplicateKeyError
        A mapping gives the same key twice; the message names both lines.
    yaml.YAMLError
        On malformed YAML (its message already carries the line and column).
    """
    loader_cls = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when available: 10× faster
    loader = loader_cls(text)
    try:
        node = loader.get_single_node()
        lines: dict[tuple[Any, ...], int] = {}
        if node is None:
            return None, lines
        _walk(node, (), lines, str(source) if source != "<string>" else "", loader)
        data = loader.construct_document(node)
    finally:
        loader.dispose()
    return data, lines


def line_of(path: tuple[Any, ...], lines: dict[tuple[Any, ...], int]) -> int | None:
    """Line of a key path, or of its nearest ancestor present in the file."""
    for end in range(len(path), -1, -1):
        key = tuple(path[:end])
        if key in lines:
            return lines[key]
        # pydantic reports int-keyed dicts (years, annex rows) with string locations
        alt = tuple(int(p) if isinstance(p, str) and p.isdigit() else p for p in key)
        if alt in lines:
            return lines[alt]
    return None


def where(path: tuple[Any, ...], lines: dict[tuple[Any, ...], int] | None, source: str) -> str:
    """``"file:line: "`` (or ``"line N: "`` without a file) for a key path, to start a message
    with; empty when the path has no line (a study given as a mapping)."""
    line = line_of(path, lines or {})
    if line is None:
        return ""
    return f"{source}:{line}: " if source else f"line {line}: "


def _shown(value: Any) -> str:
    """A value as the user wrote it in YAML (``.inf``, ``.nan``, ``-20``, ``'abc'``)."""
    if isinstance(value, float):
        if math.isnan(value):
            return ".nan"
        if math.isinf(value):
            return ".inf" if value > 0 else "-.inf"
        return f"{value:g}"
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return repr(value)
        return value  # a number YAML read as text (1e9)
    if isinstance(value, (dict, list)):
        text = repr(value)
        return text if len(text) <= 60 else text[:57] + "..."
    return repr(value)


#: pydantic error types about a value out of its range: the message then shows the value given
_RANGE_TYPES = {
    "greater_than",
    "greater_than_equal",
    "less_than",
    "less_than_equal",
    "finite_number",
    "too_short",
    "too_long",
}


def format_validation_error(
    exc: ValidationError,
    *,
    lines: dict[tuple[Any, ...], int] | None = None,
    source: str = "",
    origins: Mapping[str, tuple[str, dict[tuple[Any, ...], int]]] | None = None,
) -> str:
    """Turn a pydantic error into lines of ``file:line: key.path: message``.

    ``origins`` maps a top-level key to the (file, lines) it was read from, when the data
    merges several files (a profile that ``extends`` another).
    """
    out = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        kind = err["type"]
        if loc and loc[-1] == "[key]":  # a mapping's key itself is wrong (a year of the targets)
            loc = loc[:-1]
            key_prefix = "the key "
        else:
            key_prefix = ""
        cause = (err.get("ctx") or {}).get("error")
        if isinstance(cause, LocatedError):
            loc = (*loc, *cause.loc)
            msg = cause.message
        elif kind == "extra_forbidden":
            msg = f"unknown key {str(loc[-1])!r}; check its spelling"
        elif kind == "missing":
            msg = "required key is missing"
        else:
            msg = err["msg"]
            if msg.startswith("Value error, "):
                msg = msg[len("Value error, ") :]
            if msg.startswith("Input should be "):
                msg = "must be " + msg[len("Input should be ") :]
            if kind in _RANGE_TYPES and "input" in err:
                msg += f", got {_shown(err['input'])}"
            msg = key_prefix + msg
        dotted = ".".join(str(p) for p in loc) or "(top level)"
        src, src_lines = source, lines
        if origins and loc and str(loc[0]) in origins:
            src, src_lines = origins[str(loc[0])]
        out.append(f"{where(loc, src_lines, src)}{dotted}: {msg}")
    return "\n".join(out)
