"""The import contract: the package's layers, no cycle, no upward import, no unlisted import inside a function.

Read from the source with :mod:`ast` (nothing is imported to check it), so a new module, a new
import or a new import inside a function is judged the moment it is written:

* every module belongs to a layer (``LAYERS``) and imports only from the layers below it or its own
  (``MAY_IMPORT``); type-only imports obey the same table;
* the import graph has no cycle, counting imports inside functions;
* an import inside a function is allowed only for the heavy renderers (``LAZY_INTERNAL``) and the
  heavy or optional third-party libraries (``LAZY_THIRD_PARTY``), each with its reason;
* matplotlib and folium are used only by ``render``; scipy's Dijkstra only by the engine.

``KNOWN`` lists the breaches that remain, each with its reason; it may only shrink: a breach not
in it fails, and so does an entry that no longer occurs. ``python -m tests.test_layers`` prints
today's breaches with their lines.
"""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import networkx as nx
import pytest

PKG = Path(__file__).resolve().parents[1] / "mtown_geo"
ORDER = ["foundations", "sources", "model", "engine", "indicators", "outputs", "pipeline", "batch", "faces"]

#: layer -> modules (prefixes, without "mtown_geo."; "" is the package root)
LAYERS = {
    "foundations": [
        "_errors",
        "_yaml",
        "_version",
        "_io",
        "_points",
        "_geom",
        "_frames",
        "_words",
        "_gc",
        "crs",
        "standards",
        "documents",
    ],
    "sources": ["sources"],
    "model": ["network", "_graph", "_lines", "demand", "facilities", "terrain", "parkland", "greenlines"],
    "engine": ["access"],
    "indicators": [
        "lifecircle",
        "parks",
        "greenways",
        "isochrones",
        "rasters",
        "siting",
        "streets",
        "villages",
        "transit",
        "greenspace",
        "chargers",
        "neighbourhood",
        "inventory",
    ],
    "outputs": ["report", "render", "render._leaflet", "provenance", "_tablespec"],
    "pipeline": ["study", "pipeline", "validate"],
    "batch": ["batch"],
    "faces": ["demo", "cli", ""],
}
MAY_IMPORT = {
    "foundations": {"foundations"},
    "sources": {"foundations", "sources"},
    "model": {"foundations", "sources", "model"},
    "engine": {"foundations", "model", "engine"},
    "indicators": {"foundations", "model", "engine", "indicators"},  # no sources: indicators read no files
    "outputs": {"foundations", "sources", "model", "engine", "indicators", "outputs"},
    "pipeline": set(ORDER[:7]),
    "batch": set(ORDER[:8]),
    "faces": set(ORDER),
}
#: the only package imports allowed inside a function: (importer prefix, imported prefix) -> why
LAZY_INTERNAL = {
    ("mtown_geo.pipeline.outputs", "mtown_geo.render"): "folium + matplotlib (0.5 s), loaded only when maps are written",
    ("mtown_geo.pipeline.run", "mtown_geo.render"): "site()'s map and the run's basemap, loaded only when maps are drawn",
    ("mtown_geo.pipeline.tasks", "mtown_geo.render"): "the task maps: folium + matplotlib, loaded only when written",
    ("mtown_geo.batch", "mtown_geo.render"): "the summary map after a batch: folium + matplotlib, loaded only then",
}
#: third-party libraries that may be imported inside a function -> why
LAZY_THIRD_PARTY = {
    "osmnx": "0.9 s; online place names only",
    "requests": "0.1 s; online place names only, with osmnx",
    "networkx": "0.15 s; graph import and export only",
    "scipy.stats": "0.7 s; the coordinate-shift test only",
    "dask": "batch only",
    "distributed": "batch only",
    "openpyxl": "0.1 s; XLSX input only",
    "psutil": "optional, with a fallback",
    "resource": "POSIX only",
}
#: libraries only one part of the package may use
ONLY_IN = {
    "matplotlib": "mtown_geo.render",
    "folium": "mtown_geo.render",
    "scipy.sparse.csgraph.dijkstra": "mtown_geo.access",
    "scipy.sparse.csgraph.shortest_path": "mtown_geo.access",
}


