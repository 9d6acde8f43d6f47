"""Writing outputs safely: never half-written, never over a file the toolkit did not write.

Every output folder (``run``, ``site``, ``demo``, each town of a batch) goes through
:func:`atomic_dir`, and every folder and file the toolkit writes follows these rules:

* The outputs are built in a hidden sibling folder ``.NAME.partial-XXXXXXXX`` and moved
  into place only when complete; a failure, Ctrl+C or ``SIGTERM`` removes it and leaves the
  target as it was.
* ``manifest.json`` records that mtown-geo wrote the folder, with the list of the files it
  wrote (size and SHA-256 of each). An existing folder is replaced only when it holds
  nothing but such files, unchanged; any other non-empty folder is refused
  (:class:`~mtown_geo.OutputFolderError`) unless ``overwrite=True``, which replaces only the
  toolkit's own files and leaves every other file in place. A file the toolkit wrote and
  someone changed afterwards counts as the user's.
* Never written into: the current folder or a parent of it, the home folder or a parent of
  it, a file-system root, the study file's folder (or a parent of it), a symbolic link.
* Leftovers of a killed earlier write that are recognisably the toolkit's (a tag file
  naming the target, a process that no longer runs) are removed on the next write and
  named in a :class:`~mtown_geo.CleanupWarning`.
* Folders and files are created with the permissions the process umask gives (``0755`` /
  ``0644`` under umask 022), like any file the user makes.
* Folders are never renamed over existing ones (Windows refuses that): an existing folder
  keeps its place, and its files are exchanged one by one, with a roll-back on failure.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import json
import logging
import os
import re
import secrets
import shutil
import signal
import socket
import threading
import time
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from ._errors import CleanupWarning, OutputFolderError, OutputNotWritableError
from ._version import __version__

__all__ = [
    "MANIFEST",
    "MARKER",
    "atomic_dir",
    "atomic_file",
    "check_output_dir",
    "check_output_root",
    "file_sha256",
    "input_sha256",
    "own_files",
    "write_manifest_text",
]

log = logging.getLogger(__name__)

#: File name of the manifest every output folder gets (written last).
MANIFEST = "manifest.json"
#: Key of the manifest that marks a folder as written by mtown-geo and lists its files.
MARKER = "mtown_geo_output"
_FORMAT = 1
#: Tag file inside the toolkit's hidden work folders (who made it, for which target).
_TAG = ".mtown-geo-work.json"
_KINDS = ("partial", "old")
_SHOW = 6  # entries named in a refusal


def file_sha256(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file's bytes (hex)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def input_sha256(path: str | os.PathLike[str]) -> str:
    """SHA-256 of an input file, hashed once per process while its size and modification time stay.

    The towns of a batch share one regional extract: each worker hashes it once, not once per town.
    """
    p = Path(path).resolve()
    st = p.stat()
    return _input_sha256(str(p), st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=64)
def _input_sha256(path: str, size: int, mtime_ns: int) -> str:
    return file_sha256(path)


# -- signals: SIGTERM (and SIGHUP / SIGBREAK where they exist) become an exception ---------


class _Terminated(BaseException):
    """A termination signal arrived while outputs were being written (clean-up runs first)."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"terminated by signal {signum} while writing outputs")
        self.signum = signum


def _termination_signals() -> list[int]:
    names = ("SIGTERM", "SIGHUP", "SIGBREAK")  # SIGHUP: not on Windows; SIGBREAK: Windows only
    return [int(getattr(signal, n)) for n in names if hasattr(signal, n)]


