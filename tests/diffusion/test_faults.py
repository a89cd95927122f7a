"""Fault injection through the public entry points, library and command line (issue 13).

Each test breaks one thing a careful user or a hostile file could break (a flipped byte, a
swapped or NaN-filled shard, an inconsistent manifest, a damaged checkpoint, a directory of
another kind, a bad number) and checks that it is refused clearly: the command exits with code 2
(``pairs verify``: 1) and one message naming the file or the value, and nothing corrupt is used.
"""

from __future__ import annotations

import errno
import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from tiny_runs import tiny_checkerboard_teacher

from koopkit_diffusion.cli import main
from koopkit_diffusion.pairs import PairDataset, new_manifest, verify
from koopkit_diffusion.runs import generate_pair_set, get_preset

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


def run_pairs(run: Path) -> Path:
    """The pair set a student run was trained on, as its record names it."""
    return Path(json.loads((run / "run.json").read_text())["pairs"])


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
        (lambda m: m.update(sigma_max=float("inf")), "'sigma_max' must be a positive finite"),
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
    code, out, _ = cli(capsys, "pairs", "info", pairs)
    assert code == 0 and any(expected in line for line in json.loads(out)["problems"])
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
        count=8, shard_size=4, shape=(2,), dtype="float32", label_dim=3, sigma_max=80.0,
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
            sigma_max=float("inf"), seed=0, teacher={}, sampler=None, source="t",
        )  # fmt: skip
    np.save(tmp_path / "traj.npy", np.zeros((2, 8, 2)))
    for flag in ("--sigma-max", "--noise-scale"):
        argv = ["pairs", "import", "--format", "trajectories", "--src", tmp_path / "traj.npy",
                "--out", tmp_path / "o", "--noise-index", "1", "--sample-index", "0",
                "--noise-scale", "80", flag, "inf"]  # fmt: skip
        code, _, err = cli(capsys, *argv)
        assert code == 2 and f"argument {flag}: expected a finite number" in err
    assert not (tmp_path / "o").exists()


# ------------------------------------------------------- corrupted checkpoints and teacher runs

CKPT2, CKPT4 = "ckpt-00000002.pt", "ckpt-00000004.pt"


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def empty(path: Path) -> None:
    path.write_bytes(b"")


