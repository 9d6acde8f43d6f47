"""The ``mtown-geo`` command line."""

from __future__ import annotations

import logging
import sys
import warnings
from pathlib import Path
from typing import Annotated, Any

import typer

from ._errors import DataNotFoundError, InputError, MtownGeoError, MtownGeoWarning
from ._version import __version__
from .batch import run_batch, towns_from_osm
from .demo import run_demo
from .report import status_label
from .study import check, run, template
from .study import site as site_fn
from .validate import render_text

app = typer.Typer(
    name="mtown-geo",
    help="Spatial indicators of Zhejiang's modern beautiful towns (现代化美丽城镇): life circles, parks, greenways.",
    no_args_is_help=True,
    add_completion=False,
)


_VERBOSE_HELP = "Log what the run reads, chooses and writes (INFO level); warnings are shown either way."


def _setup(verbose: bool) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    def show(message: Any, category: type[Warning], filename: str, lineno: int, file: Any = None, line: Any = None) -> None:
        if issubclass(category, MtownGeoWarning):
            typer.secho(f"warning: {message}", fg=typer.colors.YELLOW, err=True)
        else:
            logging.getLogger("py.warnings").debug("%s:%s: %s: %s", filename, lineno, category.__name__, message)

    warnings.showwarning = show


def _fail(exc: BaseException) -> None:
    typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code=2)


def _summary(result: Any) -> None:
    t = result.indicators
    typer.echo(f"\n{result.study.name} — {result.profile.title} — {result.study.year}")
    for _, r in t[t["origin"] == "computed"].iterrows():
        v = r["value"]
        vs = "—" if v is None or v != v else ("≥ " if bool(r.get("lower_bound", False)) else "") + f"{v:.1f}"
        mark = {"pass": "✔", "fail": "✘", "no_data": "?"}.get(r["status"], "·")
        typer.echo(
            f"  {mark} {r['name_zh']} {r['name_en']}: {vs} {r['unit']} (target {r['target']}, {status_label(r['status'])})"
        )
    gaps = result.data_gaps
    if gaps:
        inv = result.tables["inventory"]
        names = "、".join(str(inv.loc[g, "name_zh"]) for g in gaps)
        typer.echo(f"\n  缺数据 data missing (no source holds any; rows resting on them are lower bounds): {names}")
    for warning in result.provenance().warnings:
        typer.secho(f"  ⚠ {warning}", fg=typer.colors.YELLOW)
    if result.out_dir is not None:
        typer.echo(f"\nwrote {result.out_dir}/ (indicators.xlsx, layers.gpkg, map.html, manifest.json...)")


@app.callback(invoke_without_command=True)
def _main(
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
) -> None:
    if version:
        typer.echo(__version__)
        raise typer.Exit()


@app.command()
def demo(
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Output folder: made, or replaced if it holds only an earlier mtown-geo output.")
    ] = Path("mtown_geo_demo"),
    town: Annotated[
        str,
        typer.Option(
            "--town",
            help="The demo town: wudaokou (五道口示范区, Haidian, Beijing; OSM data shipped with mtown-geo) "
            "or karhula (Karhula, Kotka, Finland; OSM data shipped with pyrosm).",
        ),
    ] = "wudaokou",
    cell_m: Annotated[float, typer.Option(help="Grid cell size in metres.")] = 50.0,
    no_tiles: Annotated[bool, typer.Option("--no-tiles", help="Plain map background (no tile server needed).")] = False,
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite",
            help="Write into an output folder that holds other files too: replace only the files mtown-geo wrote there, keep every other file.",
        ),
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help=_VERBOSE_HELP)] = False,
) -> None:
    """Run the whole study on an embedded demo town (default 五道口示范区, Haidian, Beijing; OSM data © OpenStreetMap contributors)."""
    _setup(verbose)
    try:
        result = run_demo(out, town=town, cell_m=cell_m, tiles=not no_tiles, progress=True, overwrite=overwrite)
    except (MtownGeoError, OSError) as exc:
        _fail(exc)
    else:
        _summary(result)


