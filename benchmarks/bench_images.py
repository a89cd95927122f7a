"""Throughput of the CIFAR-10 teacher: its training step and pair generation, against EDM's code.

Three measurements, each beside its peer in the same run (CPU by default; ``--device cuda`` on a
GPU machine):

1. **Training step** of ``teacher-cifar10-uncond`` (EDM's DDPM++, 56M parameters, augmentation
   p = 0.12): the project's batch path (uint8 → float, augmentation, EDM loss, backward, Adam,
   EMA) against NVIDIA's own code (``AugmentPipe`` + ``EDMLoss`` + ``EDMPrecond(SongUNet)`` +
   Adam) on the same batch size. Images per second and the ratio.
2. **Pair generation** with EDM's 18-step Heun sampler (35 network evaluations): the project's
   ``generate_pairs`` on the imported teacher against EDM's ``generate.py`` sampler
   (``edm_sampler``) on EDM's network. Pairs per second and the ratio.
3. **Pair generation under torchrun**: ``pairs generate`` with 1 and with ``--nproc`` processes
   (one thread each) on the same imported teacher run. Pairs per second and the speed-up.

Wall time on a shared machine is noisy: process CPU time is printed beside it. The EDM code is
imported from ``--edm-src`` (a checkout of the public NVlabs/edm code; it needs ``click``).

    python benchmarks/bench_images.py --edm-src /tmp/edm-src --batch 8 --out bench.json
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from koopkit.io import recorded_command


def _timed(fn, repeats: int) -> tuple[float, float]:
    """Median wall and CPU seconds of ``fn()`` over ``repeats`` calls after one warm-up call."""
    fn()
    walls, cpus = [], []
    for _ in range(repeats):
        w, c = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    return float(np.median(walls)), float(np.median(cpus))


def training_step(batch: int, repeats: int, device: str) -> dict:
    """Images/s of one training step: koopkit's teacher preset vs EDM's training code."""
    from training.augment import AugmentPipe
    from training.loss import EDMLoss
    from training.networks import EDMPrecond

    from koopkit_diffusion.data import ImageDataset
    from koopkit_diffusion.runs import build_model, get_preset
    from koopkit_diffusion.trainer import Trainer
    from koopkit_diffusion.trainer.data import batch_to_device

    preset = get_preset("teacher-cifar10-uncond", {"train.batch_size": str(batch)})
    images = torch.randint(0, 256, (4 * batch, 3, 32, 32), dtype=torch.uint8)
    dataset = ImageDataset(images, augment=preset.data.augment)
    model = build_model(preset.model, "teacher", seed=0)
    config = preset.train
    config.device, config.progress = ("cuda" if device == "cuda" else "cpu"), False
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as run_dir, Trainer(model, dataset, config, run_dir) as tr:

        def ours() -> None:
            indices = np.sort(rng.choice(len(dataset), batch, replace=False))
            tr.train_step(batch_to_device(dataset.get_batch(indices), tr.ctx.device, False))

        wall, cpu = _timed(ours, repeats)

    net = EDMPrecond(img_resolution=32, img_channels=3, label_dim=0, model_type="SongUNet",
                     embedding_type="positional", encoder_type="standard",
                     decoder_type="standard", channel_mult_noise=1, resample_filter=[1, 1],
                     model_channels=128, channel_mult=[2, 2, 2], augment_dim=9,
                     dropout=0.13).to(device).train()  # fmt: skip
    loss_fn = EDMLoss()
    augment = AugmentPipe(p=0.12, xflip=1e8, yflip=1, scale=1, rotate_frac=1, aniso=1,
                          translate_frac=1)  # fmt: skip
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-8)
    ema = [p.detach().clone() for p in net.parameters()]

    def theirs() -> None:  # EDM's training_loop.py, one round, without DDP
        idx = torch.from_numpy(np.sort(rng.choice(images.shape[0], batch, replace=False)))
        x = images[idx].to(device).to(torch.float32) / 127.5 - 1
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(net=net, images=x, labels=None, augment_pipe=augment)
        loss.sum().mul(1 / batch).backward()
        for p in net.parameters():
            if p.grad is not None:
                torch.nan_to_num(p.grad, nan=0, posinf=1e5, neginf=-1e5, out=p.grad)
        optimizer.step()
        with torch.no_grad():
            for p_ema, p in zip(ema, net.parameters(), strict=True):
                p_ema.copy_(p.detach().lerp(p_ema, 0.999))

    edm_wall, edm_cpu = _timed(theirs, repeats)
    return {
        "batch": batch,
        "koopkit_images_per_s": batch / wall,
        "edm_images_per_s": batch / edm_wall,
        "ratio_koopkit_over_edm": edm_wall / wall,
        "koopkit_wall_cpu_s": [wall, cpu],
        "edm_wall_cpu_s": [edm_wall, edm_cpu],
    }


def _edm_snapshot(path: Path) -> None:
    """EDM's CIFAR-10 DDPM++ with random weights, pickled as EDM writes snapshots."""
    import pickle

    from training.networks import EDMPrecond

    torch.manual_seed(0)
    net = EDMPrecond(img_resolution=32, img_channels=3, label_dim=0, model_type="SongUNet",
                     embedding_type="positional", encoder_type="standard",
                     decoder_type="standard", channel_mult_noise=1, resample_filter=[1, 1],
                     model_channels=128, channel_mult=[2, 2, 2], augment_dim=9,
                     dropout=0.13).eval().requires_grad_(False)  # fmt: skip
    with open(path, "wb") as f:
        pickle.dump({"ema": net}, f)