def flip_middle(path: Path) -> None:
    """A flipped byte among the tensor data: ``torch.load`` alone reads altered weights."""
    flip_byte(path, offset=path.stat().st_size // 2)


@pytest.mark.parametrize(
    "damage", [flip_middle, truncate, empty], ids=["flip", "truncate", "empty"]
)
def test_resume_falls_back_to_the_newest_intact_checkpoint_saying_which(
    student, capsys, caplog, damage
):
    reference = torch.load(student / "checkpoints" / CKPT4, weights_only=True)["model"]
    damage(student / "checkpoints" / CKPT4)
    code, _, err = cli(capsys, "sample", "--run", student, "--n", "4", "--out",
                       student.parent / "s.npz")  # fmt: skip
    assert code == 2 and f"corrupt checkpoint {student / 'checkpoints' / CKPT4}" in err
    assert f"newest intact checkpoint is {CKPT2}" in err and not (student.parent / "s.npz").exists()
    code, _, err = cli(capsys, "evaluate", "--run", student, "--n", "50", "--no-teacher")
    assert code == 2 and CKPT4 in err
    code, _, err = train_cli(capsys, run_pairs(student), student, "--resume")
    assert code == 0, err
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any(CKPT4 in w and f"falling back to {CKPT2}" in w for w in warnings)
    assert (student / "checkpoints" / f"{CKPT4}.corrupt").exists()
    # retrained from step 2: the same weights as the run that was never damaged
    resumed = torch.load(student / "checkpoints" / CKPT4, weights_only=True)["model"]
    assert all(torch.equal(resumed[k], reference[k]) for k in reference)


def test_no_intact_checkpoint_lists_every_problem(student, capsys):
    empty(student / "checkpoints" / CKPT2)
    flip_middle(student / "checkpoints" / CKPT4)
    code, _, err = train_cli(capsys, run_pairs(student), student, "--resume")
    assert code == 2 and "no intact checkpoint" in err
    assert f"{CKPT2}: empty" in err and f"{CKPT4}: sha256 differs" in err


class _Payload:
    """Pickles to a call that creates a file: proof that code ran when a checkpoint was read."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.mark.parametrize("with_checksum", [True, False])
def test_a_pickled_payload_in_a_checkpoint_is_refused_and_never_runs(
    student, tmp_path, capsys, with_checksum
):
    marker = tmp_path / "payload-ran"
    path = student / "checkpoints" / CKPT4
    torch.save({"ema": {}, "model": {}, "step": 4, "x": _Payload(marker)}, path)
    sidecar = path.with_name(path.name + ".sha256")
    if with_checksum:  # a hostile file that comes with a matching checksum
        sidecar.write_text(hashlib.sha256(path.read_bytes()).hexdigest() + f"  {path.name}\n")
    else:
        sidecar.unlink(missing_ok=True)
    code, _, err = cli(capsys, "sample", "--run", student, "--n", "4", "--out", tmp_path / "s.npz")
    assert code == 2 and f"refused checkpoint {path}" in err and "nothing in it was run" in err
    assert not marker.exists()


def test_a_checkpoint_of_another_width_is_named_not_a_state_dict_traceback(student, tmp_path,
                                                                           capsys):  # fmt: skip
    other = tmp_path / "wide"
    assert train_cli(capsys, run_pairs(student), other, **{"model.mlp_width": "32"})[0] == 0
    shutil.copy(other / "checkpoints" / CKPT4, student / "checkpoints" / CKPT4)
    shutil.copy(other / "checkpoints" / f"{CKPT4}.sha256", student / "checkpoints")
    code, _, err = cli(capsys, "sample", "--run", student, "--n", "4", "--out", tmp_path / "s.npz")
    assert code == 2 and "does not fit the model" in err and CKPT4 in err


def test_a_damaged_teacher_run_is_refused_by_name(base, tmp_path, capsys, caplog):
    teacher = Path(shutil.copytree(base["teacher"], tmp_path / "teacher"))
    checkpoint = teacher / "checkpoints" / "ckpt-00000002.pt"
    flip_middle(checkpoint)
    code, _, err = cli(capsys, "pairs", "generate", "--teacher", teacher, "--out",
                       tmp_path / "p", "--n", "8", "--steps", "2")  # fmt: skip
    assert code == 2 and f"corrupt checkpoint {checkpoint}" in err
    assert not (tmp_path / "p").exists()
    code, _, err = cli(capsys, "teacher", "sample", "--run", teacher, "--n", "4", "--out",
                       tmp_path / "t.npz")  # fmt: skip
    assert code == 2 and "ckpt-00000002.pt" in err
    (teacher / "run.json").write_bytes(b"\x00\xff")
    code, _, err = cli(capsys, "pairs", "generate", "--teacher", teacher, "--out",
                       tmp_path / "p", "--n", "8")  # fmt: skip
    assert code == 2 and "run.json is not valid JSON" in err


def test_a_resumed_teacher_falls_back_and_its_metrics_have_no_duplicate_steps(tmp_path, capsys,
                                                                              caplog):  # fmt: skip
    from tiny_runs import TINY_TEACHER

    tiny = dict(TINY_TEACHER, **{"train.steps": "4", "train.keep_last": "none"})
    out = tmp_path / "teacher"
    argv = ["teacher", "train", "--preset", "teacher-checkerboard", "--out", out, *sets(tiny)]
    assert cli(capsys, *argv)[0] == 0
    steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    truncate(out / "checkpoints" / "ckpt-00000004.pt")
    assert cli(capsys, *argv, "--resume")[0] == 0
    assert any("falling back to ckpt-00000002.pt" in r.getMessage() for r in caplog.records)
    again = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert again == steps == [1, 2, 3, 4]


def test_partial_files_of_a_killed_write_are_removed_on_the_next_start(student, capsys):
    litter = [
        student / "checkpoints" / ".ckpt-00000006.pt.tmp-k1ll3d",
        student / "checkpoints" / ".ckpt-00000006.pt.sha256.tmp-k1ll3d",
        student / "checkpoints" / ".latest.tmp-k1ll3d",
        student / ".metrics.jsonl.tmp-k1ll3d",
    ]
    for path in litter:
        path.write_bytes(b"partial")
    keep = student / "notes.txt"  # not the trainer's: never deleted
    keep.write_text("mine")
    code, _, err = train_cli(capsys, run_pairs(student), student, "--resume",
                             **{"train.steps": "6"})  # fmt: skip
    assert code == 0, err
    assert not any(p.exists() for p in litter) and keep.read_text() == "mine"


# ------------------------------------------------------------------- no run is clobbered


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in directory.rglob("*")
            if p.is_file()}  # fmt: skip


def test_every_writer_refuses_a_directory_of_another_kind(base, student, tmp_path, capsys):
    teacher, pairs = base["teacher"], base["pairs"]
    kept = {d: _snapshot(d) for d in (teacher, pairs, student)}
    tiny_teacher = ["--preset", "teacher-checkerboard", *sets({"train.steps": "1"})]
    attempts = {
        "a student into a teacher run": ["train", "--preset", "checkerboard", "--pairs", pairs,
                                         "--out", teacher, *sets(STUDENT)],
        "a student into a pair set": ["train", "--preset", "checkerboard", "--pairs", pairs,
                                      "--out", pairs, *sets(STUDENT)],
        "a teacher into a student run": ["teacher", "train", *tiny_teacher, "--out", student],
        "a teacher into a pair set": ["teacher", "train", *tiny_teacher, "--out", pairs],
        "pairs into a teacher run": ["pairs", "generate", "--teacher", teacher, "--out", teacher,
                                     "--n", "8"],
        "pairs into a student run": ["pairs", "import", "--format", "trajectories", "--src",
                                     tmp_path / "t.npy", "--out", student, "--noise-index", "1",
                                     "--sample-index", "0", "--noise-scale", "80"],
    }  # fmt: skip
    np.save(tmp_path / "t.npy", np.random.default_rng(0).standard_normal((2, 8, 2)))
    for what, argv in attempts.items():
        code, _, err = cli(capsys, *argv)
        assert code == 2 and "holds a" in err, what
    assert {d: _snapshot(d) for d in kept} == kept


def test_writers_refuse_a_foreign_folder_and_never_delete_its_files(base, tmp_path, capsys):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "metrics.jsonl").write_text("my own notes\n")
    code, _, err = train_cli(capsys, base["pairs"], folder)
    assert code == 2 and "holds no koopkit run" in err and "metrics.jsonl" in err
    code, _, err = cli(capsys, "pairs", "generate", "--teacher", base["teacher"], "--out", folder,
                       "--n", "8")  # fmt: skip
    assert code == 2 and "holds no koopkit run" in err
    assert sorted(p.name for p in folder.iterdir()) == ["metrics.jsonl"]
    assert (folder / "metrics.jsonl").read_text() == "my own notes\n"


def test_quickstart_never_deletes_folders_it_did_not_create(tmp_path, capsys):
    from koopkit_diffusion.runs.quickstart import run_quickstart

    out = tmp_path / "qs"
    for name in ("kdm", "kd", "teacher"):
        (out / name).mkdir(parents=True)
        (out / name / "results.csv").write_text(f"{name}: weeks of work\n")
    with pytest.raises(FileExistsError, match="holds no koopkit run"):
        run_quickstart(out)
    for name in ("kdm", "kd", "teacher"):
        assert [p.name for p in (out / name).iterdir()] == ["results.csv"]
        assert (out / name / "results.csv").read_text() == f"{name}: weeks of work\n"


def test_an_output_below_a_regular_file_is_named(base, student, tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    code, _, err = train_cli(capsys, base["pairs"], blocker / "run")
    assert code == 2 and str(blocker) in err and "is a file" in err
    code, _, err = cli(capsys, "sample", "--run", student, "--n", "4", "--out",
                       blocker / "s.npz")  # fmt: skip
    assert code == 2 and str(blocker) in err and err.count("\n") == 1


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"model.sigma_z": "0.3"}, "model.sigma_z: 0.4 → 0.3"),
        ({"model.mlp_width": "32"}, "model.mlp_width: 16 → 32"),
        ({"train.lr": "0.002"}, f"train.lr: {get_preset('checkerboard').train.lr} → 0.002"),
    ],
)
def test_resume_with_a_changed_configuration_lists_the_differences(
    base, student, capsys, overrides, expected
):
    kept = _snapshot(student)
    code, _, err = train_cli(capsys, base["pairs"], student, "--resume", **overrides)
    assert code == 2 and "cannot resume" in err and expected in err
    assert _snapshot(student) == kept


def test_a_run_recorded_before_a_field_existed_resumes_when_the_field_keeps_its_default(
    base, student, capsys
):
    """Upgrading koopkit adds config fields; an older run lacks them in run.json. Holding the
    new field's default (the earlier behaviour) resumes; any other value is refused by name."""
    from koopkit_diffusion.students import KDMConfig

    record = json.loads((student / "run.json").read_text())
    model = record["config"]["model"]
    name = "w_latent"  # the checkerboard preset keeps its default
    assert model[name] == KDMConfig.__dataclass_fields__[name].default
    del model[name]
    (student / "run.json").write_text(json.dumps(record))
    code, _, err = train_cli(capsys, base["pairs"], student, "--resume", **{f"model.{name}": "0.5"})
    assert code == 2 and "cannot resume" in err and f"model.{name}: None → 0.5" in err
    code, _, err = train_cli(capsys, base["pairs"], student, "--resume", **{"train.steps": "6"})
    assert code == 0, err
    assert json.loads((student / "metrics.jsonl").read_text().splitlines()[-1])["step"] == 6


def test_resume_with_another_pair_set_of_the_same_length_is_refused(base, student, capsys):
    code, _, err = train_cli(capsys, base["other"], student, "--resume")
    assert code == 2 and "cannot resume" in err and "pair set:" in err
    assert str(base["other"]) in err


def test_a_resumed_teacher_refuses_a_changed_network(tmp_path, capsys):
    from tiny_runs import TINY_TEACHER

    out = tmp_path / "teacher"
    argv = ["teacher", "train", "--preset", "teacher-checkerboard", "--out", out]
    assert cli(capsys, *argv, *sets(TINY_TEACHER))[0] == 0
    wider = dict(TINY_TEACHER, **{"model.hidden": "32"})
    code, _, err = cli(capsys, *argv, *sets(wider), "--resume")
    assert code == 2 and "model.hidden: 16 → 32" in err


# ---------------------------------------------------------------------- bad numbers


def test_a_diverged_run_exits_non_zero_whatever_its_length(base, tmp_path, capsys):
    code, _, err = train_cli(capsys, base["pairs"], tmp_path / "kdm", **{
        "train.lr": "1e30", "train.steps": "50", "train.checkpoint_every": "100"})  # fmt: skip
    assert code == 2 and "of the 50 steps of this run were skipped as NaN/Inf" in err
    assert (tmp_path / "kdm" / "checkpoints" / "ckpt-00000050.pt").is_file()  # kept to inspect


@pytest.mark.parametrize("value", [float("inf"), float("nan"), float("-inf")])
@pytest.mark.parametrize("field", ["lr", "disc_lr", "weight_decay", "grad_clip"])
def test_trainer_config_refuses_non_finite_values(field, value):
    from koopkit_diffusion.trainer import TrainerConfig

    with pytest.raises(ValueError, match=field):
        TrainerConfig(**{field: value})


@pytest.mark.parametrize("value", [float("inf"), float("nan")])
@pytest.mark.parametrize(
    ("config", "field"),
    [("kdm", "sigma_z"), ("kdm", "w_rec"), ("kdm", "w_adv"), ("kdm", "sigma_max"),
     ("kdm", "dropout"), ("teacher", "sigma_max"), ("teacher", "sigma_data"),
     ("teacher", "P_mean")],
)  # fmt: skip
def test_model_configs_refuse_non_finite_values(config, field, value):
    from koopkit_diffusion.students import KDMConfig
    from koopkit_diffusion.teacher import TeacherConfig

    cls = KDMConfig if config == "kdm" else TeacherConfig
    with pytest.raises(ValueError, match=field):
        cls(**{field: value})


@pytest.mark.parametrize("text", ["inf", "nan", "-inf", "1e400"])
def test_cli_overrides_refuse_non_finite_values(base, tmp_path, capsys, text):
    code, _, err = train_cli(capsys, base["pairs"], tmp_path / "kdm", **{"train.lr": text})
    assert code == 2 and "train.lr" in err and not (tmp_path / "kdm").exists()


# ------------------------------------------------------------- command-line bad input


def test_cli_version(capsys):
    from koopkit_diffusion import __version__

    code, out, _ = cli(capsys, "--version")
    assert code == 0 and out.strip() == f"koopkit-diffusion {__version__}"


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--device", "bogus"], "argument --device: 'bogus' is not a device"),
        (["--device", "cuda"], "argument --device: 'cuda' was asked for but no CUDA GPU"),
        (["--device", "cuda:3"], "argument --device: 'cuda:3' was asked for but no CUDA GPU"),
        (["--batch-size", "0"], "argument --batch-size: expected a positive integer, got '0'"),
        (["--n", "-5"], "argument --n: expected a positive integer, got '-5'"),
    ],
)
def test_cli_refuses_bad_arguments_in_one_line(student, tmp_path, capsys, monkeypatch, argv,
                                               expected):  # fmt: skip
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    base_argv = {"--n": "4", "--out": tmp_path / "s.npz", "--run": student}
    for flag, value in zip(argv[::2], argv[1::2], strict=True):
        base_argv[flag] = value
    code, _, err = cli(capsys, "sample", *[a for kv in base_argv.items() for a in kv])
    assert code == 2 and expected in err and "Traceback" not in err
    assert not (tmp_path / "s.npz").exists()


