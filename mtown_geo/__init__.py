"""mtown_geo: spatial indicators of Zhejiang's modern beautiful towns (现代化美丽城镇).

Travel times from homes to the facilities of daily life along real road networks,
5/15/30-minute life-circle coverage, park service-radius coverage and greenway length
per 10,000 residents, and the policy's other spatial tasks (street density, village roads,
bus coverage, green space, chargers, neighbourhood centres), computed to a documented
standard profile.
"""

import importlib as _importlib
import sys as _sys

from . import (
    access,
    batch,
    chargers,
    crs,
    demand,
    facilities,
    greenspace,
    greenways,
    isochrones,
    lifecircle,
    neighbourhood,
    network,
    parks,
    pipeline,
    rasters,
    report,
    siting,
    sources,
    standards,
    streets,
    study,
    terrain,
    transit,
    validate,
    villages,
)
from ._errors import (
    AssumptionWarning,
    CleanupWarning,
    CoordinateShiftWarning,
    CRSError,
    DataNotFoundError,
    DeprecatedNameWarning,
    DisconnectedNetworkWarning,
    DiskFullError,
    EmptyCategoryWarning,
    GridResolutionWarning,
    IncompleteDataWarning,
    InputError,
    MtownGeoError,
    MtownGeoWarning,
    NetworkError,
    OfflineError,
    OutputFolderError,
    OutputNotWritableError,
    ProfileError,
    RepairWarning,
    SnapWarning,
    StudyError,
    TargetWarning,
    UnknownNameError,
)
from ._version import __version__
from .demo import demo_boundaries, demo_osm_path, demo_study
from .network import Network
from .pipeline import tasks
from .study import StudyResult, load_study, run

#: ``mtown_geo.tasks`` is the module :mod:`mtown_geo.pipeline.tasks` itself (not a copy):
#: ``import mtown_geo.tasks``, ``from mtown_geo.tasks import run_step`` and monkeypatching see one object.
_sys.modules.setdefault(f"{__name__}.tasks", tasks)


def __getattr__(name: str) -> object:
    # the map renderers pull in matplotlib and folium: loaded on first use
    if name == "render":
        return _importlib.import_module(".render", __name__)
    raise AttributeError(f"module 'mtown_geo' has no attribute {name!r}")


__all__ = [
    "AssumptionWarning",
    "CRSError",
    "CleanupWarning",
    "CoordinateShiftWarning",
    "DataNotFoundError",
    "DeprecatedNameWarning",
    "DisconnectedNetworkWarning",
    "DiskFullError",
    "EmptyCategoryWarning",
    "GridResolutionWarning",
    "IncompleteDataWarning",
    "InputError",
    "MtownGeoError",
    "MtownGeoWarning",
    "Network",
    "NetworkError",
    "OfflineError",
    "OutputFolderError",
    "OutputNotWritableError",
    "ProfileError",
    "RepairWarning",
    "SnapWarning",
    "StudyError",
    "StudyResult",
    "TargetWarning",
    "UnknownNameError",
    "__version__",
    "access",
    "batch",
    "chargers",
    "crs",
    "demand",
    "demo_boundaries",
    "demo_osm_path",
    "demo_study",
    "facilities",
    "greenspace",
    "greenways",
    "isochrones",
    "lifecircle",
    "load_study",
    "neighbourhood",
    "network",
    "parks",
    "pipeline",
    "rasters",
    "render",
    "report",
    "run",
    "siting",
    "sources",
    "standards",
    "streets",
    "study",
    "tasks",
    "terrain",
    "transit",
    "validate",
    "villages",
]