#: breaches accepted for now, (kind, importer, imported) -> reason; it may only shrink
KNOWN: dict[tuple[str, str, str], str] = {}

# ---------------------------------------------------------------------------------------


def _name(path: Path) -> str:
    parts = ("mtown_geo", *path.relative_to(PKG).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_name(p): p for p in sorted(PKG.rglob("*.py"))}


def _within(mod: str, prefix: str) -> bool:
    return mod == prefix or mod.startswith(prefix + ".")


def layer_of(mod: str) -> str | None:
    """The layer of a module: the one whose longest prefix holds it."""
    best: tuple[str, int] | None = None
    for layer, names in LAYERS.items():
        for n in names:
            pre = f"mtown_geo.{n}" if n else "mtown_geo"
            holds = _within(mod, pre) if n else mod == pre  # the root holds itself only
            if holds and (best is None or len(pre) > best[1]):
                best = (layer, len(pre))
    return best[0] if best else None


def imports(mod: str) -> list[tuple[str, int, str | None]]:
    """(imported module, line, enclosing function or None) of every import, TYPE_CHECKING ones included."""
    path = MODULES[mod]
    pkg = mod.split(".") if path.name == "__init__.py" else mod.split(".")[:-1]
    found: list[tuple[str, int, str | None]] = []

    def visit(node: ast.AST, func: str | None) -> None:
        for ch in ast.iter_child_nodes(node):
            f = func or (ch.name if isinstance(ch, (ast.FunctionDef, ast.AsyncFunctionDef)) else None)
            if isinstance(ch, ast.Import):
                found.extend((a.name, ch.lineno, f) for a in ch.names)
            elif isinstance(ch, ast.ImportFrom):
                if ch.level:
                    base = ".".join(pkg[: len(pkg) - ch.level + 1] + ([ch.module] if ch.module else []))
                else:
                    base = ch.module or ""
                for a in ch.names:
                    sub = f"{base}.{a.name}"
                    found.append((sub if sub in MODULES or not _within(base, "mtown_geo") else base, ch.lineno, f))
            visit(ch, f)

    visit(ast.parse(path.read_text(encoding="utf-8")), None)
    return found


def problems() -> dict[tuple[str, str, str], str]:
    """Every breach of the contract, keyed (kind, importer, imported), with where it is."""
    out: dict[tuple[str, str, str], str] = {}
    graph = nx.DiGraph()
    for mod in MODULES:
        layer = layer_of(mod)
        if layer is None:
            out["unassigned", mod, ""] = "add it to LAYERS"
            continue
        for target, line, func in imports(mod):
            where = f"{MODULES[mod].relative_to(PKG.parent)}:{line}"
            internal = _within(target, "mtown_geo")
            for lib, home in ONLY_IN.items():
                if _within(target, lib) and not _within(mod, home):
                    out["only-in", mod, target] = f"{where}: {lib} belongs in {home}"
            if internal and target != mod:
                graph.add_edge(mod, target)
                if layer_of(target) not in MAY_IMPORT[layer]:
                    out["upward", mod, target] = f"{where}: {layer} may not import {layer_of(target)}"
                if func and not any(_within(mod, a) and _within(target, b) for a, b in LAZY_INTERNAL):
                    out["local", mod, target] = f"{where} in {func}(): import at the top (or list it in LAZY_INTERNAL)"
            elif func and not internal and not any(_within(target, k) for k in (*LAZY_THIRD_PARTY, *ONLY_IN)):
                out["local", mod, target] = f"{where} in {func}(): not a heavy library; import it at the top"
    for scc in nx.strongly_connected_components(graph):
        if len(scc) > 1:
            out["cycle", " ".join(sorted(scc)), ""] = "import cycle"
    return out