@contextlib.contextmanager
def _signals_raise() -> Iterator[None]:
    """Turn termination signals into an exception for the duration of a write.

    Only signals whose handler is the default (terminate) are taken over, and only in the
    main thread (Python delivers signals there; Dask workers run tasks in other threads).
    The old handlers are restored on exit; a signal that arrived is then delivered again,
    so the process still ends as the sender asked, after the clean-up.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    hit: list[int] = []

    def handler(signum: int, frame: Any) -> None:
        if hit:  # a second signal during the clean-up: remembered, not raised
            return
        hit.append(signum)
        raise _Terminated(signum)

    installed: dict[int, Any] = {}
    for sig in _termination_signals():
        try:
            if signal.getsignal(sig) is signal.SIG_DFL:
                signal.signal(sig, handler)
                installed[sig] = signal.SIG_DFL
        except (OSError, ValueError):  # pragma: no cover - a signal the platform cannot handle
            continue
    try:
        yield
    finally:
        for sig, old in installed.items():
            signal.signal(sig, old)
        if installed and hit:
            log.info("signal %d during a write: the partial outputs were removed", hit[0])
            signal.raise_signal(hit[0])  # the default action now: the process ends


# -- work folders and files, made with the umask's permissions -----------------------------


_WORK_NAME = re.compile(r"\.(partial|old)-[0-9a-f]{8}")


def _work_name(target: Path, kind: str) -> str:
    return f".{target.name}.{kind}-{secrets.token_hex(4)}"


def _new_work_dir(target: Path, kind: str) -> Path:
    """A hidden sibling folder of ``target`` tagged as the toolkit's, mode 0777 minus the umask."""
    for _ in range(100):
        path = target.parent / _work_name(target, kind)
        try:
            os.mkdir(path, 0o777)
        except FileExistsError:
            continue
        try:
            tag = {"software": "mtown_geo", "target": str(target), "host": socket.gethostname(), **_process_id()}
            (path / _TAG).write_text(json.dumps(tag), encoding="utf-8")
        except BaseException:
            shutil.rmtree(path, ignore_errors=True)
            raise
        return path
    raise FileExistsError(errno.EEXIST, "no free name for a work folder", str(target.parent))  # pragma: no cover


def _new_work_file(target: Path) -> Path:
    """An empty hidden sibling file of ``target``, mode 0666 minus the umask."""
    for _ in range(100):
        path = target.parent / _work_name(target, "partial")
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        return path
    raise FileExistsError(errno.EEXIST, "no free name for a work file", str(target.parent))  # pragma: no cover


def _process_id() -> dict[str, Any]:
    """This process: its id and (where psutil can tell) its start time, to tell it from a later one."""
    out: dict[str, Any] = {"pid": os.getpid()}
    try:
        import psutil

        out["started"] = psutil.Process().create_time()
    except Exception:  # pragma: no cover - psutil missing or refused
        pass
    return out


def _process_gone(pid: int, started: float | None) -> bool:
    """True only when the process is certainly gone (never guesses a live writer dead)."""
    if pid == os.getpid():
        return False
    try:
        import psutil
    except ImportError:  # pragma: no cover - psutil comes with dask.distributed
        if os.name != "posix":
            return False  # os.kill(pid, 0) would end the process on Windows
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except OSError:
            return False
        return False
    try:
        proc = psutil.Process(pid)
        return started is not None and abs(proc.create_time() - started) > 1.0  # the id was reused
    except psutil.NoSuchProcess:
        return True
    except Exception:  # pragma: no cover - access denied and the like: assume alive
        return False


def _clean_leftovers(target: Path) -> list[Path]:
    """Remove the toolkit's own work folders of ``target`` left by a killed earlier write."""
    removed: list[Path] = []
    try:
        entries = list(os.scandir(target.parent))
    except OSError:
        return removed
    host = socket.gethostname()
    for entry in entries:
        if not any(entry.name.startswith(f".{target.name}.{k}-") for k in _KINDS):
            continue
        if entry.is_symlink() or not entry.is_dir(follow_symlinks=False):
            continue
        if _WORK_NAME.fullmatch(entry.name[len(target.name) + 1 :]) and not any(os.scandir(entry.path)):
            with contextlib.suppress(OSError):  # killed between making it and tagging it: empty, safe to drop
                os.rmdir(entry.path)
                removed.append(Path(entry.path))
            continue
        try:
            tag = json.loads(Path(entry.path, _TAG).read_text(encoding="utf-8"))
            ours = tag.get("software") == "mtown_geo" and tag.get("target") == str(target) and tag.get("host") == host
            gone = ours and _process_gone(int(tag["pid"]), tag.get("started"))
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            continue  # not recognisably the toolkit's: left alone
        if not gone:
            log.info("left %s alone: another mtown-geo process (%s) may still be writing it", entry.path, tag.get("pid"))
            continue
        shutil.rmtree(entry.path, ignore_errors=True)
        if not os.path.lexists(entry.path):
            removed.append(Path(entry.path))
    if removed:
        names = ", ".join(p.name for p in removed)
        msg = f"removed the leftovers of an interrupted earlier write beside {target}: {names}"
        log.info(msg)
        warnings.warn(msg, CleanupWarning, stacklevel=4)
    return removed


