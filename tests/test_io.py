"""atomic_write: readers see the old file or the new one, never a part, and no litter stays."""

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