FOUND = problems()


@pytest.mark.parametrize("kind", ["unassigned", "cycle", "upward", "local", "only-in"])
def test_contract(kind: str) -> None:
    new = {k: v for k, v in FOUND.items() if k[0] == kind and k not in KNOWN}
    assert not new, "\n".join(f"{k[1]} -> {k[2]}: {v}" for k, v in sorted(new.items()))


def test_known_breaches_still_exist() -> None:
    """The list of accepted breaches only shrinks: one that no longer occurs must be deleted from it."""
    fixed = sorted(set(KNOWN) - set(FOUND))
    assert not fixed, f"fixed, delete from KNOWN: {fixed}"


def test_the_checker_sees_a_cycle_an_upward_and_a_local_import(tmp_path: Path, monkeypatch) -> None:
    """The walk itself: a package with each breach gives each problem (so an empty answer means something)."""
    pkg = tmp_path / "mtown_geo"
    (pkg / "sources").mkdir(parents=True)
    (pkg / "__init__.py").write_text("from . import access\n", encoding="utf-8")
    (pkg / "sources" / "__init__.py").write_text("", encoding="utf-8")
    (pkg / "crs.py").write_text("from .network import Network\n", encoding="utf-8")
    (pkg / "network.py").write_text("from . import crs\n\n\ndef f():\n    import json\n", encoding="utf-8")
    (pkg / "access.py").write_text("from scipy.sparse.csgraph import dijkstra\n", encoding="utf-8")
    (pkg / "siting.py").write_text("from scipy.sparse.csgraph import dijkstra\n", encoding="utf-8")
    (pkg / "odd.py").write_text("", encoding="utf-8")
    monkeypatch.setattr(sys.modules[__name__], "PKG", pkg)
    monkeypatch.setattr(sys.modules[__name__], "MODULES", {_name(p): p for p in sorted(pkg.rglob("*.py"))})
    assert set(problems()) == {
        ("cycle", "mtown_geo.crs mtown_geo.network", ""),
        ("upward", "mtown_geo.crs", "mtown_geo.network"),
        ("local", "mtown_geo.network", "json"),
        ("only-in", "mtown_geo.siting", "scipy.sparse.csgraph.dijkstra"),
        ("unassigned", "mtown_geo.odd", ""),
    }


def test_one_shortest_path_search_in_the_package() -> None:
    """scipy's Dijkstra is called in one place, the engine's csr_dijkstra, which every search goes through."""
    calls = []
    for mod, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                f = node.func
                name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
                if name in ("dijkstra", "shortest_path"):
                    calls.append((mod, node.lineno))
    assert [m for m, _ in calls] == ["mtown_geo.access"], calls


def test_import_loads_no_renderer_and_no_heavy_library() -> None:
    heavy = ("matplotlib", "folium", "osmnx", "dask", "networkx", "scipy.stats", "requests")
    code = f"import sys, mtown_geo; print(' '.join(m for m in {heavy!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=PKG.parent)
    assert done.stdout.strip() == ""


def test_public_module_paths_are_the_modules_themselves() -> None:
    import mtown_geo as mg

    for short in ("network", "demand", "facilities", "terrain", "lifecircle", "parks", "greenways", "isochrones", "tasks"):
        assert importlib.import_module(f"mtown_geo.{short}") is getattr(mg, short)
    assert mg.network.Network is mg.Network
    # the policy tasks live in the pipeline; their old path is the same module, not a copy
    from mtown_geo.tasks import run_step

    assert mg.tasks is mg.pipeline.tasks and run_step is mg.pipeline.tasks.run_step


if __name__ == "__main__":  # python -m tests.test_layers: today's breaches, in KNOWN's form
    for key, text in sorted(FOUND.items()):
        print(f"    {key!r}: ...,  # {text}")
    print(f"{len(FOUND)} breaches; {len(set(KNOWN) - set(FOUND))} entries of KNOWN no longer occur")