# -- which folders may be written ------------------------------------------------------------


def _same_or_parent_of(folder: Path, other: Path) -> bool:
    """Whether ``folder`` (existing) is ``other`` or one of its parents (by file identity)."""
    for q in (other, *other.parents):
        try:
            if os.path.samefile(folder, q):
                return True
        except OSError:
            continue
    return False


def _is_link(path: Path) -> bool:
    isjunction = getattr(os.path, "isjunction", None)  # Windows directory junctions (Python 3.12+)
    return os.path.islink(path) or bool(isjunction and isjunction(path))


def check_output_root(
    target: str | os.PathLike[str],
    *,
    protect: Iterable[str | os.PathLike[str]] = (),
    writable: bool = False,
) -> Path:
    """Refuse an output location the toolkit must never write into; return its absolute path.

    Refused (:class:`~mtown_geo.OutputFolderError`): a symbolic link (or Windows junction),
    an existing file, a file-system root or mount point, the current folder or a parent of
    it, the home folder or a parent of it, and each folder of ``protect`` (the study file's
    folder) or a parent of it. Nothing is created or changed.

    Parameters
    ----------
    target : path
        The output folder as the user gave it.
    protect : iterable of paths
        Folders that must not be written into (nor any of their parents).
    writable : bool
        Also check that the folder (or the nearest folder above it that exists) can be
        written (:class:`~mtown_geo.OutputNotWritableError`).

    Returns
    -------
    pathlib.Path
        The absolute, resolved folder path.
    """
    raw = Path(os.path.expanduser(os.fspath(target)))
    if _is_link(raw):
        link = os.readlink(raw) if os.path.islink(raw) else "?"
        raise OutputFolderError(
            f"refusing to write through {raw}: it is a symbolic link (to {link}); mtown-geo never writes into a "
            "link's target. Give the real folder's path, or a new folder"
        )
    path = raw.resolve()
    if path.exists() and not path.is_dir():
        raise OutputFolderError(f"{path} is a file, not a folder: choose another output folder")
    hint = "give a new sub-folder for the outputs, e.g. --out out/"
    if path.parent == path or Path(path.anchor) == path or (path.exists() and os.path.ismount(path)):
        raise OutputFolderError(f"refusing to write into {path}: it is the root of a file system; {hint}")
    if path.exists():
        cwd = Path.cwd()
        if _same_or_parent_of(path, cwd):
            which = "the current folder" if os.path.samefile(path, cwd) else "a parent of the current folder"
            raise OutputFolderError(f"refusing to write into {path}: it is {which}; {hint}")
        try:
            home = Path.home()
        except (RuntimeError, KeyError):  # pragma: no cover - no home folder known
            home = None
        if home is not None and home.exists() and _same_or_parent_of(path, home):
            which = "your home folder" if os.path.samefile(path, home) else "a parent of your home folder"
            raise OutputFolderError(f"refusing to write into {path}: it is {which}; {hint}")
        for p in protect:
            folder = Path(p).expanduser().resolve()
            if folder.exists() and _same_or_parent_of(path, folder):
                which = "the study file's folder" if os.path.samefile(path, folder) else "a parent of the study file's folder"
                raise OutputFolderError(f"refusing to write into {path}: it is {which}; {hint}")
    if writable:
        _probe_writable(_nearest_existing(path), path, "nothing was computed or written")
    return path


def _probe_writable(folder: Path, target: Path, when: str) -> None:
    """Create and remove a hidden folder in ``folder`` to prove it can be written."""
    try:
        probe = folder / f".mtown-geo-probe-{secrets.token_hex(4)}"
        os.mkdir(probe)
        os.rmdir(probe)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise OutputNotWritableError(
            f"cannot write the outputs to {target}: {folder} is not writable ({reason}). Choose an output folder "
            f"you can write to, or change the folder's permissions; {when}"
        ) from None


