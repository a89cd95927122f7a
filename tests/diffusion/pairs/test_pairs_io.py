"""Pair sets on disk: memory-mapped reading, corruption detection, importers, the CLI."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.data import BatchSampler, DataLoader, SequentialSampler

from koopkit_diffusion.commands import pairs as pairs_cli
from koopkit_diffusion.pairs import (
    PairDataset,
    PairSetWriter,
    import_npz_per_pair,
    import_torch_shards,
    import_trajectories,
    info,
    new_manifest,
    verify,
)


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny tensors: torch's thread pool only waits for busy cores (CI shares two)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


SHAPE = (3, 4, 4)


def write_set(
    directory: Path, n: int = 50, shard_size: int = 16, label_dim: int = 0, dtype: str = "float16"
) -> dict[str, np.ndarray]:
    """A synthetic set written with the format writer; returns the arrays written."""
    rng = np.random.default_rng(0)
    arrays = {
        "noise": rng.standard_normal((n, *SHAPE)).astype(dtype),
        "sample": rng.uniform(-1, 1, (n, *SHAPE)).astype(dtype),
    }
    if label_dim:
        arrays["label"] = rng.integers(label_dim, size=n)
    manifest = new_manifest(
        count=n,
        shard_size=shard_size,
        shape=SHAPE,
        dtype=dtype,
        label_dim=label_dim,
        sigma_max=80.0,
        seed=None,
        teacher={"description": "synthetic"},
        sampler=None,
        source="test",
    )
    writer = PairSetWriter(directory, manifest)
    for s in range(writer.n_shards):
        writer.write_shard(
            s, {k: v[s * shard_size : (s + 1) * shard_size] for k, v in arrays.items()}
        )
    return arrays


@pytest.fixture
def pair_set(tmp_path) -> tuple[Path, dict[str, np.ndarray]]:
    out = tmp_path / "set"
    return out, write_set(out, label_dim=10)


def test_dataset_items_and_batches_match_what_was_written(pair_set):
    out, arrays = pair_set
    ds = PairDataset(out)
    assert len(ds) == 50 and ds.sigma_max == 80.0 and ds.shape == SHAPE and ds.label_dim == 10
    item = ds[17]
    assert item["noise"].dtype == torch.float32 and item["label"].dtype == torch.int64
    np.testing.assert_array_equal(item["noise"].numpy(), arrays["noise"][17].astype(np.float32))
    assert int(item["label"]) == arrays["label"][17]
    idx = [49, 0, 17, 17, 16, 15, -1]
    batch = ds.get_batch(idx)
    assert batch["sample"].shape == (7, *SHAPE)
    np.testing.assert_array_equal(batch["sample"].numpy(), arrays["sample"][idx].astype(np.float32))
    np.testing.assert_array_equal(batch["label"].numpy(), arrays["label"][idx])
    with pytest.raises(IndexError):
        ds[50]


def test_a_version_1_set_is_read_with_its_noise_scale_as_sigma_max(pair_set):
    """Version 1 named σmax ``noise_scale``; such sets stay readable and verifiable."""
    out, arrays = pair_set
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["format_version"] = 1
    manifest["noise_scale"] = manifest.pop("sigma_max")
    (out / "manifest.json").write_text(json.dumps(manifest))
    ds = PairDataset(out)
    assert ds.sigma_max == 80.0 and len(ds) == 50 and verify(out).ok
    np.testing.assert_array_equal(ds[3]["sample"].numpy(), arrays["sample"][3].astype(np.float32))
    # A writer does not continue a version-1 set: it names the difference.
    with pytest.raises(ValueError, match="format_version: existing 1, requested 2"):
        write_set(out, label_dim=10)


@pytest.fixture(scope="module")
def read_only_set(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ro") / "set"
    write_set(out, label_dim=10)
    return out


@settings(max_examples=25)
@given(data=st.data())
def test_batched_reads_equal_item_reads(read_only_set, data):
    out = read_only_set
    limit = data.draw(st.sampled_from([1, 5000, 256 * 2**20]))
    ds = PairDataset(out, resident_limit_bytes=limit)
    idx = data.draw(st.lists(st.integers(0, 49), max_size=40))
    batch = ds[idx] if data.draw(st.booleans()) else ds.get_batch(np.array(idx, dtype=np.int64))
    assert batch["noise"].shape == (len(idx), *SHAPE)
    for row, i in enumerate(idx):
        for key, value in ds[i].items():
            assert torch.equal(batch[key][row], value)


def test_dataloader_with_batch_sampler_reads_whole_batches(pair_set):
    out, arrays = pair_set
    ds = PairDataset(out)
    sampler = BatchSampler(SequentialSampler(ds), batch_size=16, drop_last=False)
    loader = DataLoader(ds, sampler=sampler, batch_size=None, num_workers=0)
    noise = torch.cat([b["noise"] for b in loader])
    np.testing.assert_array_equal(noise.numpy(), arrays["noise"].astype(np.float32))


def test_pages_are_released_once_the_resident_limit_is_reached(pair_set, monkeypatch):
    out, arrays = pair_set
    released = []
    monkeypatch.setattr(PairDataset, "release_pages", lambda self: released.append(1))
    PairDataset(out).get_batch(range(50))
    assert not released
    tight = PairDataset(out, resident_limit_bytes=1)
    tight.get_batch(range(50))
    assert released
    monkeypatch.undo()
    tight.release_pages()
    np.testing.assert_array_equal(
        tight[3]["sample"].numpy(), arrays["sample"][3].astype(np.float32)
    )


def test_truncated_shard_is_named_by_verify_and_dataset(pair_set):
    out, _ = pair_set
    path = out / "sample-00002.npy"
    path.write_bytes(path.read_bytes()[:-10])
    report = verify(out)
    assert not report.ok and report.bad_files == ["sample-00002.npy"]
    assert "sample-00002.npy" in str(report)
    with pytest.raises(ValueError, match="sample-00002.npy"):
        PairDataset(out)


def test_altered_shard_is_named_by_verify_and_verifying_dataset(pair_set):
    out, _ = pair_set
    path = out / "noise-00001.npy"
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF
    path.write_bytes(bytes(data))
    report = verify(out)
    assert report.bad_files == ["noise-00001.npy"] and "altered" in str(report)
    assert verify(out, checksums=False).ok
    with pytest.raises(ValueError, match="noise-00001.npy"):
        PairDataset(out, verify=True)


def test_missing_or_wrong_header_shard_is_named(pair_set):
    out, _ = pair_set
    (out / "label-00003.npy").unlink()
    assert verify(out).bad_files == ["label-00003.npy"]
    with pytest.raises(ValueError, match="label-00003.npy"):
        PairDataset(out)


def test_header_alteration_is_caught_when_the_shard_opens(tmp_path):
    out = tmp_path / "set"
    write_set(out, n=20, shard_size=10)
    path = out / "noise-00001.npy"
    data = path.read_bytes().replace(b"(10, 3, 4, 4)", b"(10, 4, 3, 4)")
    path.write_bytes(data)
    ds = PairDataset(out)
    ds[0]
    with pytest.raises(ValueError, match="noise-00001.npy"):
        ds[15]


def test_incomplete_set_and_missing_manifest_are_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="manifest.json"):
        PairDataset(tmp_path)
    manifest = new_manifest(
        count=20,
        shard_size=10,
        shape=(2,),
        dtype="float32",
        label_dim=0,
        sigma_max=80.0,
        seed=0,
        teacher={},
        sampler=None,
        source="test",
    )
    writer = PairSetWriter(tmp_path, manifest)
    writer.write_shard(1, {"noise": np.zeros((10, 2)), "sample": np.zeros((10, 2))})
    with pytest.raises(ValueError, match="1 of 2 shards"):
        PairDataset(tmp_path)
    assert verify(tmp_path).bad_files == ["shard 00000"]
    assert info(tmp_path)["shards_complete"] == 1
    with pytest.raises(ValueError, match=r"shape \(10, 2\)"):
        writer.write_shard(0, {"noise": np.zeros((9, 2)), "sample": np.zeros((9, 2))})


def test_completing_a_set_removes_only_interrupted_writers_temporaries(tmp_path):
    manifest = new_manifest(
        count=20,
        shard_size=10,
        shape=(2,),
        dtype="float32",
        label_dim=0,
        sigma_max=80.0,
        seed=0,
        teacher={},
        sampler=None,
        source="test",
    )
    writer = PairSetWriter(tmp_path, manifest)
    shard = {"noise": np.zeros((10, 2)), "sample": np.zeros((10, 2))}
    writer.write_shard(1, shard)
    stale = tmp_path / ".noise-00000.npy.tmp-0123456789abcdef"  # a killed writer's temporary
    stale.write_bytes(b"half a shard")
    foreign = tmp_path / ".notes.tmp-keep"  # not a name the writer makes
    foreign.write_text("the user's")
    folder = tmp_path / ".cache.tmp-0123456789abcdef"  # the writer's pattern, but a folder
    folder.mkdir()
    writer.write_shard(0, shard)
    assert verify(tmp_path).ok
    assert not stale.exists()
    assert foreign.read_text() == "the user's" and folder.is_dir()


def test_info_summarises_without_the_shard_list(pair_set):
    out, _ = pair_set
    summary = info(out)
    assert summary["count"] == 50 and summary["shards_complete"] == 4 and "shards" not in summary
    assert summary["bytes"] == sum(p.stat().st_size for p in out.glob("*-*.npy"))


# ---------------------------------------------------------------- importers


def wild_pairs(n: int, dim: int = 2) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    return rng.standard_normal((n, dim)), rng.uniform(-0.5, 0.5, (n, dim))


def test_npz_per_pair_import_with_scaled_noise_at_index_1(tmp_path):
    eps, x = wild_pairs(30)
    src = tmp_path / "src"
    src.mkdir()
    for i in range(30):
        np.savez(src / f"{i:04d}.npz", arr_0=np.stack([x[i], 80.0 * eps[i]]))
    import_npz_per_pair(
        src, tmp_path / "out", noise_index=1, noise_scale=80.0, shard_size=8, progress=False
    )
    batch = PairDataset(tmp_path / "out").get_batch(range(30))
    np.testing.assert_allclose(batch["noise"].numpy(), eps, rtol=1e-6)
    np.testing.assert_allclose(batch["sample"].numpy(), x, rtol=1e-6)
    assert "noise_index=1" in info(tmp_path / "out")["source"]


def test_npz_endpoints_and_labels_import(tmp_path):
    eps, x = wild_pairs(12)
    for i in range(12):
        np.savez(tmp_path / f"p{i:02d}.npz", endpoints=np.stack([eps[i], x[i]]), label=i % 3)
    files = sorted(tmp_path.glob("*.npz"))
    with pytest.raises(ValueError, match="label_dim"):
        import_npz_per_pair(files, tmp_path / "a", noise_index=0, noise_scale=1.0, progress=False)
    import_npz_per_pair(
        files, tmp_path / "b", noise_index=0, noise_scale=1.0, label_dim=3, progress=False
    )
    batch = PairDataset(tmp_path / "b").get_batch(range(12))
    np.testing.assert_array_equal(batch["label"].numpy(), np.arange(12) % 3)
    np.testing.assert_allclose(batch["noise"].numpy(), eps, rtol=1e-6)


def test_importers_refuse_when_the_noise_end_is_not_stated(tmp_path):
    np.savez(tmp_path / "a.npz", arr_0=np.zeros((2, 2)))
    with pytest.raises(ValueError, match="noise_index is required"):
        import_npz_per_pair(tmp_path, tmp_path / "o", noise_scale=80.0)
    with pytest.raises(ValueError, match="noise_scale is required"):
        import_npz_per_pair(tmp_path, tmp_path / "o", noise_index=0)
    with pytest.raises(ValueError, match="noise_key is required"):
        import_torch_shards(tmp_path, tmp_path / "o", sample_key="x", noise_scale=1.0)
    with pytest.raises(ValueError, match="sample_index is required"):
        import_trajectories(np.zeros((3, 4, 2)), tmp_path / "o", noise_index=0, noise_scale=1.0)


def test_a_wrongly_stated_noise_end_is_refused(tmp_path):
    eps, x = wild_pairs(600)
    traj = np.stack([80.0 * eps, x])
    with pytest.raises(ValueError, match="not those of N"):
        import_trajectories(
            traj, tmp_path / "a", noise_index=1, sample_index=0, noise_scale=80.0, progress=False
        )
    with pytest.raises(ValueError, match="not those of N"):
        import_trajectories(
            traj, tmp_path / "b", noise_index=0, sample_index=1, noise_scale=1.0, progress=False
        )
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
    import_trajectories(
        traj, tmp_path / "a", noise_index=0, sample_index=1, noise_scale=80.0, progress=False
    )
    assert verify(tmp_path / "a").ok


def test_npz_without_known_keys_is_named(tmp_path):
    np.savez(tmp_path / "bad.npz", pairs=np.zeros((2, 2)))
    with pytest.raises(ValueError, match="bad.npz.*arr_0"):
        import_npz_per_pair(tmp_path, tmp_path / "o", noise_index=0, noise_scale=1.0)


def test_torch_shards_import_with_stated_keys(tmp_path):
    eps, x = wild_pairs(25)
    src = tmp_path / "src"
    src.mkdir()
    for k, (a, b) in enumerate([(0, 10), (10, 20), (20, 25)]):
        torch.save(
            {
                "latents": torch.from_numpy(80.0 * eps[a:b]).float(),
                "images": torch.from_numpy(x[a:b]).half(),
                "y": torch.arange(a, b) % 5,
            },
            src / f"shard{k}.pt",
        )
    import_torch_shards(
        src,
        tmp_path / "out",
        noise_key="latents",
        sample_key="images",
        label_key="y",
        label_dim=5,
        noise_scale=80.0,
        shard_size=7,
        progress=False,
    )
    ds = PairDataset(tmp_path / "out")
    batch = ds.get_batch(range(25))
    np.testing.assert_allclose(batch["noise"].numpy(), eps, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(batch["sample"].numpy(), x.astype(np.float16), rtol=1e-3)
    np.testing.assert_array_equal(batch["label"].numpy(), np.arange(25) % 5)
    with pytest.raises(ValueError, match="no entry 'z'"):
        import_torch_shards(
            src, tmp_path / "o2", noise_key="z", sample_key="images", noise_scale=80.0
        )


def test_trajectory_import_from_npy_with_negative_sample_index(tmp_path):
    eps, x = wild_pairs(40, dim=3)
    traj = np.stack([80.0 * eps, 0.5 * (80.0 * eps + x), x])
    np.save(tmp_path / "traj.npy", traj)
    import_trajectories(
        tmp_path / "traj.npy",
        tmp_path / "out",
        noise_index=0,
        sample_index=-1,
        noise_scale=80.0,
        shard_size=16,
        dtype="float16",
        progress=False,
    )
    batch = PairDataset(tmp_path / "out").get_batch(range(40))
    np.testing.assert_array_equal(batch["noise"].numpy(), eps.astype(np.float16))
    np.testing.assert_array_equal(batch["sample"].numpy(), x.astype(np.float16))
    with pytest.raises(ValueError, match="same time index"):
        import_trajectories(traj, tmp_path / "o", noise_index=2, sample_index=-1, noise_scale=80.0)


# ---------------------------------------------------------------- CLI


def run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    pairs_cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def test_cli_import_verify_info(tmp_path, capsys):
    eps, x = wild_pairs(10)
    np.save(tmp_path / "traj.npy", np.stack([x, 80.0 * eps]))
    out = tmp_path / "out"
    code = run_cli(
        [
            "pairs",
            "import",
            "--format",
            "trajectories",
            "--src",
            str(tmp_path / "traj.npy"),
            "--out",
            str(out),
            "--noise-index",
            "1",
            "--sample-index",
            "0",
            "--noise-scale",
            "80",
        ]
    )
    assert code == 0 and "imported 10 pairs" in capsys.readouterr().out
    assert run_cli(["pairs", "verify", str(out)]) == 0
    assert "OK" in capsys.readouterr().out
    assert run_cli(["pairs", "info", str(out)]) == 0
    assert json.loads(capsys.readouterr().out)["count"] == 10
    path = out / "sample-00000.npy"
    path.write_bytes(path.read_bytes()[:-4])
    assert run_cli(["pairs", "verify", str(out)]) == 1
    assert "sample-00000.npy" in capsys.readouterr().out


def test_cli_import_requires_the_noise_scale():
    with pytest.raises(SystemExit):
        run_cli(
            [
                "pairs",
                "import",
                "--format",
                "npz-per-pair",
                "--src",
                "x",
                "--out",
                "y",
                "--noise-index",
                "0",
            ]
        )


def test_cli_generate_from_a_teacher_run(tmp_path, capsys):
    from tiny_runs import tiny_checkerboard_teacher

    from koopkit_diffusion.edm import heun_sample
    from koopkit_diffusion.runs import RunRecord, load_teacher

    run = tiny_checkerboard_teacher(tmp_path / "teacher")
    out = tmp_path / "pairs"
    argv = [
        "pairs",
        "generate",
        "--teacher",
        str(run),
        "--out",
        str(out),
        "--n",
        "50",
        "--steps",
        "3",
        "--shard-size",
        "20",
        "--batch-size",
        "16",
        "--device",
        "cpu",
    ]
    assert run_cli(argv) == 0
    assert "3/3 shards complete" in capsys.readouterr().out
    ds = PairDataset(out)
    assert ds.manifest["sampler"]["nfe"] == 5 and ds.shape == (2,)
    batch = ds.get_batch(range(50))
    expected = heun_sample(
        load_teacher(run), batch["noise"].double(), n_steps=3, dtype=torch.float64
    ).samples
    np.testing.assert_allclose(batch["sample"].numpy(), expected.numpy(), rtol=1e-5, atol=1e-5)
    # The pair set's record names its teacher and the teacher's data; the manifest its sigma_data.
    record = RunRecord.read(out)
    assert record.kind == "pairs" and record.teacher_run == str(run)
    assert record.data["name"] == "checkerboard" and ds.sigma_data == 2.5
