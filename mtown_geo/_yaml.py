"""YAML reading that remembers the line of every key, for error messages that point at it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

__all__ = ["format_validation_error", "load_with_lines"]


def _walk(node: yaml.Node, path: tuple[Any, ...], lines: dict[tuple[Any, ...], int]) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key: Any = int(key_node.value) if key_node.tag.endswith(":int") else key_node.value
            lines[(*path, key)] = key_node.start_mark.line + 1
            _walk(value_node, (*path, key), lines)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, (*path, i), lines)


def load_with_lines(text: str, *, source: str | Path = "<string>") -> tuple[Any, dict[tuple[Any, ...], int]]:
    """Parse YAML text; return the data and a map from key paths to 1-based line numbers.

    Raises
    ------
    yaml.YAMLError
        On malformed YAML (its message already carries the line and column).
    """
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when available: 10× faster
    node = yaml.compose(text, Loader=loader)
    data = yaml.load(text, Loader=loader)
    lines: dict[tuple[Any, ...], int] = {}
    if node is not None:
        _walk(node, (), lines)
    return data, lines


def _line_of(path: tuple[Any, ...], lines: dict[tuple[Any, ...], int]) -> int | None:
    """Line of a key path, or of its nearest ancestor present in the file."""
    for end in range(len(path), -1, -1):
        key = tuple(path[:end])
        if key in lines:
            return lines[key]
        # pydantic reports int-keyed dicts (years) with string locations
        alt = tuple(int(p) if isinstance(p, str) and p.isdigit() else p for p in key)
        if alt in lines:
            return lines[alt]
    return None


def format_validation_error(exc: ValidationError, *, lines: dict[tuple[Any, ...], int] | None = None, source: str = "") -> str:
    """Turn a pydantic error into lines of ``file:line: key.path: message``."""
    out = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        dotted = ".".join(str(p) for p in loc) or "(top level)"
        kind = err["type"]
        if kind == "extra_forbidden":
            msg = f"unknown key {str(loc[-1])!r}; check its spelling"
        elif kind == "missing":
            msg = "required key is missing"
        else:
            msg = err["msg"]
        line = _line_of(loc, lines or {})
        where = f"{source}:{line}: " if line is not None and source else (f"line {line}: " if line else "")
        out.append(f"{where}{dotted}: {msg}")
    return "\n".join(out)
