"""Errors and warnings raised by mtown_geo.

Every error derives from :class:`MtownGeoError` *and* from the built-in exception a
caller would naturally catch (``ValueError`` for bad input, ``FileNotFoundError`` for
a missing file...), so ``except ValueError`` keeps working in user code while
``except MtownGeoError`` catches everything the toolkit raises on purpose.
"""

from __future__ import annotations

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
    "NetworkError",
    "OfflineError",
    "OutputFolderError",
    "OutputNotWritableError",
    "ProfileError",
    "RepairWarning",
    "SnapWarning",
    "StudyError",
    "TargetWarning",
    "UnknownNameError",
]


class MtownGeoError(Exception):
    """Root of every error raised on purpose by mtown_geo."""


class CRSError(MtownGeoError, ValueError):
    """A layer has no CRS, or a geographic CRS where metres are needed."""


class InputError(MtownGeoError, ValueError):
    """An input layer, table or argument is unusable (empty, wrong type, bad value)."""


class NetworkError(MtownGeoError, ValueError):
    """A road network cannot be built or used (no ways for the mode, unknown mode...)."""


class ProfileError(MtownGeoError, ValueError):
    """A standard profile is missing, malformed or has an unknown key."""


class UnknownNameError(ProfileError, KeyError):
    """A name the profile does not know (a circle, category, mode or speed group).

    Also a ``KeyError``, as a dictionary lookup would raise; unlike ``KeyError`` its text is
    the message itself (not its repr), with the closest known name when there is one.
    """

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class StudyError(MtownGeoError, ValueError):
    """A study file is malformed: the message names the key and its line."""


class DataNotFoundError(MtownGeoError, FileNotFoundError):
    """An input file does not exist."""


class DiskFullError(MtownGeoError, OSError):
    """Outputs cannot be written: the disk is full (the message names the folder and the space needed)."""


class OfflineError(MtownGeoError, ConnectionError):
    """Online data (OSM by place name) was asked for, but the service cannot be reached."""


class OutputFolderError(MtownGeoError, FileExistsError):
    """An output folder is refused: it holds files mtown-geo did not write, it is the
    current, home or study folder (or a parent of one), a file, or a symbolic link.
    Nothing is written or deleted; the message says how to proceed."""


class OutputNotWritableError(MtownGeoError, PermissionError):
    """The output folder, or the folder it is made in, cannot be written (checked before computing)."""


class MtownGeoWarning(UserWarning):
    """Root of the warnings issued by mtown_geo."""


class SnapWarning(MtownGeoWarning):
    """Facilities or demand units lie farther from the network than allowed."""


class EmptyCategoryWarning(MtownGeoWarning):
    """A facility category has no facility: every travel time to it is infinite."""


class DisconnectedNetworkWarning(MtownGeoWarning):
    """The network falls into several pieces that cannot reach each other."""


class CoordinateShiftWarning(MtownGeoWarning):
    """Points look shifted against the road network (likely GCJ-02 or BD-09 coordinates)."""


class RepairWarning(MtownGeoWarning):
    """Input data was repaired (invalid geometries, road topology): see the report."""


class TargetWarning(MtownGeoWarning):
    """A coverage target cannot be reached with the candidate sites."""


class GridResolutionWarning(MtownGeoWarning):
    """The demand grid is too coarse for the area or for the reach it must resolve: rates look plausible but are not."""


class AssumptionWarning(MtownGeoWarning):
    """A result rests on a rule the profile marks as unverified."""


class CleanupWarning(MtownGeoWarning):
    """Leftovers of an interrupted earlier write (hidden ``.NAME.partial-*`` folders) were removed."""


class DeprecatedNameWarning(FutureWarning):
    """An old name of an argument value or a method was used: the message gives the new name.

    A ``FutureWarning`` (shown by default: the old name will stop working), and on purpose
    not a :class:`MtownGeoWarning`: it speaks to the code calling the toolkit, not about the
    data, so a study run does not list it among a town's notes.
    """


class IncompleteDataWarning(MtownGeoWarning):
    """An input file looks incomplete (e.g. an OSM file whose data stop short of its declared extent)."""