def _nearest_existing(path: Path) -> Path:
    for p in (path, *path.parents):
        if p.exists():
            return p
    return Path(path.anchor)  # pragma: no cover


# -- what a folder holds ---------------------------------------------------------------------


def _safe_rel(rel: Any) -> str | None:
    """A listed file name, if it is a plain relative path inside the folder (else None)."""
    if not isinstance(rel, str) or not rel or "\\" in rel or ":" in rel or "\x00" in rel:
        return None
    parts = PurePosixPath(rel).parts
    if PurePosixPath(rel).is_absolute() or any(p in ("", ".", "..") for p in parts) or rel == MANIFEST:
        return None
    return "/".join(parts)


def own_files(folder: str | os.PathLike[str]) -> dict[str, dict[str, Any]] | None:
    """The files an mtown-geo output folder lists in its manifest, or None if it has no such list.

    Parameters
    ----------
    folder : path
        An output folder.

    Returns
    -------
    dict or None
        Relative name (``/`` separated) → ``{"bytes": int, "sha256": str}`` of every file
        the toolkit wrote there (``manifest.json`` itself excepted); None when the folder has
        no manifest, the manifest is not the toolkit's, or its list is malformed (a name
        outside the folder, for instance).
    """
    path = Path(folder) / MANIFEST
    try:
        if path.is_symlink() or not path.is_file():
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    mark = data.get(MARKER) if isinstance(data, dict) else None
    if not isinstance(mark, dict) or not isinstance(mark.get("files"), dict):
        return None
    out: dict[str, dict[str, Any]] = {}
    for rel, info in mark["files"].items():
        name = _safe_rel(rel)
        if name is None or not isinstance(info, dict) or not isinstance(info.get("bytes"), int):
            return None
        if not isinstance(info.get("sha256"), str):
            return None
        out[name] = info
    return out


def _looks_like_old_manifest(folder: Path) -> bool:
    try:
        data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and "mtown-geo" in (data.get("packages") or {}) and MARKER not in data


def _inside(folder: Path, rel: str) -> bool:
    """Whether every folder on the way to ``rel`` is a real folder (no link) inside ``folder``."""
    p = folder
    for part in rel.split("/")[:-1]:
        p = p / part
        if _is_link(p) or not p.is_dir():
            return False
    return not _is_link(folder / rel)


@dataclass
class _Survey:
    """What an existing output folder holds, sorted into the toolkit's files and the others."""

    own: dict[str, dict[str, Any]] = field(default_factory=dict)  # listed, present, unchanged
    manifest: bool = False  # the toolkit's manifest.json is there
    changed: list[str] = field(default_factory=list)  # listed, but changed since
    foreign: list[str] = field(default_factory=list)  # the rest (the first few)
    more_foreign: bool = False


def _survey(folder: Path, *, walk: bool) -> _Survey:
    """Sort ``folder``'s entries; ``walk`` looks for entries the toolkit did not write (stops early)."""
    listed = own_files(folder)
    s = _Survey(manifest=listed is not None)
    for rel, info in (listed or {}).items():
        p = folder / rel
        if not os.path.lexists(p):
            continue
        if not _inside(folder, rel) or not p.is_file():
            s.changed.append(rel)
            continue
        if p.stat().st_size != info["bytes"] or file_sha256(p) != info["sha256"]:
            s.changed.append(rel)
        else:
            s.own[rel] = info
    if not walk:
        return s
    known = set(s.own) | set(s.changed)
    prefixes = {"/".join(r.split("/")[:i]) for r in (listed or {}) for i in range(1, r.count("/") + 1)}

    def visit(d: Path, base: str) -> bool:
        for entry in sorted(os.scandir(d), key=lambda e: e.name):
            rel = f"{base}{entry.name}"
            if rel in known or (rel == MANIFEST and s.manifest):
                continue
            if entry.is_dir(follow_symlinks=False) and not entry.is_symlink() and rel in prefixes:
                if not visit(Path(entry.path), rel + "/"):
                    return False
                continue
            is_dir = entry.is_dir(follow_symlinks=False) and not entry.is_symlink()
            s.foreign.append(rel + ("/" if is_dir else ""))
            if len(s.foreign) > _SHOW:
                s.more_foreign = True
                return False
        return True

    visit(folder, "")
    s.foreign = s.foreign[:_SHOW]
    return s