@app.command()
def init(
    path: Annotated[Path, typer.Argument(help="Study file to write.")] = Path("study.yaml"),
    name: Annotated[str, typer.Option(help="Town name.")] = "东门街道",
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented study-file template to fill in."""
    if path.exists() and not force:
        _fail(FileExistsError(f"{path} exists; use --force to overwrite"))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(template(name=name), encoding="utf-8")
    typer.echo(f"wrote {path}: fill in the boundaries and data sources, then `mtown-geo run {path} --out out/`")


@app.command("run")
def run_cmd(
    study_file: Annotated[Path, typer.Argument(help="The study file (see `mtown-geo init`).")],
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            help="Output folder: made, or replaced if it holds only an earlier mtown-geo output (atomically, on success).",
        ),
    ],
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite",
            help="Write into an output folder that holds other files too: replace only the files mtown-geo wrote there, keep every other file.",
        ),
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help=_VERBOSE_HELP)] = False,
) -> None:
    """Compute every indicator of a town and write the report, layers and maps."""
    _setup(verbose)
    try:
        result = run(study_file, out=out, overwrite=overwrite, progress=True)
    except (MtownGeoError, OSError) as exc:
        _fail(exc)
    else:
        _summary(result)


@app.command("validate")
def validate_cmd(
    study_file: Annotated[Path, typer.Argument(help="The study file.")],
    skip: Annotated[
        list[str] | None, typer.Option("--skip", help="A check to leave out (e.g. coordinate_shift); repeatable.")
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help=_VERBOSE_HELP)] = False,
) -> None:
    """Check a study's inputs before computing: CRS, empty or invalid layers, overlap, far or duplicate facilities, GCJ-02 shifts."""
    _setup(verbose)
    try:
        rep = check(study_file, skip=tuple(skip or ()))
    except (MtownGeoError, OSError) as exc:
        _fail(exc)
    else:
        typer.echo(render_text(rep))
        if not rep.ok:
            raise typer.Exit(code=1)


@app.command()
def site(
    study_file: Annotated[Path, typer.Argument(help="The study file.")],
    category: Annotated[
        str,
        typer.Option(
            "--category",
            "-c",
            help="Facility category: its id, English or Chinese name or an alias of the profile, e.g. 幼儿园, 托育, 卫生院, kindergarten.",
        ),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder for the proposed sites.")],
    target: Annotated[
        float | None,
        typer.Option(
            help="Coverage target 0–1 (default: the target of the annex row that measures the category, e.g. row 11 for childcare, else the circle's row)."
        ),
    ] = None,
    k: Annotated[int | None, typer.Option("--k", help="At most this many new sites.")] = None,
    method: Annotated[str, typer.Option(help="greedy, or exact (integer program; small towns).")] = "greedy",
    candidates: Annotated[Path | None, typer.Option(help="Candidate sites (points or plots); default: street junctions.")] = None,
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite",
            help="Write into an output folder that holds other files too: replace only the files mtown-geo wrote there, keep every other file.",
        ),
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help=_VERBOSE_HELP)] = False,
) -> None:
    """Where to build: the fewest new sites of a category that reach the coverage target."""
    _setup(verbose)
    if method not in ("greedy", "exact"):
        _fail(ValueError(f"method must be greedy or exact, got {method!r}"))
    try:
        plan = site_fn(
            study_file,
            category=category,
            target=target,
            k=k,
            method=method,  # type: ignore[arg-type]
            candidates=candidates,
            out=out,
            overwrite=overwrite,
        )
    except (MtownGeoError, OSError) as exc:
        _fail(exc)
    else:
        typer.echo(plan.message())
        sites = plan.sites.to_crs(4326)
        for (_, r), pt in zip(sites.iterrows(), sites.geometry, strict=True):
            typer.echo(f"  {int(r['order'])}. {pt.x:.6f}°E {pt.y:.6f}°N (WGS-84) → {100 * r['coverage']:.1f}%")
        typer.echo(f"wrote {out}/ (siting.gpkg, new_sites.csv, siting_summary.csv, map.html)")