def test_sample_run_refuses_a_zero_batch_size_from_the_library(student, tmp_path):
    from koopkit_diffusion.runs import sample_run

    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        sample_run(student, 4, tmp_path / "s.npz", batch_size=0)


def _fill_disk_in_torch_save(monkeypatch, after_bytes: int = 1000) -> None:
    """``torch.save`` on a disk that fills up: the write fails with ENOSPC after some bytes
    (``torch`` then raises ``RuntimeError: ... unexpected pos``, the ``OSError`` in its context)."""
    real_save = torch.save

    class FullDisk:
        def __init__(self, f):
            self.f, self.written = f, 0

        def write(self, data):
            self.written += len(data)
            if self.written > after_bytes:
                raise OSError(errno.ENOSPC, "No space left on device")
            return self.f.write(data)

        def flush(self):
            self.f.flush()

    monkeypatch.setattr(torch, "save", lambda obj, f, **kw: real_save(obj, FullDisk(f), **kw))


def test_a_full_disk_names_the_checkpoint_being_written(base, tmp_path, capsys, monkeypatch):
    _fill_disk_in_torch_save(monkeypatch)
    code, _, err = train_cli(capsys, base["pairs"], tmp_path / "kdm")
    checkpoint = tmp_path / "kdm" / "checkpoints" / CKPT2
    assert code == 2 and err.strip().endswith(f"No space left on device: {checkpoint}")
    assert not list((tmp_path / "kdm" / "checkpoints").iterdir())  # no partial file left