def _names(items: list[str], more: bool = False) -> str:
    shown = ", ".join(items[:_SHOW])
    return shown + (" and more" if more or len(items) > _SHOW else "")


def check_output_dir(
    target: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    protect: Iterable[str | os.PathLike[str]] = (),
    when: str = "nothing was computed or written",
) -> Path:
    """Check, before any work, that the outputs may be written to a folder; return its path.

    Runs every check of :func:`check_output_root`, then refuses an existing folder that
    holds entries mtown-geo did not write unless ``overwrite`` is true, refuses a file the
    toolkit wrote there and someone changed since, checks that the folder (and the one it
    is made in) can be written, and removes recognisable leftovers of a killed earlier
    write (:class:`~mtown_geo.CleanupWarning`).

    Parameters
    ----------
    target : path
        The output folder.
    overwrite : bool
        Allow a folder that holds other files: only the toolkit's own files will be replaced.
    protect : iterable of paths
        Folders never written into (the study file's folder).
    when : str
        What the error messages add about the state (default: nothing was computed).

    Returns
    -------
    pathlib.Path
        The absolute folder path.

    Raises
    ------
    OutputFolderError
        The folder is refused; the message names the entries and how to proceed.
    OutputNotWritableError
        The folder, or the folder it is made in, cannot be written.
    """
    path = check_output_root(target, protect=protect)
    if path.exists():
        _check_contents(path, overwrite=overwrite, when=when)
        _probe_writable(path, path, when)
    _probe_writable(_nearest_existing(path.parent), path, when)
    _clean_leftovers(path)
    return path


def _check_contents(path: Path, *, overwrite: bool, when: str) -> _Survey:
    """Refuse an existing folder whose entries may not be touched; return what it holds."""
    s = _survey(path, walk=not overwrite)
    if s.changed:
        raise OutputFolderError(
            f"refusing to write into {path}: {_names(s.changed)} were written by mtown-geo but changed since; "
            f"mtown-geo never replaces a file it did not write as it is. Move or rename them first, or choose "
            f"another output folder ({when})"
        )
    if s.foreign:
        old = " (its manifest.json comes from an mtown-geo version that did not list its files: delete that old output yourself)"
        raise OutputFolderError(
            f"refusing to write into {path}: it is not empty and holds files mtown-geo did not write: "
            f"{_names(s.foreign, s.more_foreign)}{old if _looks_like_old_manifest(path) else ''}. Choose a new or empty "
            f"folder, or add --overwrite (overwrite=True) to write mtown-geo's files beside them; files mtown-geo "
            f"did not write are never replaced or deleted ({when})"
        )
    if overwrite and not s.manifest and os.path.lexists(path / MANIFEST):
        raise OutputFolderError(
            f"refusing to write into {path}: its manifest.json was not written by mtown-geo (or by a version that "
            f"did not list its files), and every output has one. Move or rename it, or choose another output "
            f"folder ({when})"
        )
    return s


# -- writing ---------------------------------------------------------------------------------


def _listing(folder: Path) -> list[str]:
    """Every file under ``folder`` (relative, ``/`` separated, sorted), the tag file excepted."""
    out = []
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        base = Path(root).relative_to(folder)
        for name in sorted(files):
            rel = (base / name).as_posix()
            if rel != _TAG:
                out.append(rel)
    return out