def pair_generation(teacher_run: Path, pkl: Path, n: int, batch: int, device: str) -> dict:
    """Pairs/s of 18-step Heun generation: koopkit generate_pairs vs EDM's edm_sampler."""
    import pickle  # EDM's own loader: the file was written just now by this script

    from generate import edm_sampler

    from koopkit_diffusion.pairs import generate_pairs
    from koopkit_diffusion.runs import load_teacher

    teacher = load_teacher(teacher_run, device=device)
    with tempfile.TemporaryDirectory() as out:
        w, c = time.perf_counter(), time.process_time()
        generate_pairs(teacher, Path(out) / "p", n, batch_size=batch, shard_size=n,
                       progress=False)  # fmt: skip
        wall, cpu = time.perf_counter() - w, time.process_time() - c
    with open(pkl, "rb") as f:
        net = pickle.load(f)["ema"].to(device)
    gen = torch.Generator().manual_seed(0)
    w, c = time.perf_counter(), time.process_time()
    with torch.no_grad():
        for start in range(0, n, batch):
            latents = torch.randn(min(batch, n - start), 3, 32, 32, generator=gen).to(device)
            edm_sampler(net, latents, num_steps=18)
    edm_wall, edm_cpu = time.perf_counter() - w, time.process_time() - c
    return {
        "n": n,
        "batch": batch,
        "nfe": 35,
        "koopkit_pairs_per_s": n / wall,
        "edm_pairs_per_s": n / edm_wall,
        "ratio_koopkit_over_edm": edm_wall / wall,
        "koopkit_wall_cpu_s": [wall, cpu],
        "edm_wall_cpu_s": [edm_wall, edm_cpu],
    }


def torchrun_generation(teacher_run: Path, n: int, batch: int, nproc: int) -> dict:
    """Pairs/s of ``pairs generate`` with 1 process and under torchrun with ``nproc``."""
    results = {}
    for procs in (1, nproc):
        with tempfile.TemporaryDirectory() as out, socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
            s.close()
            args = ["pairs", "generate", "--teacher", str(teacher_run), "--out", f"{out}/p",
                    "--count", str(n), "--shard-size", str(max(1, n // nproc)),
                    "--batch-size", str(batch)]  # fmt: skip
            cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1",
                   "--nproc_per_node", str(procs), "--master_addr", "127.0.0.1",
                   "--master_port", str(port), "-m", "koopkit_diffusion.cli", *args]  # fmt: skip
            env = dict(os.environ, OMP_NUM_THREADS="1")
            w = time.perf_counter()
            subprocess.run(cmd, check=True, env=env, capture_output=True)
            results[procs] = time.perf_counter() - w
    return {
        "n": n,
        "batch": batch,
        "nfe": 35,
        "processes": nproc,
        "pairs_per_s_1_process": n / results[1],
        f"pairs_per_s_{nproc}_processes": n / results[nproc],
        "speedup": results[1] / results[nproc],
        "note": "wall time of the whole command, including process start and teacher loading",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edm-src", required=True, help="checkout of the public NVlabs/edm code")
    parser.add_argument("--batch", type=int, default=8, help="training batch (small on a CPU)")
    parser.add_argument("--repeats", type=int, default=2, help="timed training steps")
    parser.add_argument("--pairs", type=int, default=8, help="pairs per generation measurement")
    parser.add_argument("--nproc", type=int, default=2, help="torchrun processes")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--skip", nargs="*", default=[], choices=("train", "pairs", "torchrun"))
    parser.add_argument("--out", default=None, help="write the figures as JSON")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(args.edm_src).resolve()))
    from koopkit_diffusion.runs import import_edm_run

    record = {"device": args.device, "torch_threads": torch.get_num_threads(),
              "command": recorded_command()}  # fmt: skip
    if "train" not in args.skip:
        record["training_step"] = training_step(args.batch, args.repeats, args.device)
        print("training step:", json.dumps(record["training_step"]))
    with tempfile.TemporaryDirectory() as tmp:
        pkl, run = Path(tmp) / "edm-cifar10-32x32-uncond-vp.pkl", Path(tmp) / "teacher"
        _edm_snapshot(pkl)
        import_edm_run(pkl, run)
        if "pairs" not in args.skip:
            record["pair_generation"] = pair_generation(
                run, pkl, args.pairs, args.batch, args.device
            )
            print("pair generation:", json.dumps(record["pair_generation"]))
        if "torchrun" not in args.skip:
            record["torchrun"] = torchrun_generation(run, 2 * args.pairs, args.batch, args.nproc)
            print("torchrun:", json.dumps(record["torchrun"]))
    if args.out:
        Path(args.out).write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
