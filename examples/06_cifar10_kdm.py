"""KDM on CIFAR-10, the paper's route: an EDM teacher → 1M pairs → KDM and KD → FID, IS, PR
========================================================================================

Three ways in, then the same stages (see the guide "Reproducing the paper on CIFAR-10"):

* ``--edm-pickle edm-cifar10-32x32-cond-vp.pkl`` — NVIDIA's published teacher, imported without
  running code from the file (``teacher import``);
* ``--teacher-run RUN`` — a teacher trained here (``teacher train --preset teacher-cifar10-cond``);
* ``--pairs DIR`` — a pair set already made (e.g. the authors' pairs converted by
  ``pairs import``; ``pairs import --help`` shows the command for each released layout).

Stages: pairs with 18 Heun steps (35 NFE) under ``torchrun`` with ``--nproc`` processes
(resumable), KDM and the KD baseline with the ``cifar10-cond`` / ``cifar10-uncond`` preset
(LPIPS + adversary; ``--nproc`` processes), then FID, Inception Score and precision/recall of
both students and the teacher against the CIFAR-10 training set, written to ``results.json``.
Every stage resumes when rerun. Nothing is downloaded: pass ``--cifar`` (the official archive),
``--inception-weights`` (``pt_inception-2015-12-05-6726825d.pth``) and ``--lpips-weights`` (a
folder with ``vgg16_features.pth`` and ``lpips_vgg.pth``).

    python examples/06_cifar10_kdm.py --edm-pickle edm-cifar10-32x32-cond-vp.pkl \\
        --cifar data/cifar-10-python.tar.gz --inception-weights weights/pt_inception.pth \\
        --lpips-weights weights/lpips --nproc 8 --out runs/example06

``--smoke`` runs the whole chain on the CPU in a few minutes with tiny models, on the same code
paths: a tiny CIFAR-format archive written here, a tiny conditional teacher trained for a few steps
(with EDM's augmentation), pairs under ``torchrun`` with 2 processes, KDM and KD with LPIPS and the
adversary (random LPIPS weights), and FID/IS/PR with randomly initialised Inception weights saved
in the standard file format (so the scores mean nothing; the route is what is tested).

Results
-------
Paper-scale results need GPUs, which this project's development machine does not have; the
guide page :doc:`/guide/11-cifar10` gives the commands, the teacher-import parity against
NVIDIA's code and the measured throughput.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import pickle
import socket
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import numpy as np

#: The smoke test's scale: tiny networks, few steps, few pairs and samples.
SMOKE_TEACHER = {
    "model.model_channels": "8", "model.channel_mult": "1,1", "model.num_blocks": "1",
    "model.attn_resolutions": "16", "train.batch_size": "8", "train.steps": "3",
    "train.lr_warmup_steps": "1", "train.log_every": "1", "train.checkpoint_every": "3",
    "train.sample_every": "0", "train.progress": "false",
}  # fmt: skip
SMOKE_STUDENT = {
    "model.model_channels": "8", "model.channel_mult": "1,1", "model.num_blocks": "1",
    "model.attn_resolutions": "16", "model.discriminator_channels": "8",
    "model.lpips_resize": "32", "train.batch_size": "4", "train.steps": "2",
    "train.log_every": "1", "train.checkpoint_every": "2", "train.sample_every": "0",
    "train.ema_decay": "0.5", "train.progress": "false", "train.loss_figure": "false",
}  # fmt: skip
SMOKE_SIZES = {"pairs": 16, "heun_steps": 2, "eval": 8, "images_per_batch": 8}
PAPER_SIZES = {"pairs": 1_000_000, "heun_steps": 18, "eval": 50_000}


def write_tiny_cifar(path: Path, per_batch: int, seed: int = 0) -> Path:
    """A CIFAR-10 python archive (the official layout) of smooth random images, 10 classes."""
    rng = np.random.default_rng(seed)
    with tarfile.open(path, "w:gz") as tar:
        for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
            coarse = rng.integers(0, 256, (per_batch, 3, 4, 4)).astype(np.uint8)
            images = coarse.repeat(8, axis=2).repeat(8, axis=3).reshape(per_batch, 3072)
            batch = {b"data": images, b"labels": rng.integers(0, 10, per_batch).tolist()}
            raw = pickle.dumps(batch, protocol=2)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    return path


def torchrun(nproc: int, args: list[str]) -> None:
    """``torchrun --nproc_per_node nproc -m koopkit_diffusion.cli ARGS`` (CPU: gloo)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node",
           str(nproc), "--master_addr", "127.0.0.1", "--master_port", str(port),
           "-m", "koopkit_diffusion.cli", *args]  # fmt: skip
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    subprocess.run(cmd, check=True, env=env)


def _sets(overrides: dict[str, str]) -> list[str]:
    return [a for k, v in overrides.items() for a in ("--set", f"{k}={v}")]


