"""Fault injection through the public entry points, library and command line (issue 13).

Each test breaks one thing a careful user or a hostile file could break (a flipped byte, a
swapped or NaN-filled shard, an inconsistent manifest, a damaged checkpoint, a directory of
another kind, a bad number) and checks that it is refused clearly: the command exits with code 2
(``pairs verify``: 1) and one message naming the file or the value, and nothing corrupt is used.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from tiny_runs import tiny_checkerboard_teacher

from koopkit_diffusion.cli import main
from koopkit_diffusion.pairs import PairDataset, new_manifest, verify
from koopkit_diffusion.runs import generate_pair_set

N_PAIRS, SHARD = 96, 32
STUDENT = {
    "model.latent_dim": "8",
    "model.mlp_width": "16",
    "model.mlp_depth": "1",
    "train.steps": "4",
    "train.batch_size": "16",
    "train.log_every": "1",
    "train.checkpoint_every": "2",
    "train.keep_last": "none",
    "train.sample_every": "0",
    "train.progress": "false",
    "train.loss_figure": "false",
}


def sets(overrides: dict[str, str]) -> list[str]:
    return [arg for key, value in overrides.items() for arg in ("--set", f"{key}={value}")]


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    """Run the command line; return (exit code, stdout, stderr)."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exit_:  # argparse refusals
        code = exit_.code
    out, err = capsys.readouterr()
    return code, out, err


def train_cli(capsys, pairs: Path, out: Path, *extra: str, **overrides: str):
    values = dict(STUDENT, **overrides)
    return cli(capsys, "train", "--preset", "checkerboard", "--pairs", pairs, "--out", out,
               *sets(values), *extra)  # fmt: skip


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> dict[str, Path]:
    """A tiny teacher run, a 96-pair set in three shards from it, and a second set (other seed)."""
    root = tmp_path_factory.mktemp("faults")
    teacher = tiny_checkerboard_teacher(root / "teacher")
    common = dict(n_steps=2, shard_size=SHARD, progress=False)
    generate_pair_set(teacher, root / "pairs", N_PAIRS, seed=1, **common)
    generate_pair_set(teacher, root / "other-pairs", N_PAIRS, seed=2, **common)
    return {
        "root": root,
        "teacher": teacher,
        "pairs": root / "pairs",
        "other": root / "other-pairs",
    }


@pytest.fixture
def pairs(base, tmp_path) -> Path:
    """A private copy of the pair set, to break."""
    return Path(shutil.copytree(base["pairs"], tmp_path / "pairs"))


@pytest.fixture
def student(base, tmp_path, capsys) -> Path:
    """A KDM trained 4 steps on the pair set, checkpoints at steps 2 and 4."""
    out = tmp_path / "kdm"
    code, _, err = train_cli(capsys, base["pairs"], out)
    assert code == 0, err
    return out


def flip_byte(path: Path, offset: int = -3) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def edit_manifest(directory: Path, change) -> None:
    path = directory / "manifest.json"
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest))