def _finish_manifest(tmp: Path) -> list[str]:
    """Add the marker and the list of written files to ``tmp/manifest.json`` (made if absent)."""
    files = [r for r in _listing(tmp) if r != MANIFEST]
    path = tmp / MANIFEST
    data: dict[str, Any] = {}
    text = None
    with _WORKING_LOCK:
        written = _MANIFESTS.pop(tmp, None)
    laid_out = False  # the manifest as written: two-space indents, one member a line, no marker
    if path.exists():
        text = path.read_text(encoding="utf-8")
        layout = text.startswith('{\n  "') and text.endswith("\n}")
        if written is not None and written == (text, False) and layout:
            laid_out = True  # the text write_manifest_text wrote of an object without the marker: not parsed again
        else:
            data = json.loads(text)
            if not isinstance(data, dict):  # pragma: no cover - the toolkit always writes an object
                raise TypeError("manifest.json must hold a JSON object")
            laid_out = MARKER not in data and layout
    mark = {
        "format": _FORMAT,
        "software": "mtown_geo",
        "version": __version__,
        "written": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "files": {r: {"bytes": (tmp / r).stat().st_size, "sha256": file_sha256(tmp / r)} for r in files},
    }
    if text is not None and laid_out:
        # the marker added as the last member: the text json.dumps gives the whole object, without
        # encoding it again
        marker = json.dumps(mark, ensure_ascii=False, indent=2, default=str).replace("\n", "\n  ")
        out = f"{text[:-2]},\n  {json.dumps(MARKER)}: {marker}\n}}"
    else:
        data[MARKER] = mark
        out = json.dumps(data, ensure_ascii=False, indent=2, default=str)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(out)
    return files


def write_manifest_text(folder: Path, text: str, *, marked: bool) -> None:
    """Write ``folder/manifest.json``: ``text``, which ``json.dumps`` made of a
    JSON object; ``marked``: whether that object holds :data:`MARKER`.

    In the work folder of an :func:`atomic_dir` block the text is remembered, so that adding the
    marker and the list of files when the block ends needs not parse the text again.
    """
    (folder / MANIFEST).write_text(text, encoding="utf-8")
    with _WORKING_LOCK:
        if folder in _WORKING:
            _MANIFESTS[folder] = (text, marked)


def _collisions(target: Path, new: list[str], own: dict[str, Any], own_manifest: bool) -> list[str]:
    """New files whose place is taken by something the toolkit did not write."""
    bad: list[str] = []
    for rel in [MANIFEST, *new]:
        p = target
        parts = rel.split("/")
        for i, part in enumerate(parts[:-1]):
            p = p / part
            if os.path.lexists(p) and (_is_link(p) or not p.is_dir()):
                bad.append("/".join(parts[: i + 1]))
                break
        else:
            dst = target / rel
            if os.path.lexists(dst) and not (rel in own or (rel == MANIFEST and own_manifest)):
                bad.append(rel)
    return sorted(set(bad))


def _move(src: Path, dst: Path, created: list[Path]) -> None:
    for d in reversed([p for p in dst.parents if not p.exists()]):
        os.mkdir(d, 0o777)
        created.append(d)
    os.replace(src, dst)


def _commit_into(tmp: Path, target: Path, *, overwrite: bool, protect: Iterable[str | os.PathLike[str]]) -> None:
    """Exchange the toolkit's files of an existing ``target`` for those of ``tmp``, rolling back on failure."""
    when = "nothing was changed; the computed outputs were discarded"
    check_output_root(target, protect=protect)  # the folder may have changed while the outputs were made
    s = _check_contents(target, overwrite=overwrite, when=when)
    new = [r for r in _listing(tmp) if r != MANIFEST]
    bad = _collisions(target, new, s.own, s.manifest)
    if bad:
        raise OutputFolderError(
            f"refusing to write into {target}: {_names(bad)} would replace files mtown-geo did not write. "
            f"Move or rename them, or choose another output folder ({when})"
        )
    backup = _new_work_dir(target, "old")
    old_moved: list[str] = []
    new_moved: list[str] = []
    created: list[Path] = []
    try:
        # the old files first, their manifest last: an interrupted exchange stays recognisable
        for rel in [*sorted(s.own), *([MANIFEST] if s.manifest else [])]:
            _move(target / rel, backup / rel, [])
            old_moved.append(rel)
        for rel in [MANIFEST, *new]:  # the new manifest first, for the same reason
            _move(tmp / rel, target / rel, created)
            new_moved.append(rel)
    except BaseException as exc:
        for rel in reversed(new_moved):
            with contextlib.suppress(OSError):
                os.replace(target / rel, tmp / rel)
        for rel in reversed(old_moved):
            with contextlib.suppress(OSError):
                os.replace(backup / rel, target / rel)
        for d in reversed(created):
            with contextlib.suppress(OSError):
                os.rmdir(d)
        shutil.rmtree(backup, ignore_errors=True)
        if isinstance(exc, PermissionError):
            raise OutputNotWritableError(
                f"could not move {exc.filename or 'a file'} into {target} ({exc.strerror}): close any program that "
                f"has it open, or check the folder's permissions, and run again; {target} was left as it was"
            ) from exc
        raise
    shutil.rmtree(backup, ignore_errors=True)
    # folders that held only old files of the toolkit and are empty now
    for rel in sorted({str(PurePosixPath(r).parent) for r in s.own} - {"."}, key=lambda x: -x.count("/")):
        folder = target / rel
        while folder != target:
            try:
                os.rmdir(folder)  # only if empty
            except OSError:
                break
            folder = folder.parent