def test_a_full_disk_names_the_pair_shard_being_written(base, tmp_path, capsys, monkeypatch):
    import os as os_module

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os_module, "fsync", full)
    code, _, err = cli(capsys, "pairs", "generate", "--teacher", base["teacher"], "--out",
                       tmp_path / "p", "--n", "8", "--steps", "2")  # fmt: skip
    assert code == 2 and "No space left on device" in err
    assert str(tmp_path / "p") in err and "Traceback" not in err


def test_tensorboard_without_the_package_is_one_line_and_writes_nothing(base, tmp_path, capsys,
                                                                        monkeypatch):  # fmt: skip
    import sys

    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    code, _, err = train_cli(capsys, base["pairs"], tmp_path / "kdm",
                             **{"train.tensorboard": "true"})  # fmt: skip
    assert code == 2 and "pip install tensorboard" in err and err.count("\n") == 1
    assert not (tmp_path / "kdm" / "config.json").exists()


def test_logging_goes_through_the_progress_bar_and_single_processes_have_no_rank(
    base, tmp_path, capsys, monkeypatch, caplog
):
    """Checkpoint lines are written above an open training bar (tqdm.write), not into it."""
    import logging

    import tqdm

    written = []
    real_write = tqdm.tqdm.write
    monkeypatch.setattr(tqdm.tqdm, "write", classmethod(
        lambda cls, s, *a, **k: written.append(s) or real_write(s, *a, **k)))  # fmt: skip
    caplog.set_level(logging.INFO)
    handler = logging.StreamHandler()  # a console handler, as logging.basicConfig adds
    logging.getLogger().addHandler(handler)
    try:
        code, _, err = train_cli(capsys, base["pairs"], tmp_path / "kdm",
                                 **{"train.progress": "true"})  # fmt: skip
    finally:
        logging.getLogger().removeHandler(handler)
    assert code == 0
    assert any("checkpoint" in line and CKPT2 in line for line in written)
    generate = cli(capsys, "pairs", "generate", "--teacher", base["teacher"], "--out",
                   tmp_path / "p", "--n", "8", "--steps", "2")  # fmt: skip
    assert generate[0] == 0 and "rank" not in generate[2]