def write_shard(directory: Path, name: str, array: np.ndarray, rehash: bool = True) -> None:
    """Replace a shard file; with ``rehash`` also its sha256 and size in the manifest (a set whose
    writer itself produced bad values, or a hostile edit that keeps the manifest consistent)."""
    path = directory / name
    np.save(path, array)
    if rehash:

        def change(manifest):
            for entry in manifest["shards"]:
                for file in entry["files"].values():
                    if file["name"] == name:
                        file["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
                        file["bytes"] = path.stat().st_size

        edit_manifest(directory, change)


# ------------------------------------------------------------------------ corrupted pair sets


def test_a_flipped_byte_in_a_shard_stops_training_naming_the_shard(pairs, tmp_path, capsys):
    flip_byte(pairs / "sample-00001.npy")
    code, _, err = train_cli(capsys, pairs, tmp_path / "kdm")
    assert code == 2 and "sample-00001.npy" in err and "sha256" in err
    assert not list((tmp_path / "kdm" / "checkpoints").glob("ckpt-*.pt"))
    code, out, _ = cli(capsys, "pairs", "verify", pairs)
    assert code == 1 and "sample-00001.npy" in out


def test_swapped_shards_stop_training(pairs, tmp_path, capsys):
    a, b = pairs / "noise-00000.npy", pairs / "noise-00002.npy"
    first, second = a.read_bytes(), b.read_bytes()
    a.write_bytes(second)  # the last shard is as long as the others here (96 = 3 × 32)
    b.write_bytes(first)
    code, _, err = train_cli(capsys, pairs, tmp_path / "kdm")
    assert code == 2 and "noise-0000" in err
    assert set(verify(pairs).bad_files) == {"noise-00000.npy", "noise-00002.npy"}


def test_swapped_manifest_entries_are_named(pairs, tmp_path, capsys):
    def swap(manifest):
        files = [e["files"]["sample"] for e in manifest["shards"][:2]]
        manifest["shards"][0]["files"]["sample"], manifest["shards"][1]["files"]["sample"] = (
            files[1],
            files[0],
        )

    edit_manifest(pairs, swap)
    code, out, _ = cli(capsys, "pairs", "verify", pairs)
    assert code == 1 and "another shard's file" in out and "shard 00000" in out
    code, _, err = train_cli(capsys, pairs, tmp_path / "kdm")
    assert code == 2 and "manifest.json" in err and "sample-00001.npy" in err


def test_a_nan_filled_shard_with_a_consistent_manifest_stops_training(pairs, tmp_path, capsys):
    write_shard(pairs, "sample-00001.npy", np.full((SHARD, 2), np.nan, np.float32))
    code, _, err = train_cli(capsys, pairs, tmp_path / "kdm")
    assert code == 2 and "sample-00001.npy" in err and "NaN" in err
    code, out, _ = cli(capsys, "pairs", "verify", pairs)
    assert code == 1 and "sample-00001.npy: NaN or Inf values (first in pair 32)" in out


def test_no_verify_skips_the_checks_and_the_nan_guard_then_fails_the_run(pairs, tmp_path, capsys):
    write_shard(pairs, "noise-00000.npy", np.full((SHARD, 2), np.nan, np.float32))
    write_shard(pairs, "noise-00001.npy", np.full((SHARD, 2), np.nan, np.float32))
    code, _, err = train_cli(capsys, pairs, tmp_path / "kdm", "--no-verify", **{
        "train.steps": "6", "train.checkpoint_every": "100"})  # fmt: skip
    assert code == 2 and "steps of this run were skipped as NaN/Inf" in err
    assert "corrupt pair set" not in err


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda m: m.update(count=95), "shard 00002 holds 32 pairs, expected 31"),
        (lambda m: m.update(count=64), "n_shards is 3, but 64 pairs"),
        (lambda m: m.update(count=64, n_shards=2), "shard entry 2 has index 2"),
        (lambda m: m["shards"][1].update(start=40), "shard 00001 starts at 40, expected 32"),
        (lambda m: m["shards"][2].update(count=31), "shard 00002 holds 31 pairs, expected 32"),
        (lambda m: m["shards"][1]["files"].pop("noise"), "shard 00001 has no 'noise' file"),
        (lambda m: m["shards"].__setitem__(2, m["shards"][1]), "shard 00001 is listed twice"),
        (lambda m: m["shards"].pop(1), "says complete but lists 2 of 3 shards"),
        (lambda m: m.update(noise_scale=float("inf")), "noise_scale must be a positive finite"),
        (lambda m: m.update(keys=["sample", "noise"]), "field 'keys'"),
        (lambda m: m["shards"][0]["files"]["noise"].update(name="../x.npy"), "'../x.npy'"),
    ],
)
def test_an_inconsistent_manifest_is_refused_by_verify_and_train(
    pairs, tmp_path, capsys, change, expected
):
    edit_manifest(pairs, change)
    code, out, _ = cli(capsys, "pairs", "verify", pairs)
    assert code == 1 and expected in out and "manifest.json" in out
    code, _, err = train_cli(capsys, pairs, tmp_path / "kdm")
    assert code == 2 and expected in err