@contextlib.contextmanager
def atomic_dir(
    target: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    protect: Iterable[str | os.PathLike[str]] = (),
) -> Iterator[Path]:
    """Build an output folder in a hidden sibling and move it into place only on success.

    The block writes into the yielded folder. Its ``manifest.json`` (made if the block
    writes none) gets the marker and the list of the files written. Then the outputs go
    into ``target``: a new folder is moved there whole; an existing one keeps its place and
    has the toolkit's files of an earlier run exchanged for the new ones (see
    :func:`check_output_dir` for what is refused). On an exception, Ctrl+C or a
    termination signal, the hidden folder is removed and ``target`` is left as it was.

    Parameters
    ----------
    target : path
        The output folder.
    overwrite : bool
        Allow a folder that holds other files; only the toolkit's own files are replaced.
    protect : iterable of paths
        Folders never written into (the study file's folder).

    Raises
    ------
    OutputFolderError, OutputNotWritableError
        The folder is refused or cannot be written (before the block runs, or, if it
        changed meanwhile, after it, with nothing changed).
    """
    protect = list(protect)
    path = check_output_dir(target, overwrite=overwrite, protect=protect, when="nothing was written")
    with _signals_raise():
        created: list[Path] = []
        for d in reversed([p for p in path.parents if not p.exists()]):
            os.mkdir(d, 0o777)
            created.append(d)
        tmp = _new_work_dir(path, "partial")
        with _WORKING_LOCK:
            _WORKING.add(tmp)
        try:
            yield tmp
            _finish_manifest(tmp)
            if os.path.lexists(path):
                _commit_into(tmp, path, overwrite=overwrite, protect=protect)
            else:
                (tmp / _TAG).unlink()
                os.rename(tmp, path)  # a new folder: one rename
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            for d in reversed(created):
                with contextlib.suppress(OSError):
                    os.rmdir(d)
            raise
        finally:
            with _WORKING_LOCK:
                _WORKING.discard(tmp)
                _MANIFESTS.pop(tmp, None)
        shutil.rmtree(tmp, ignore_errors=True)


#: The hidden work folders of the :func:`atomic_dir` blocks running now (in any thread).
_WORKING: set[Path] = set()
_WORKING_LOCK = threading.Lock()
#: The manifest text written into each of them by :func:`write_manifest_text`, and whether its object holds the marker.
_MANIFESTS: dict[Path, tuple[str, bool]] = {}


def _in_work_dir(target: Path) -> bool:
    """Whether ``target`` lies in the work folder of a running :func:`atomic_dir` block."""
    return bool(_WORKING) and any(p in _WORKING for p in target.parents)


@contextlib.contextmanager
def atomic_file(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Write a file under a hidden temporary name beside ``target`` and rename it on success.

    The file is made with the permissions the umask gives; on an exception, Ctrl+C or a
    termination signal it is removed and ``target`` is left as it was. A new file inside
    the work folder of an :func:`atomic_dir` block is written in its place (the block yields
    ``target`` itself): the folder is moved into view only when complete, so a temporary
    file would buy nothing; on an exception the file is removed all the same.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    if _in_work_dir(target) and not os.path.lexists(target):
        # a new file of a folder :func:`atomic_dir` is building: nothing outside sees it until the
        # folder is complete, and a failure removes it as the temporary file would have been
        try:
            yield target
            if not os.path.lexists(target):  # the block wrote nothing: an empty file, as a rename gives
                os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666))
        except BaseException:
            target.unlink(missing_ok=True)
            raise
        return
    with _signals_raise():
        tmp = _new_work_file(target)
        try:
            yield tmp
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