@app.command("batch")
def batch_cmd(
    towns: Annotated[
        str,
        typer.Argument(
            help="Town polygons (GeoPackage/GeoJSON/Shapefile with name and code columns), or 'osm:LEVEL' for the extract's admin areas."
        ),
    ],
    osm: Annotated[Path, typer.Option("--osm", help="Regional OSM extract (.osm.pbf) covering every town.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder: a sub-folder per town and summary.csv/xlsx.")],
    study_file: Annotated[
        Path | None, typer.Option("--study", help="YAML file of study keys applied to every town (year, profile, demand...).")
    ] = None,
    layer: Annotated[str | None, typer.Option(help="Layer of a towns file that holds several.")] = None,
    name_col: Annotated[str, typer.Option(help="Town name column.")] = "name",
    code_col: Annotated[str, typer.Option(help="Town code column (行政区划代码).")] = "code",
    builtup: Annotated[str, typer.Option(help="Built-up area: 'osm' (OSM land use) or 'town' (the whole polygon).")] = "osm",
    workers: Annotated[int | None, typer.Option(help="Workers of the local cluster, at least 1 (default: one per core).")] = None,
    dashboard: Annotated[
        bool,
        typer.Option(
            "--dashboard",
            help="Serve Dask's dashboard for the local cluster (needs bokeh; it has no login, so it stays on "
            "127.0.0.1). Off by default, and the cluster then also skips the sampling only the dashboard shows "
            "(Dask's profiler, its frequent system and event-loop checks).",
        ),
    ] = False,
    dashboard_address: Annotated[str, typer.Option(help="Address of the dashboard, with --dashboard.")] = "127.0.0.1:8787",
    scheduler: Annotated[
        str | None,
        typer.Option(
            help="Address of an existing Dask scheduler, e.g. tls://10.0.0.5:8786 (default: a local cluster on 127.0.0.1 "
            "with TLS certificates made for the run). Give its TLS files with --tls-ca-file, --tls-cert and --tls-key, "
            "or set them in Dask's configuration (distributed.comm.tls.*)."
        ),
    ] = None,
    tls_ca_file: Annotated[
        Path | None, typer.Option(help="With --scheduler: the CA certificate that signed the cluster's certificates.")
    ] = None,
    tls_cert: Annotated[Path | None, typer.Option(help="With --scheduler: this client's certificate (PEM).")] = None,
    tls_key: Annotated[
        Path | None, typer.Option(help="With --scheduler: this client's private key (PEM), unless --tls-cert holds it.")
    ] = None,
    summary_map: Annotated[
        bool,
        typer.Option(
            "--summary-map/--no-summary-map",
            help="After the summary, map every town by its 15-minute life-circle status (summary_map/: PNG, PDF, HTML).",
        ),
    ] = True,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help=_VERBOSE_HELP)] = False,
) -> None:
    """Run every town of a layer on Dask; towns finished with the same inputs and settings are kept when a batch is started again.

    By default the towns run on a local cluster that listens on 127.0.0.1 only and speaks TLS with certificates made for the run: no other program on the machine can connect to it or run code in its workers. It serves no dashboard unless --dashboard is given.

    On a cluster of your own (--scheduler), use TLS: start the scheduler and the workers with their certificates (dask scheduler --tls-ca-file ca.pem --tls-cert scheduler.pem --tls-key scheduler.key, the same for dask worker), then give this command the CA file and a client certificate and key (--tls-ca-file, --tls-cert, --tls-key), or set distributed.comm.tls.ca-file, distributed.comm.tls.client.cert and distributed.comm.tls.client.key in Dask's configuration (~/.config/dask/*.yaml, or the file DASK_CONFIG names). A tcp:// scheduler without TLS is used with a warning: whoever can reach it can run code as its workers' user.
    """
    _setup(verbose)
    try:
        security = _tls_security(scheduler, tls_ca_file, tls_cert, tls_key)
        layer_arg: str | int | None = int(layer) if layer is not None and layer.isdigit() else layer
        summary = run_batch(
            towns_from_osm(osm, admin_level=towns.split(":", 1)[1]) if towns.startswith("osm:") else towns,
            osm=osm,
            out=out,
            study=study_file,
            name_col=name_col,
            code_col=code_col,
            builtup=builtup,
            scheduler=scheduler,
            n_workers=workers,
            progress=True,
            security=security,
            dashboard=dashboard_address if dashboard else False,
            layer=layer_arg,
            summary_map=summary_map,
        )
    except (MtownGeoError, OSError) as exc:
        _fail(exc)
    else:
        done = int((summary["status"] == "done").sum())
        if summary.attrs.get("resume"):
            typer.echo(summary.attrs["resume"])
        typer.echo(f"{len(summary)} towns: {done} done, {len(summary) - done} failed — {out}/summary.csv")
        for _, r in summary[summary["status"] == "failed"].iterrows():
            typer.secho(f"  failed: {r['name']}: {r['error']}", fg=typer.colors.RED)


def _tls_security(scheduler: str | None, ca_file: Path | None, cert: Path | None, key: Path | None) -> Any:
    """The TLS settings of ``batch --scheduler`` (None: Dask's configuration)."""
    if ca_file is None and cert is None and key is None:
        return None
    if scheduler is None:
        raise InputError("--tls-ca-file, --tls-cert and --tls-key are for --scheduler; the local cluster makes its own")
    if ca_file is None or cert is None:
        raise InputError("give both --tls-ca-file and --tls-cert (and --tls-key unless the certificate file holds the key)")
    for flag, path in (("--tls-ca-file", ca_file), ("--tls-cert", cert), ("--tls-key", key)):
        if path is not None and not path.is_file():
            raise DataNotFoundError(f"{flag} {path} does not exist")
    from distributed.security import Security

    return Security(
        tls_ca_file=str(ca_file),
        tls_client_cert=str(cert),
        tls_client_key=None if key is None else str(key),
        require_encryption=True,
    )


def main() -> None:
    """Entry point of the ``mtown-geo`` script."""
    for stream in (sys.stdout, sys.stderr):  # a console or file whose code page has no Chinese (Windows)
        try:
            "镇✔".encode(stream.encoding or "ascii")
        except (LookupError, UnicodeEncodeError):
            reconfigure = getattr(stream, "reconfigure", None)
            if reconfigure is not None:
                reconfigure(errors="backslashreplace")
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
