"""atomic_write: readers see the old file or the new one, never a part, and no litter stays;
files honour the umask; a full disk names the file; killed writers' litter can be cleaned."""

import errno
import pathlib
import stat

import pytest

from koopkit.io import atomic_write


def test_atomic_write_replaces_content_and_creates_folders(tmp_path):
    path = tmp_path / "sub" / "state.txt"
    with atomic_write(path, "w") as f:
        f.write("one")
    with atomic_write(path, "w") as f:
        f.write("two")
    assert path.read_text() == "two"
    assert sorted(p.name for p in path.parent.iterdir()) == ["state.txt"]


def test_failure_inside_the_block_keeps_the_old_file_and_removes_the_temporary(tmp_path):
    path = tmp_path / "state.bin"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="boom"), atomic_write(path) as f:
        f.write(b"half of the new")
        raise RuntimeError("boom")
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["state.bin"]


def test_temporary_file_is_named_for_cleanup_while_open(tmp_path):
    path = tmp_path / "noise-00000.npy"
    with atomic_write(path) as f:
        assert [p.name for p in tmp_path.glob(".*.tmp-*")] != []
        f.write(b"x")
    assert list(tmp_path.glob(".*.tmp-*")) == []


def test_unknown_mode_is_refused(tmp_path):
    with pytest.raises(ValueError, match="'wb' or 'w'"), atomic_write(tmp_path / "a", "a"):
        pass


def test_write_json_round_trips_and_a_bad_object_keeps_the_old_file(tmp_path):
    import json

    from koopkit.io import write_json

    path = tmp_path / "run" / "metrics.json"
    assert write_json({"b": 1, "a": [1.5, "x"]}, path, sort_keys=True) == path
    assert json.loads(path.read_text()) == {"a": [1.5, "x"], "b": 1}
    assert path.read_text().index('"a"') < path.read_text().index('"b"')
    assert path.read_text().endswith("}\n")
    with pytest.raises(TypeError, match="not JSON serializable"):
        write_json({"a": object()}, path)
    assert json.loads(path.read_text()) == {"a": [1.5, "x"], "b": 1}
    assert sorted(p.name for p in path.parent.iterdir()) == ["metrics.json"]


@pytest.fixture
def umask():
    """Set the process umask for one test and restore it afterwards."""
    import os

    old = os.umask(0o022)
    yield lambda value: os.umask(value)
    os.umask(old)


@pytest.mark.parametrize(("mask", "expected"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_new_files_honour_the_umask_like_open(tmp_path, umask, mask, expected):
    umask(mask)
    path = tmp_path / "result.json"
    with atomic_write(path, "w") as f:
        f.write("{}")
    with open(tmp_path / "plain", "w") as f:  # what open() does under the same umask
        f.write("{}")
    assert stat.S_IMODE(path.stat().st_mode) == expected
    assert stat.S_IMODE((tmp_path / "plain").stat().st_mode) == expected


def test_replacing_a_file_keeps_its_permissions(tmp_path, umask):
    umask(0o077)
    path = tmp_path / "shared.bin"
    path.write_bytes(b"old")
    path.chmod(0o640)
    with atomic_write(path) as f:
        f.write(b"new")
    assert path.read_bytes() == b"new"
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_disk_full_names_the_file_and_keeps_the_old_content(tmp_path, monkeypatch):
    import os

    path = tmp_path / "checkpoint.pt"
    path.write_bytes(b"old")

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError, match=r"No space left on device while writing.*checkpoint\.pt"):
        with atomic_write(path) as f:
            f.write(b"new")
    with pytest.raises(OSError, match=r"No space left.*checkpoint\.pt") as raised:
        with atomic_write(path) as f:
            raise OSError(errno.ENOSPC, "No space left on device")  # a write that failed
    assert raised.value.errno == errno.ENOSPC and raised.value.filename == str(path)
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]


def test_other_errors_inside_the_block_pass_unchanged(tmp_path):
    with pytest.raises(FileNotFoundError) as raised, atomic_write(tmp_path / "a.txt", "w"):
        open(tmp_path / "missing.txt")
    assert raised.value.filename == str(tmp_path / "missing.txt")


def test_litter_of_a_killed_writer_is_removed_and_nothing_else(tmp_path):
    import os
    import subprocess
    import sys

    from koopkit.io import remove_temporary_files

    code = (
        "import os, sys\n"
        "from koopkit.io import atomic_write\n"
        "with atomic_write(sys.argv[1]) as f:\n"
        "    f.write(b'half')\n"
        "    f.flush()\n"
        "    os._exit(1)\n"  # killed mid-write: no cleanup runs
    )
    env = {**os.environ, "PYTHONPATH": str(pathlib.Path(__file__).resolve().parents[2])}
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "state.pt")], env=env, check=False)
    litter = list(tmp_path.glob(".state.pt.tmp-*"))
    assert len(litter) == 1 and not (tmp_path / "state.pt").exists()
    keep = [
        tmp_path / "state.pt.tmp-0123456789abcdef",  # not hidden: not ours
        tmp_path / ".notes.tmp-backup",  # wrong suffix
        tmp_path / "results.json",
    ]
    for path in keep:
        path.write_text("keep")
    (tmp_path / ".dir.tmp-0123456789abcdef").mkdir()  # a folder, not a temporary file
    assert remove_temporary_files(tmp_path, min_age_s=3600) == []  # too fresh: maybe alive
    assert remove_temporary_files(tmp_path, min_age_s=0) == litter
    assert all(path.exists() for path in keep) and (tmp_path / ".dir.tmp-0123456789abcdef").is_dir()
    assert remove_temporary_files(tmp_path / "missing") == []


def test_cleanup_reaches_subfolders_only_when_asked(tmp_path):
    from koopkit.io import remove_temporary_files

    nested = tmp_path / "run" / ".ckpt.pt.tmp-00112233445566ff"
    nested.parent.mkdir()
    nested.write_bytes(b"x")
    assert remove_temporary_files(tmp_path, min_age_s=0) == []
    assert remove_temporary_files(tmp_path, min_age_s=0, recursive=True) == [nested]