def run(args: argparse.Namespace) -> dict:
    """The route; returns what ``results.json`` holds."""
    from koopkit_diffusion.runs import (
        dataset_fid_stats,
        evaluate_run,
        import_edm_run,
        load_teacher,
        train_run,
    )

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    sizes = SMOKE_SIZES if args.smoke else PAPER_SIZES
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    teacher = None
    if args.smoke:
        from koopkit_diffusion.evaluation.inception import write_random_inception_weights
        from koopkit_diffusion.students.lpips import write_random_weights

        args.cifar = str(write_tiny_cifar(out / "cifar-10-smoke.tar.gz", sizes["images_per_batch"]))
        args.inception_weights = str(write_random_inception_weights(out / "inception.pth"))
        args.lpips_weights = str(write_random_weights(out / "lpips"))
        teacher = out / "teacher"
        overrides = {**SMOKE_TEACHER, "data.root": args.cifar}
        train_run("teacher-cifar10-cond", teacher, overrides=overrides, resume="auto")
    elif args.edm_pickle:
        teacher = out / "teacher"
        if not (teacher / "run.json").is_file():
            import_edm_run(args.edm_pickle, teacher, data={"name": "cifar10", "root": args.cifar,
                                                           "labels": True})  # fmt: skip
    elif args.teacher_run:
        teacher = Path(args.teacher_run)
    timings["teacher_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    pairs = Path(args.pairs) if args.pairs else out / "pairs"
    if not args.pairs:
        shard = min(10_000, sizes["pairs"] // 2)
        torchrun(args.nproc, ["pairs", "generate", "--teacher", str(teacher), "--out", str(pairs),
                              "--count", str(sizes["pairs"]), "--steps", str(sizes["heun_steps"]),
                              "--shard-size", str(shard), "--batch-size", str(min(1024, shard)),
                              "--dtype", "float32" if args.smoke else "float16"])  # fmt: skip
    timings["pairs_s"] = time.perf_counter() - t0

    conditional = load_teacher(teacher).label_dim > 0 if teacher else args.conditional
    preset = "cifar10-cond" if conditional else "cifar10-uncond"
    student = {**(SMOKE_STUDENT if args.smoke else {}), "model.lpips_weights": args.lpips_weights}
    for kind in ("kdm", "kd"):
        t0 = time.perf_counter()
        run_dir = out / kind
        if args.smoke:  # in process: the tiny students take seconds
            train_run(preset, run_dir, pairs=pairs, kind=kind, overrides=student, resume="auto")
        else:
            resume = ["--resume"] if (run_dir / "checkpoints").is_dir() else []
            cli = ["train", "--preset", preset, "--pairs", str(pairs), "--out", str(run_dir),
                   "--model", kind, *_sets(student), *resume]  # fmt: skip
            torchrun(args.nproc, cli)
        timings[f"{kind}_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    ref = out / "cifar10-train-stats.npz"
    if not ref.is_file():
        split = "test" if args.smoke else "train"  # the smoke archive: 8 images per batch
        dataset_fid_stats(args.cifar, ref, args.inception_weights, split=split)
    results: dict = {"route": "smoke" if args.smoke else ("pairs" if args.pairs else "teacher")}
    for kind in ("kdm", "kd"):
        report = evaluate_run(out / kind, n=sizes["eval"], with_teacher=teacher is not None,
                              teacher=teacher, ref_stats=ref,
                              inception_weights=args.inception_weights)  # fmt: skip
        results[kind] = report["model"]
        if "teacher" in report:
            results["teacher"] = report["teacher"]
    timings["evaluation_s"] = time.perf_counter() - t0
    results["fid"] = results["kdm"]["fid"]
    results["timings"] = {k: round(v, 1) for k, v in timings.items()}
    results["command"] = " ".join(sys.argv)
    (out / "results.json").write_text(json.dumps(results, indent=2, default=float) + "\n")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--smoke", action="store_true", help="tiny CPU run of the whole route")
    source.add_argument("--edm-pickle", help="NVIDIA's EDM network (edm-cifar10-*.pkl)")
    source.add_argument("--teacher-run", help="a teacher run trained here")
    source.add_argument("--pairs", help="a pair set (e.g. the authors' pairs after pairs import)")
    parser.add_argument("--conditional", action="store_true", help="--pairs: a labelled set")
    parser.add_argument("--cifar", help="cifar-10-python.tar.gz (FID reference, PR)")
    parser.add_argument("--inception-weights", help="pt_inception-2015-12-05-6726825d.pth")
    parser.add_argument("--lpips-weights", help="folder of vgg16_features.pth and lpips_vgg.pth")
    parser.add_argument("--nproc", type=int, default=None, help="processes (GPUs) per stage")
    parser.add_argument("--out", default=None, help="default runs/example06[-smoke]")
    args = parser.parse_args()
    if not (args.smoke or args.edm_pickle or args.teacher_run or args.pairs):
        parser.error("choose --smoke, --edm-pickle, --teacher-run or --pairs")
    if not args.smoke and not (args.cifar and args.inception_weights and args.lpips_weights):
        parser.error("the route needs --cifar, --inception-weights and --lpips-weights")
    args.nproc = args.nproc or (2 if args.smoke else 1)
    args.out = args.out or ("runs/example06-smoke" if args.smoke else "runs/example06")
    results = run(args)
    print(json.dumps({k: results[k] for k in ("fid", "timings")}, indent=2, default=float))


if __name__ == "__main__":
    main()
