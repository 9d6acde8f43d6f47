"""Output folders on a planner's own machine: never delete or replace what the toolkit did not
write, never a half-written folder (failures, SIGTERM, leftovers of SIGKILL), the umask's
permissions, and refusals before any computation."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

import mtown_geo as mg
from mtown_geo import _io
from mtown_geo.study import load_study, write

from .conftest import ROOT, copy_outputs, demo_view

POSIX = os.name == "posix"


# ---------------------------------------------------------------------------------------
# Helpers and the real demo town (one computation for the session)
# ---------------------------------------------------------------------------------------


def _snapshot(folder: Path) -> dict[str, object]:
    """Every entry under ``folder``: file bytes, '<dir>' or the link's target (never followed)."""
    out: dict[str, object] = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            p = Path(root, name)
            rel = p.relative_to(folder).as_posix()
            if p.is_symlink():
                out[rel] = f"<link:{os.readlink(p)}>"
            elif p.is_dir():
                out[rel] = "<dir>"
            else:
                out[rel] = p.read_bytes()
    return out


def _hidden_work(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if ".partial-" in p.name or ".old-" in p.name)


def _project(folder: Path) -> Path:
    """A planner's project folder: the demo study file, its boundaries, a report and data."""
    study = mg.demo_study(folder)
    (folder / "汇报材料.docx").write_bytes(b"PK\x03\x04 a planner's report " + bytes(range(256)))
    (folder / "data").mkdir()
    (folder / "data" / "poi.csv").write_text("名称,经度,纬度\n幼儿园,121.1,29.2\n", encoding="utf-8")
    return study


@pytest.fixture(scope="module")
def demo_result(shared_demo):
    """The demo town, computed once for the session, as a run with the interactive maps and no
    print maps writes it (the folder tests need the files, not the drawing)."""
    return demo_view(shared_demo.result, maps=True, static_maps=False, tiles=False)


def _without(result, **outputs):
    st = result.study
    return dataclasses.replace(result, study=st.model_copy(update={"outputs": st.outputs.model_copy(update=outputs)}))


def _manifest_files(folder: Path) -> set[str]:
    data = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    return set(data[_io.MARKER]["files"])


