"""Pairs from an image teacher under torchrun: disjoint shards per rank, resumable, same bytes."""

import json
import logging
import os
import socket
import subprocess
import sys

from koopkit_diffusion.runs import generate_pair_set, train_run

TINY = {
    "model.model_channels": "8",
    "model.channel_mult": "1,1",
    "model.num_blocks": "1",
    "model.attn_resolutions": "",
    "train.batch_size": "4",
    "train.steps": "1",
    "train.sample_every": "0",
    "train.progress": "false",
    "train.loss_figure": "false",
}
GENERATE = ["--count", "8", "--shard-size", "2", "--batch-size", "2", "--steps", "1"]


def _torchrun(args, env):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", "2",
        "--master_addr", "127.0.0.1", "--master_port", str(port), "-m", "koopkit_diffusion.cli",
        *args,
    ]  # fmt: skip
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)


def test_image_pairs_under_torchrun_resume_a_partial_set_with_the_bytes_of_one_process(tmp_path):
    from image_files import write_cifar_folder

    folder = write_cifar_folder(tmp_path / "data", n=4)
    teacher = tmp_path / "teacher"
    train_run("teacher-cifar10-cond", teacher, overrides={**TINY, "data.root": str(folder)})
    env = dict(os.environ, OMP_NUM_THREADS="1")
    pairs = tmp_path / "pairs"
    # A first attempt where only rank 0 of 2 ran (rank 1 died): shards 0 and 2 of 4.
    partial = subprocess.run(
        [sys.executable, "-m", "koopkit_diffusion.cli", "pairs", "generate", "--teacher",
         str(teacher), "--out", str(pairs), *GENERATE],
        env=dict(env, RANK="0", WORLD_SIZE="2"), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert partial.returncode == 0, partial.stderr[-3000:]
    shards = json.loads((pairs / "manifest.json").read_text())["shards"]
    assert sorted(s["index"] for s in shards) == [0, 2]
    first = {p.name: p.stat().st_mtime_ns for p in pairs.glob("*-*.npy")}
    # torchrun with 2 processes completes it: rank 0 (shards 0, 2) has nothing left to do and
    # rewrites nothing; rank 1 writes shards 1 and 3.
    proc = _torchrun(["pairs", "generate", "--teacher", str(teacher), "--out", str(pairs),
                      *GENERATE], env)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-4000:]
    after = {p.name: p.stat().st_mtime_ns for p in pairs.glob("*-*.npy")}
    assert {k: after[k] for k in first} == first
    assert sorted(set(after) - set(first)) == [
        f"{kind}-{i:05d}.npy" for kind in ("label", "noise", "sample") for i in (1, 3)
    ]
    # The same bytes as one process generating the whole set.
    logging.getLogger().setLevel(logging.INFO)
    reference = generate_pair_set(teacher, tmp_path / "one", 8, shard_size=2, batch_size=2,
                                  n_steps=1, progress=False)  # fmt: skip
    manifest = json.loads((pairs / "manifest.json").read_text())
    assert manifest["complete"] and manifest["label_dim"] == 10

    def digests(m):
        return {s["index"]: {k: f["sha256"] for k, f in s["files"].items()} for s in m["shards"]}

    assert digests(manifest) == digests(reference)  # every shard's sha256
