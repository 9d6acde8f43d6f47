"""Make the pictures of docs/maps.md: the demo town's print maps, downscaled, and its HTML map.

Runs the study of the embedded demo town (``mtown_geo.demo_study``, OSM data shipped with
the package) with print maps, writes a small copy of a few of its 300 dpi PNGs into
``docs/img/maps/`` (1000 pixels wide, 256 colours), and screenshots of its interactive maps
as they open (headless Chromium, offline, no tiles): the town map, the policy-task map and the
siting map of new kindergartens. Nothing is downloaded.

Usage, from the project's root::

    python docs/_gallery.py            # rewrite docs/img/maps/*.png
    python docs/_gallery.py --width 1400
"""

from __future__ import annotations

import argparse
import logging
import shutil
import subprocess
import tempfile
import warnings
from pathlib import Path

from PIL import Image

import mtown_geo as mg

HERE = Path(__file__).resolve().parent
OUT = HERE / "img" / "maps"

#: The maps shown in docs/maps.md (file stems of the run's maps/ folder).
MAPS = ("15min_coverage", "15min_childcare", "facilities")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--width", type=int, default=1000, help="width of the pictures in pixels (default 1000)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="mtown-geo-gallery-") as tmp:
        st = mg.load_study(mg.demo_study(Path(tmp) / "study"))
        outputs = {"maps": False, "rasters": False, "geopackage": False, "tiles": False}
        st = st.model_copy(
            update={
                "outputs": st.outputs.model_copy(update=outputs),
                "siting": st.siting.model_copy(update={"enabled": False}),
            }
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", mg.MtownGeoWarning)
            result = mg.run(st, out=Path(tmp) / "out")
        for name in MAPS:
            with Image.open(Path(tmp) / "out" / "maps" / f"{name}.png") as img:
                small = img.convert("RGB").resize(
                    (args.width, round(img.height * args.width / img.width)), Image.Resampling.LANCZOS
                )
            small = small.quantize(colors=256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
            small.save(OUT / f"{name}.png", optimize=True)
            print(f"wrote {OUT / f'{name}.png'}")
        _html_screenshot(result, Path(tmp), args.width)


def _html_screenshot(result: mg.StudyResult, tmp: Path, width: int) -> None:
    """The interactive maps as they open, offline, on the run's vector basemap: the town map, the
    policy-task map and the siting map of three new kindergartens."""
    from mtown_geo.pipeline.tasks import map_specs
    from mtown_geo.render import save_map, task_map, town_map

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        print("chromium is not installed: no screenshot of the HTML maps")
        return
    fmap = town_map(result.layers, profile=result.profile, tiles=False, town=result.study.name, basemap=result.basemap)
    _screenshot(chromium, save_map(fmap, tmp / "map.html"), "map_html", width)
    fmap = task_map(
        map_specs(result),
        boundaries=result.layers["boundaries"],
        tiles=False,
        town=result.study.name,
        basemap=result.basemap,
    )
    _screenshot(chromium, save_map(fmap, tmp / "tasks_map.html"), "tasks_map_html", width)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.MtownGeoWarning)
        mg.study.site(result.study, category="kindergarten", k=3, out=tmp / "site")
    _screenshot(chromium, tmp / "site" / "map.html", "siting_map_html", width)


def _screenshot(chromium: str, page: Path, name: str, width: int) -> None:
    """A page as it opens in headless Chromium (1400 × 900), downscaled into ``docs/img/maps/<name>.png``."""
    shot = page.with_suffix(".png")
    subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--hide-scrollbars",
            f"--screenshot={shot}",
            "--window-size=1400,900",
            "--virtual-time-budget=5000",
            page.as_uri(),
        ],
        check=True,
        capture_output=True,
    )
    with Image.open(shot) as img:
        small = img.convert("RGB").resize((width, round(img.height * width / img.width)), Image.Resampling.LANCZOS)
    small = small.quantize(colors=256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
    small.save(OUT / f"{name}.png", optimize=True)
    print(f"wrote {OUT / f'{name}.png'}")


if __name__ == "__main__":
    main()