def test_a_truncated_or_missing_shard_and_a_broken_manifest_are_named(pairs, tmp_path, capsys):
    path = pairs / "sample-00002.npy"
    path.write_bytes(path.read_bytes()[:-8])
    code, _, err = train_cli(capsys, pairs, tmp_path / "a")
    assert code == 2 and "sample-00002.npy" in err and "truncated" in err
    path.unlink()
    code, _, err = train_cli(capsys, pairs, tmp_path / "b")
    assert code == 2 and "sample-00002.npy: missing" in err
    (pairs / "manifest.json").write_text('{"format": "koopkit-pairs", ')
    code, _, err = train_cli(capsys, pairs, tmp_path / "c")
    assert code == 2 and "manifest.json is not valid JSON" in err


def test_a_reader_verifies_each_shard_the_first_time_it_reads_it(pairs):
    flip_byte(pairs / "noise-00002.npy")
    ds = PairDataset(pairs)  # consistency and sizes only: the flip is inside the data
    assert ds[0]["noise"].shape == (2,)  # shard 0 is intact
    with pytest.raises(ValueError, match="noise-00002.npy: sha256 differs"):
        ds.get_batch([70])
    assert PairDataset(pairs, verify=False)[70]["noise"].shape == (2,)  # the explicit opt-out
    with pytest.raises(ValueError, match="noise-00002.npy"):
        PairDataset(pairs, verify=True)


def test_verified_shards_are_cached_by_size_and_mtime_in_the_run(pairs, tmp_path, capsys,
                                                                  monkeypatch):  # fmt: skip
    from koopkit_diffusion.pairs import integrity

    hashed = []
    real = integrity.file_sha256
    monkeypatch.setattr(integrity, "file_sha256", lambda p: hashed.append(Path(p).name) or real(p))
    out = tmp_path / "kdm"
    assert train_cli(capsys, pairs, out, **{"train.steps": "2"})[0] == 0
    assert len(hashed) == 6  # three shards of noise and sample, once each
    cache = json.loads((out / "verified-pairs.json").read_text())
    assert len(cache["files"]) == 6
    hashed.clear()
    assert train_cli(capsys, pairs, out, "--resume")[0] == 0
    assert hashed == []  # resumed: nothing read again
    write_shard(pairs, "sample-00000.npy", np.zeros((SHARD, 2), np.float32), rehash=False)
    code, _, err = train_cli(capsys, pairs, out, "--resume", **{"train.steps": "6"})
    assert code == 2 and "sample-00000.npy: sha256 differs" in err  # rewritten: checked again
    assert hashed == ["sample-00000.npy"]


def test_labels_out_of_range_are_named(tmp_path):
    from koopkit_diffusion.pairs import PairSetWriter

    manifest = new_manifest(
        count=8, shard_size=4, shape=(2,), dtype="float32", label_dim=3, noise_scale=80.0,
        seed=None, teacher={}, sampler=None, source="test",
    )  # fmt: skip
    writer = PairSetWriter(tmp_path, manifest)
    for s, labels in enumerate(([0, 1, 2, 0], [1, 7, 0, 2])):
        writer.write_shard(s, {"noise": np.zeros((4, 2)), "sample": np.zeros((4, 2)),
                               "label": np.array(labels)})  # fmt: skip
    assert verify(tmp_path).problems == ["label-00001.npy: labels outside [0, 3) (first in pair 5)"]
    with pytest.raises(ValueError, match="label-00001.npy"):
        PairDataset(tmp_path)[:]


def test_infinity_never_reaches_a_manifest(tmp_path, capsys):
    with pytest.raises(ValueError, match="positive finite"):
        new_manifest(
            count=4, shard_size=4, shape=(2,), dtype="float32", label_dim=0,
            noise_scale=float("inf"), seed=0, teacher={}, sampler=None, source="t",
        )  # fmt: skip
    np.save(tmp_path / "traj.npy", np.zeros((2, 8, 2)))
    for flag in ("--sigma-max", "--noise-scale"):
        argv = ["pairs", "import", "--format", "trajectories", "--src", tmp_path / "traj.npy",
                "--out", tmp_path / "o", "--noise-index", "1", "--sample-index", "0",
                "--noise-scale", "80", flag, "inf"]  # fmt: skip
        code, _, err = cli(capsys, *argv)
        assert code == 2 and f"argument {flag}: expected a finite number" in err
    assert not (tmp_path / "o").exists()