# ------------------------------------------------------- library bad input (evaluation)


def test_feature_stats_refuse_a_batch_of_another_width():
    from koopkit_diffusion.evaluation.metrics import FeatureStats

    with pytest.raises(ValueError, match="expected 3 features, got 5"):
        FeatureStats(n_features=3).update(np.zeros((4, 5)))
    with pytest.raises(ValueError, match="one feature"):
        FeatureStats().update(np.zeros((4, 0)))


@pytest.mark.parametrize(
    ("sigma", "expected"),
    [
        (-np.eye(3), "positive semi-definite"),
        (np.diag([1.0, 1.0, -0.5]), "positive semi-definite"),
        (np.array([[1.0, 0.9, 0], [0.1, 1.0, 0], [0, 0, 1.0]]), "symmetric"),
    ],
)
def test_frechet_distance_refuses_what_is_not_a_covariance(sigma, expected):
    from koopkit_diffusion.evaluation.metrics import frechet_distance

    with pytest.raises(ValueError, match=expected):
        frechet_distance(np.zeros(3), sigma, np.zeros(3), np.eye(3))


def test_frechet_distance_accepts_round_off_below_zero_and_refuses_zero_features():
    from koopkit_diffusion.evaluation.metrics import frechet_distance

    x = np.random.default_rng(0).standard_normal((5, 20))  # rank 4 covariance of 20 features
    sigma = np.cov(x, rowvar=False)
    assert np.linalg.eigvalsh(sigma)[0] < 0  # round-off, which must pass
    assert frechet_distance(x.mean(0), sigma, x.mean(0), sigma) == pytest.approx(0, abs=1e-6)
    with pytest.raises(ValueError, match="at least one feature"):
        frechet_distance(np.zeros(0), np.zeros((0, 0)), np.zeros(0), np.zeros((0, 0)))


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (np.zeros((5, 2)), np.zeros((5, 3)), "same number of columns"),
        (np.zeros((0, 2)), np.zeros((5, 2)), "at least one sample"),
        (np.array([[np.nan], [1.0]]), np.zeros((2, 1)), "NaN or Inf"),
        (np.zeros((2, 2, 2)), np.zeros((2, 2, 2)), "shape"),
    ],
)
def test_wasserstein_1d_validates_its_input(a, b, expected):
    from koopkit_diffusion.evaluation.metrics import wasserstein_1d

    with pytest.raises(ValueError, match=expected):
        wasserstein_1d(a, b)