def _tree_files(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


# ---------------------------------------------------------------------------------------
# What the toolkit writes: a manifest that marks the folder and lists every file
# ---------------------------------------------------------------------------------------


def test_manifest_marks_the_folder_and_lists_every_file_with_its_checksum(demo_result, tmp_path):
    out = write(demo_result, tmp_path / "out")
    listed = json.loads((out / "manifest.json").read_text(encoding="utf-8"))[_io.MARKER]
    assert listed["software"] == "mtown_geo" and listed["version"] == mg.__version__
    assert set(listed["files"]) == _tree_files(out) - {"manifest.json"}
    import hashlib

    for rel, info in listed["files"].items():
        data = (out / rel).read_bytes()
        assert info == {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    assert _hidden_work(tmp_path) == []


@pytest.mark.slow
@pytest.mark.parametrize(
    "given",
    ["run", "none", "compact", "marked", "odd values", "empty"],
)
def test_manifest_text_is_json_dumps_of_the_whole_object(demo_result, tmp_path, given):
    """The finished manifest is, byte for byte, ``json.dumps`` (UTF-8 text, two-space indents)
    of the manifest the block wrote with the marker as its last member, whether the marker is
    added to the text as written or the whole object is encoded again: a run's own manifest,
    none, one written compactly or with other escapes, one that holds a stale marker, odd values."""
    odd = {"a": [], "b": {}, "c": [{}, [[]]], "文字": '行\n"引号" \\ } ] ,', "n": float("nan"), "x": 1e-07, "big": 10**30}
    texts = {
        "none": None,
        "compact": json.dumps({"a": [1, 2], "b": "é"}),
        "marked": json.dumps({"a": 1, _io.MARKER: {"files": {}}, "z": 2}, indent=2),
        "odd values": json.dumps(odd, ensure_ascii=False, indent=2),
        "empty": "{}",
    }
    with _io.atomic_dir(tmp_path / "out") as tmp:
        if given == "run":
            out = write(demo_result, tmp_path / "run")
            text = (out / "manifest.json").read_text(encoding="utf-8")
            data = json.loads(text)
            del data[_io.MARKER]
            text = json.dumps(data, ensure_ascii=False, indent=2, default=str)
        else:
            text = texts[given]
        (tmp / "layer.txt").write_text("x", encoding="utf-8")
        if text is not None:
            (tmp / "manifest.json").write_text(text, encoding="utf-8")
    got = (tmp_path / "out" / "manifest.json").read_text(encoding="utf-8")
    data = json.loads(text) if text is not None else {}
    mark = json.loads(got)[_io.MARKER]
    assert mark["files"] == {"layer.txt": {"bytes": 1, "sha256": _io.file_sha256(tmp_path / "out" / "layer.txt")}}
    data[_io.MARKER] = mark
    assert got == json.dumps(data, ensure_ascii=False, indent=2, default=str)


def test_a_folder_the_toolkit_made_is_replaced_without_asking(demo_result, tmp_path):
    out = tmp_path / "out"
    write(demo_result, out)
    assert (out / "maps").exists() is False
    write(_without(demo_result, geopackage=False), out)  # the next run writes fewer files
    assert not (out / "layers.gpkg").exists()  # the toolkit's own file of the earlier run is gone
    assert _tree_files(out) - {"manifest.json"} == _manifest_files(out)
    assert _hidden_work(tmp_path) == []


# ---------------------------------------------------------------------------------------
# A folder with a user's files: refused; --overwrite keeps every file the toolkit did not write
# ---------------------------------------------------------------------------------------


def test_run_into_a_folder_with_user_files_is_refused_before_computing(tmp_path):
    study = _project(tmp_path / "project")
    out = tmp_path / "results"
    out.mkdir()
    (out / "notes.txt").write_text("my notes", encoding="utf-8")
    (out / "plans").mkdir()
    (out / "plans" / "总规.pdf").write_bytes(b"%PDF-1.4 plan")
    before = _snapshot(tmp_path)
    t0 = time.perf_counter()
    with pytest.raises(mg.OutputFolderError, match="holds files mtown-geo did not write") as err:
        mg.run(study, out=out)
    assert time.perf_counter() - t0 < 2.0  # refused before the computation, not after it
    assert isinstance(err.value, FileExistsError)
    msg = str(err.value)
    assert "notes.txt" in msg and "plans/" in msg and "--overwrite" in msg and "nothing was computed" in msg
    assert _snapshot(tmp_path) == before


@pytest.mark.slow
def test_overwrite_replaces_only_the_toolkits_files(demo_result, tmp_path):
    out = tmp_path / "out"
    write(demo_result, out)
    own_before = {rel: (out / rel).read_bytes() for rel in _manifest_files(out)}
    (out / "notes.txt").write_text("my notes", encoding="utf-8")
    (out / "rasters" / "my_dem.tif").write_bytes(b"II*\x00 user raster")
    user = {"notes.txt": b"my notes", "rasters/my_dem.tif": b"II*\x00 user raster"}
    with pytest.raises(mg.OutputFolderError, match=r"notes\.txt"):
        write(demo_result, out)
    assert (out / "layers.gpkg").read_bytes() == own_before["layers.gpkg"]  # the refusal changed nothing
    # --overwrite: the toolkit's files are exchanged, the user's stay; rasters are no longer written
    write(dataclasses.replace(demo_result, rasters={}), out, overwrite=True)
    for rel, data in user.items():
        assert (out / rel).read_bytes() == data
    assert sorted(p.name for p in (out / "rasters").iterdir()) == ["my_dem.tif"]
    assert _tree_files(out) - {"manifest.json"} == _manifest_files(out) | set(user)
    assert "rasters/my_dem.tif" not in _manifest_files(out)
    assert _hidden_work(tmp_path) == []


@pytest.mark.slow
def test_a_file_the_toolkit_wrote_and_the_user_changed_is_never_replaced(demo_result, tmp_path):
    out = tmp_path / "out"
    write(demo_result, out)
    edited = b"edited in Excel"
    (out / "indicators.csv").write_bytes(edited)
    for overwrite in (False, True):
        with pytest.raises(mg.OutputFolderError, match=r"indicators\.csv were written by mtown-geo but changed since"):
            write(demo_result, out, overwrite=overwrite)
        assert (out / "indicators.csv").read_bytes() == edited


@pytest.mark.slow
def test_overwrite_refuses_a_user_file_in_the_place_of_an_output(demo_result, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "map.html").write_text("<p>my own map</p>", encoding="utf-8")
    (out / "report.docx").write_bytes(b"docx")
    before = _snapshot(out)
    with pytest.raises(mg.OutputFolderError, match=r"map\.html would replace files mtown-geo did not write"):
        write(demo_result, out, overwrite=True)
    assert _snapshot(out) == before
    assert _hidden_work(tmp_path) == []


def test_a_manifest_from_an_earlier_version_is_not_taken_for_a_file_list(tmp_path):
    out = tmp_path / "old-output"
    out.mkdir()
    (out / "manifest.json").write_text(json.dumps({"packages": {"mtown-geo": "0.0.9"}, "config": {}}), encoding="utf-8")
    (out / "indicators.csv").write_text("row,value\n9,50\n", encoding="utf-8")
    with pytest.raises(mg.OutputFolderError, match="did not list its files"):
        _io.check_output_dir(out)


def test_a_hostile_manifest_cannot_point_outside_the_folder(demo_result, tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me", encoding="utf-8")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "indicators.csv").write_text("keep me too", encoding="utf-8")
    import hashlib

    def listing(rel: str, data: bytes) -> dict:
        return {rel: {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}}

    # a name that climbs out of the folder: the list is not the toolkit's
    out = tmp_path / "a"
    out.mkdir()
    (out / "manifest.json").write_text(json.dumps({_io.MARKER: {"files": listing("../victim.txt", b"keep me")}}), "utf-8")
    assert _io.own_files(out) is None
    with pytest.raises(mg.OutputFolderError):
        write(demo_result, out, overwrite=True)
    # a listed file reached through a link to another folder: never followed
    out = tmp_path / "b"
    out.mkdir()
    if not POSIX:
        pytest.skip("symbolic links need privileges on Windows")
    (out / "data").symlink_to(elsewhere, target_is_directory=True)
    (out / "manifest.json").write_text(
        json.dumps({_io.MARKER: {"files": listing("data/indicators.csv", b"keep me too")}}), "utf-8"
    )
    with pytest.raises(mg.OutputFolderError, match="changed since"):
        write(demo_result, out, overwrite=True)
    assert victim.read_text(encoding="utf-8") == "keep me"
    assert (elsewhere / "indicators.csv").read_text(encoding="utf-8") == "keep me too"


# ---------------------------------------------------------------------------------------
# Folders never written into, whatever the options
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("overwrite", [False, True])
def test_never_the_current_folder_its_parents_or_the_study_folder(tmp_path, monkeypatch, overwrite):
    study = _project(tmp_path / "project")
    before = _snapshot(tmp_path)
    monkeypatch.chdir(tmp_path / "project")
    for out, words in [
        (".", "it is the current folder"),
        ("..", "it is a parent of the current folder"),
        (str(tmp_path / "project"), "it is the current folder"),
    ]:
        with pytest.raises(mg.OutputFolderError, match=words):
            mg.run(study, out=out, overwrite=overwrite)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(mg.OutputFolderError, match="it is the study file's folder"):
        mg.run(study, out=tmp_path / "project", overwrite=overwrite)
    assert _snapshot(tmp_path) == before
    assert _hidden_work(tmp_path) == []


def test_never_the_home_folder_a_root_or_a_file(tmp_path, monkeypatch):
    home = tmp_path / "home" / "planner"
    home.mkdir(parents=True)
    (home / "photo.jpg").write_bytes(b"\xff\xd8")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("USERPROFILE", str(home))
    before = _snapshot(tmp_path)
    with pytest.raises(mg.OutputFolderError, match="it is your home folder"):
        _io.check_output_dir("~", overwrite=True)
    with pytest.raises(mg.OutputFolderError, match="a parent of your home folder"):
        _io.check_output_dir(tmp_path / "home", overwrite=True)
    with pytest.raises(mg.OutputFolderError, match="root of a file system"):
        _io.check_output_dir(Path(tmp_path.anchor), overwrite=True)
    with pytest.raises(mg.OutputFolderError, match="is a file, not a folder"):
        _io.check_output_dir(home / "photo.jpg", overwrite=True)
    assert _snapshot(tmp_path) == before


@pytest.mark.skipif(not POSIX, reason="symbolic links need privileges on Windows")
def test_never_through_a_symbolic_link(demo_result, tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (real / "thesis.docx").write_bytes(b"years of work")
    link = tmp_path / "link"
    link.symlink_to(real, target_is_directory=True)
    before = _snapshot(tmp_path)
    for overwrite in (False, True):
        with pytest.raises(mg.OutputFolderError, match="is a symbolic link"):
            write(demo_result, link, overwrite=overwrite)
    assert _snapshot(tmp_path) == before
    # an empty folder behind the link is refused as well: the link is never written through
    (real / "thesis.docx").unlink()
    with pytest.raises(mg.OutputFolderError, match="is a symbolic link"):
        write(demo_result, link)
    assert list(real.iterdir()) == []


# ---------------------------------------------------------------------------------------
# Nothing half-written: failures, SIGTERM, leftovers of SIGKILL; a read-only folder at once
# ---------------------------------------------------------------------------------------


def test_a_failure_while_writing_leaves_the_earlier_output_as_it_was(shared_demo, tmp_path):
    out = copy_outputs(shared_demo, tmp_path / "out")  # an earlier run's folder
    assert _io.own_files(out) is not None
    before = _snapshot(out)

    class DrawingError(Exception):
        pass

    with pytest.raises(DrawingError), _io.atomic_dir(out) as tmp:
        (tmp / "indicators.csv").write_text("half", encoding="utf-8")
        raise DrawingError
    assert _snapshot(out) == before
    assert _hidden_work(tmp_path) == []
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the handler is restored


def _read_only(folder: Path) -> None:
    """Make a folder unwritable, for root too (immutable attribute) where possible."""
    folder.chmod(0o555)
    probe = folder / ".probe"
    try:
        probe.mkdir()
    except OSError:
        return
    probe.rmdir()
    done = subprocess.run(["chattr", "+i", str(folder)], capture_output=True, check=False) if POSIX else None
    if done is None or done.returncode != 0:
        folder.chmod(0o755)
        pytest.skip("cannot make a read-only folder here (running as root without chattr)")


def _writable_again(folder: Path) -> None:
    subprocess.run(["chattr", "-i", str(folder)], capture_output=True, check=False)
    folder.chmod(0o755)


@pytest.mark.skipif(not POSIX, reason="POSIX permissions")
def test_a_read_only_folder_fails_before_any_computation(tmp_path):
    study = _project(tmp_path / "project")
    ro = tmp_path / "read-only"
    ro.mkdir()
    _read_only(ro)
    try:
        t0 = time.perf_counter()
        with pytest.raises(mg.OutputNotWritableError, match="is not writable") as err:
            mg.run(study, out=ro / "out")
        assert time.perf_counter() - t0 < 2.0
        assert isinstance(err.value, PermissionError) and "nothing was computed" in str(err.value)
        # the check comes before the inputs are even read: a study whose boundaries are missing
        # still gets the folder error, not the input one
        st = load_study(study)
        st = st.model_copy(update={"boundaries": st.boundaries.model_copy(update={"town": "missing.geojson"})})
        with pytest.raises(mg.OutputNotWritableError):
            mg.run(st, out=ro / "out")
        with pytest.raises(mg.OutputNotWritableError):
            mg.batch.run_batch(mg.demo_boundaries(), osm=mg.demo_osm_path(), out=ro / "batch")
    finally:
        _writable_again(ro)
    assert list(ro.iterdir()) == []


def _demo_process(out: Path, cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "mtown_geo.cli", "demo", "--out", str(out), "--no-tiles", "--cell-m", "100"]
    return subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _wait_for_partial(
    proc: subprocess.Popen, parent: Path, *, ignore: tuple[str, ...] = (), timeout_s: float = 240.0
) -> list[str]:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout_s:
        found = [p for p in _hidden_work(parent) if ".partial-" in p and p not in ignore]
        if found:
            return found
        if proc.poll() is not None:
            pytest.fail(f"the demo ended before writing: {proc.stderr.read().decode()[-2000:] if proc.stderr else ''}")
        time.sleep(0.005)
    proc.kill()
    pytest.fail("the demo never started writing")


@pytest.mark.slow
@pytest.mark.skipif(not POSIX, reason="signals sent from outside are POSIX")
def test_sigterm_while_writing_leaves_no_partial_folder(tmp_path):
    out = tmp_path / "out"
    proc = _demo_process(out, tmp_path)
    _wait_for_partial(proc, tmp_path)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=120)
    assert proc.returncode == -signal.SIGTERM  # still ended by the signal, after the clean-up
    assert _hidden_work(tmp_path) == []
    assert not out.exists()


@pytest.mark.slow
@pytest.mark.skipif(not POSIX, reason="signals sent from outside are POSIX")
def test_leftovers_of_a_killed_write_are_removed_and_named_on_the_next_run(demo_result, tmp_path):
    out = tmp_path / "out"
    (tmp_path / ".out.partial-notmine").mkdir()  # a look-alike without the toolkit's tag: left alone
    proc = _demo_process(out, tmp_path)
    partial = tmp_path / _wait_for_partial(proc, tmp_path, ignore=(".out.partial-notmine",))[0]
    t0 = time.monotonic()
    while not (partial / "indicators.csv").exists() and time.monotonic() - t0 < 60:
        time.sleep(0.005)  # mid-write: some outputs are there
    proc.kill()  # SIGKILL: no clean-up possible
    proc.wait(timeout=60)
    left = [p for p in _hidden_work(tmp_path) if p != ".out.partial-notmine"]
    assert left, "SIGKILL left nothing behind: the test proves nothing"
    with pytest.warns(mg.CleanupWarning, match="interrupted earlier write") as record:
        write(demo_result, out)
    named = " ".join(str(w.message) for w in record)
    assert all(name in named for name in left)
    assert _hidden_work(tmp_path) == [".out.partial-notmine"]
    assert (out / "manifest.json").exists()


# ---------------------------------------------------------------------------------------
# Permissions follow the umask
# ---------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.skipif(not POSIX, reason="POSIX permissions")
@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_outputs_follow_the_umask(demo_result, tmp_path, umask):
    old = os.umask(umask)
    try:
        out = write(demo_result, tmp_path / "out")
        write(demo_result, out)  # replacing keeps following it
    finally:
        os.umask(old)
    entries = [out, *out.rglob("*")]
    assert len(entries) > 15
    for p in entries:
        mode = stat.S_IMODE(p.stat().st_mode)
        if p.is_dir():
            assert mode == 0o777 & ~umask, (p, oct(mode))
        elif p.suffix == ".gpkg":  # SQLite makes its files 0644 before the umask
            assert mode == 0o644 & ~umask, (p, oct(mode))
        else:
            assert mode == 0o666 & ~umask, (p, oct(mode))


def test_an_input_is_hashed_once_until_it_changes(tmp_path, monkeypatch):
    """A batch's towns share one regional extract: it is hashed once per process, again when it changes."""
    import hashlib
    import os

    from mtown_geo import _io

    path = tmp_path / "region.osm"
    path.write_bytes(b"<osm>one</osm>")
    calls = []
    real = _io.file_sha256
    monkeypatch.setattr(_io, "file_sha256", lambda p: calls.append(p) or real(p))
    first = _io.input_sha256(path)
    assert first == hashlib.sha256(b"<osm>one</osm>").hexdigest()
    assert _io.input_sha256(path) == first and len(calls) == 1
    path.write_bytes(b"<osm>two!</osm>")
    os.utime(path, ns=(1, 2))
    assert _io.input_sha256(path) == hashlib.sha256(b"<osm>two!</osm>").hexdigest()
    assert len(calls) == 2


# ---------------------------------------------------------------------------------------
# Files written inside a folder being built
# ---------------------------------------------------------------------------------------


def test_a_file_written_into_a_folder_being_built_needs_no_temporary_file(tmp_path):
    """Inside :func:`_io.atomic_dir`, :func:`_io.atomic_file` writes a new file in its place (the
    folder is complete before anyone sees it); a failure removes the file; a file that is there
    already, and any file outside the folder, still goes through a temporary file."""
    outside = tmp_path / "outside.txt"
    with _io.atomic_dir(tmp_path / "out") as tmp:
        with _io.atomic_file(tmp / "sub" / "a.txt") as p:
            assert p == tmp / "sub" / "a.txt"
            p.write_text("a", encoding="utf-8")
        with _io.atomic_file(tmp / "empty.txt") as p:
            assert p == tmp / "empty.txt"
        with pytest.raises(RuntimeError), _io.atomic_file(tmp / "b.txt") as p:
            p.write_text("half", encoding="utf-8")
            raise RuntimeError("failed")
        assert not (tmp / "b.txt").exists()
        with _io.atomic_file(tmp / "sub" / "a.txt") as p:  # there already: replaced through a temporary file
            assert p != tmp / "sub" / "a.txt" and p.parent == tmp / "sub"
            p.write_text("a2", encoding="utf-8")
        with _io.atomic_file(outside) as p:
            assert p != outside and p.parent == tmp_path
            p.write_text("o", encoding="utf-8")
    out = tmp_path / "out"
    assert (out / "sub" / "a.txt").read_text(encoding="utf-8") == "a2"
    assert (out / "empty.txt").read_bytes() == b""
    assert _manifest_files(out) == {"sub/a.txt", "empty.txt"}
    assert outside.read_text(encoding="utf-8") == "o"
    assert _hidden_work(tmp_path) == [] and not _io._WORKING
    with _io.atomic_file(out / "c.txt") as p:  # the folder is done: a temporary file again
        assert p != out / "c.txt"
        p.write_text("c", encoding="utf-8")
    assert (out / "c.txt").read_text(encoding="utf-8") == "c"


@pytest.mark.parametrize("marked", [False, True])
def test_a_manifest_written_in_the_block_is_marked_without_parsing_it_again(tmp_path, monkeypatch, marked):
    """The manifest :func:`_io.write_manifest_text` writes in an :func:`_io.atomic_dir` block gets
    its marker without its text being parsed again, and ends as ``json.dumps`` of the whole
    object; one that holds a stale marker, or that something changed after it was written, is
    parsed and its marker replaced as before."""
    man = {"config": {"name": "镇", "n": [1, 2.5, None]}, "notes": ['行\n"引号"'], "empty": {}}
    if marked:
        man[_io.MARKER] = {"files": {"stale.txt": {}}}
    text = json.dumps(man, ensure_ascii=False, indent=2)
    loads = []
    real = json.loads
    monkeypatch.setattr(_io.json, "loads", lambda s, *a, **k: loads.append(s) or real(s, *a, **k))
    with _io.atomic_dir(tmp_path / "out") as tmp:
        (tmp / "a.txt").write_text("a", encoding="utf-8")
        _io.write_manifest_text(tmp, text, marked=marked)
    got = (tmp_path / "out" / "manifest.json").read_text(encoding="utf-8")
    assert len(loads) == (1 if marked else 0)
    data = real(got)
    assert data[_io.MARKER]["files"] == {"a.txt": {"bytes": 1, "sha256": _io.file_sha256(tmp_path / "out" / "a.txt")}}
    assert got == json.dumps(
        {**{k: v for k, v in man.items() if k != _io.MARKER}, _io.MARKER: data[_io.MARKER]}, ensure_ascii=False, indent=2
    )
    with _io.atomic_dir(tmp_path / "again") as tmp:  # changed after it was written: parsed
        _io.write_manifest_text(tmp, text, marked=marked)
        (tmp / "manifest.json").write_text(json.dumps({"other": 1}, indent=2), encoding="utf-8")
    assert real((tmp_path / "again" / "manifest.json").read_text(encoding="utf-8"))["other"] == 1
    assert not _io._MANIFESTS and not _io._WORKING
