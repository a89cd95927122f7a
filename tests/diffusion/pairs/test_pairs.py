"""Pair generation: per-pair determinism, resumability (SIGKILL), no rewrites, refusal, ranks."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from tiny_runs import mlp_teacher

from koopkit_diffusion.pairs import PairDataset, generate_pairs, pair_noise, verify
from koopkit_diffusion.teacher import DenoiserTeacher


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny tensors: torch's thread pool only waits for busy cores (CI shares two)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def shard_bytes(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.glob("*-*.npy"))}


def file_ids(directory: Path) -> dict[str, tuple[int, int]]:
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in directory.glob("*-*.npy")}


GEN = {"n_steps": 4, "progress": False}


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """150 pairs, shard 40, batch 150 (one call per shard): the uninterrupted reference."""
    out = tmp_path_factory.mktemp("ref") / "pairs"
    generate_pairs(mlp_teacher(), out, 150, batch_size=150, shard_size=40, **GEN)
    return out


def test_generation_writes_manifest_shards_and_checksums(reference):
    manifest = json.loads((reference / "manifest.json").read_text())
    assert manifest["complete"] and manifest["count"] == 150 and manifest["n_shards"] == 4
    assert manifest["keys"] == ["noise", "sample"] and manifest["sigma_max"] == 80.0
    assert manifest["sampler"]["nfe"] == 7 and manifest["seed"] == 0
    assert manifest["format_version"] == 2 and manifest["teacher"]["kind"] == "edm"
    assert manifest["sampler"]["name"] == "edm_heun" and manifest["sampler"]["n_steps"] == 4
    assert [s["count"] for s in manifest["shards"]] == [40, 40, 40, 30]
    assert sorted(shard_bytes(reference)) == [
        f"{k}-{i:05d}.npy" for k in ("noise", "sample") for i in range(4)
    ]
    assert verify(reference).ok


def test_stored_noise_is_the_pure_function_of_seed_and_index(reference):
    ds = PairDataset(reference)
    for i in (0, 39, 40, 149):
        expected = pair_noise(0, i, (2,))[0].astype(np.float32)
        np.testing.assert_array_equal(ds[i]["noise"].numpy(), expected)


def test_samples_follow_the_teacher_heun_sampler(reference):
    from koopkit_diffusion.edm import heun_sample

    ds = PairDataset(reference)
    batch = ds.get_batch(range(150))
    out = heun_sample(mlp_teacher(), batch["noise"].double(), n_steps=4, dtype=torch.float64)
    np.testing.assert_allclose(batch["sample"].numpy(), out.samples.numpy(), rtol=1e-5, atol=1e-5)
    assert out.nfe == 7


@settings(max_examples=15)
@given(batch_size=st.integers(5, 90), shard_size=st.integers(8, 150))
def test_pair_bytes_do_not_depend_on_batch_size_or_shards(
    tmp_path_factory, reference, batch_size, shard_size
):
    out = tmp_path_factory.mktemp("hyp") / "pairs"
    generate_pairs(mlp_teacher(), out, 150, batch_size=batch_size, shard_size=shard_size, **GEN)
    a, b = PairDataset(reference).get_batch(range(150)), PairDataset(out).get_batch(range(150))
    for key in ("noise", "sample"):
        assert torch.equal(a[key], b[key]), key


def test_completed_shards_are_never_rewritten(tmp_path):
    out = tmp_path / "pairs"
    generate_pairs(mlp_teacher(), out, 100, batch_size=30, shard_size=25, **GEN)
    before = file_ids(out)
    manifest = generate_pairs(mlp_teacher(), out, 100, batch_size=64, shard_size=25, **GEN)
    assert manifest["complete"] and file_ids(out) == before


def test_different_set_in_directory_is_refused(tmp_path):
    out = tmp_path / "pairs"
    generate_pairs(mlp_teacher(), out, 50, batch_size=50, shard_size=25, **GEN)
    with pytest.raises(ValueError, match="seed"):
        generate_pairs(mlp_teacher(), out, 50, seed=1, batch_size=50, shard_size=25, **GEN)
    with pytest.raises(ValueError, match="state_sha256"):
        generate_pairs(mlp_teacher(seed=1), out, 50, batch_size=50, shard_size=25, **GEN)
    with pytest.raises(ValueError, match="count"):
        generate_pairs(mlp_teacher(), out, 60, batch_size=50, shard_size=25, **GEN)
    with pytest.raises(FileExistsError, match="resume"):
        generate_pairs(mlp_teacher(), out, 50, batch_size=50, shard_size=25, resume=False, **GEN)


def test_conditional_float16_set_stores_labels_and_rounded_noise(tmp_path):
    out = tmp_path / "pairs"
    generate_pairs(
        mlp_teacher(label_dim=3),
        out,
        70,
        batch_size=32,
        shard_size=30,
        dtype="float16",
        **GEN,
    )
    ds = PairDataset(out)
    assert sorted(p.name for p in out.glob("label-*.npy")) == [
        f"label-{i:05d}.npy" for i in range(3)
    ]
    item = ds[65]
    noise, label = pair_noise(0, 65, (2,), label_dim=3)
    assert item["label"].dtype == torch.int64 and int(item["label"]) == label
    assert item["noise"].dtype == torch.float32
    np.testing.assert_array_equal(item["noise"].numpy(), noise.astype(np.float16))
    labels = ds.get_batch(slice(None))["label"]
    assert labels.shape == (70,) and set(labels.tolist()) == {0, 1, 2}


def test_bad_arguments_are_refused(tmp_path):
    def plain(x, sigma, labels):
        return x

    with pytest.raises(ValueError, match="teacher protocol.*DenoiserTeacher"):
        generate_pairs(plain, tmp_path / "a", 10, progress=False)
    with pytest.raises(ValueError, match="dtype"):
        generate_pairs(mlp_teacher(), tmp_path / "b", 10, dtype="int8", progress=False)
    with pytest.warns(UserWarning, match="training mode"):
        generate_pairs(mlp_teacher().train(), tmp_path / "d", 10, n_steps=1, progress=False)
    with pytest.raises(ValueError, match="batch_size"):
        generate_pairs(mlp_teacher(), tmp_path / "c", 10, batch_size=0, progress=False)


def test_a_denoiser_function_is_a_teacher_through_denoiser_teacher(tmp_path):
    """The shape, classes and noise range come from the teacher, here a wrapped function."""
    teacher = DenoiserTeacher(
        lambda x, sigma, labels: torch.tanh(x) + labels[:, None], shape=(3,), label_dim=4,
        sigma_max=20.0,
    )  # fmt: skip
    manifest = generate_pairs(teacher, tmp_path / "p", 30, n_steps=3, shard_size=16, **QUIET)
    assert manifest["shapes"]["noise"] == [3] and manifest["label_dim"] == 4
    assert manifest["sigma_max"] == 20.0 and manifest["sampler"]["sigma_max"] == 20.0
    batch = PairDataset(tmp_path / "p").get_batch(range(30))
    expected = teacher.integrate(batch["noise"].double(), batch["label"], 3)
    np.testing.assert_allclose(batch["sample"].numpy(), expected.numpy(), rtol=1e-6, atol=1e-6)


QUIET = {"progress": False}


KILL_SCRIPT = """
import sys, time, torch
torch.set_num_threads(1)
sys.path.insert(0, {tests!r})
from tiny_runs import mlp_teacher
from koopkit_diffusion.pairs import generate_pairs
teacher = mlp_teacher()
# Slow the teacher down (a hook is not part of its state) so that the kill lands mid-run.
teacher.register_forward_pre_hook(lambda *_: time.sleep(0.02))
generate_pairs(teacher, {out!r}, 240, batch_size=20, shard_size=40, n_steps=4, progress=False)
"""


def test_sigkill_then_resume_gives_bytes_of_an_uninterrupted_run(tmp_path):
    out = tmp_path / "killed"
    script = KILL_SCRIPT.format(tests=str(Path(__file__).resolve().parents[2]), out=str(out))
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(script)])
    manifest_path = out / "manifest.json"
    try:
        deadline = time.monotonic() + 120
        done = 0
        while done < 1 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
            if manifest_path.exists():
                done = len(json.loads(manifest_path.read_text())["shards"])
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    partial = json.loads(manifest_path.read_text())
    assert 0 < len(partial["shards"]) < partial["n_shards"] and not partial["complete"]
    survivors = {f["name"]: None for s in partial["shards"] for f in s["files"].values()}
    before = {name: ids for name, ids in file_ids(out).items() if name in survivors}
    with pytest.raises(ValueError, match="incomplete"):
        PairDataset(out)

    generate_pairs(mlp_teacher(), out, 240, batch_size=64, shard_size=40, **GEN)
    fresh = tmp_path / "fresh"
    generate_pairs(mlp_teacher(), fresh, 240, batch_size=33, shard_size=40, **GEN)
    assert shard_bytes(out) == shard_bytes(fresh)
    assert {name: file_ids(out)[name] for name in before} == before
    assert verify(out).ok and not list(out.glob(".*.tmp-*"))


def _rank_main(rank: int, world: int, init_file: str, out: str) -> None:
    torch.set_num_threads(1)
    torch.distributed.init_process_group(
        "gloo", init_method=f"file://{init_file}", rank=rank, world_size=world
    )
    try:
        generate_pairs(mlp_teacher(), out, 150, batch_size=16, shard_size=20, **GEN)
    finally:
        torch.distributed.destroy_process_group()


def test_two_ranks_split_shards_and_match_a_single_process(tmp_path, reference):
    out = tmp_path / "ranks"
    torch.multiprocessing.spawn(
        _rank_main, args=(2, str(tmp_path / "init"), str(out)), nprocs=2, join=True
    )
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["complete"] and [s["index"] for s in manifest["shards"]] == list(range(8))
    a, b = PairDataset(reference).get_batch(range(150)), PairDataset(out).get_batch(range(150))
    assert torch.equal(a["noise"], b["noise"]) and torch.equal(a["sample"], b["sample"])