def test_wasserstein_1d_takes_a_1d_array_as_one_column():
    from koopkit_diffusion.evaluation.metrics import wasserstein_1d

    distance = wasserstein_1d(np.arange(4.0), np.arange(4.0) + 1)
    assert distance.shape == (1,) and distance[0] == pytest.approx(1.0)


def test_same_noise_scores_take_numpy_and_refuse_wrong_shapes(student):
    from koopkit_diffusion.evaluation import same_noise_scores
    from koopkit_diffusion.runs import load_generator

    model = load_generator(student).model
    pairs = PairDataset(run_pairs(student))[:]
    expected = same_noise_scores(model, pairs)
    as_numpy = same_noise_scores(model, {k: v.numpy() for k, v in pairs.items()})
    assert as_numpy == pytest.approx(expected)
    bad = {
        "noise": (
            pairs["noise"][:, :1],
            r"pairs\['noise'\] must be a float array of shape \(n, 2\)",
        ),
        "sample": (pairs["sample"][:10], "96 noises but 10 samples"),
    }
    for key, (value, expected_message) in bad.items():
        with pytest.raises(ValueError, match=expected_message):
            same_noise_scores(model, {**pairs, key: value})
    with pytest.raises(ValueError, match="label"):
        same_noise_scores(model, {**pairs, "label": np.zeros(3)})


def test_operators_refuse_inputs_of_the_wrong_dtype():
    from koopkit.operators import DenseOperator, DiagonalOperator, LowRankOperator

    for op in (DenseOperator(4), LowRankOperator(4, rank=2), DiagonalOperator(4)):
        for z in (torch.zeros(3, 4, dtype=torch.float64), torch.zeros(3, 4, dtype=torch.long)):
            with pytest.raises(ValueError, match="dtype"):
                op(z)
        assert op(torch.zeros(3, 4)).dtype == torch.float32
        with torch.autocast("cpu", dtype=torch.bfloat16):  # mixed precision casts on purpose
            assert torch.isfinite(op(torch.zeros(3, 4, dtype=torch.bfloat16))).all()
