"""``koopkit-diffusion teacher train | sample``: the project's own EDM teachers."""

from __future__ import annotations

import argparse
import dataclasses
import json

__all__ = ["register"]

_OVERRIDES = {
    "steps": int,
    "batch_size": int,
    "lr": float,
    "ema_decay": float,
    "seed": int,
    "hidden": int,
    "depth": int,
    "model_channels": int,
    "num_blocks": int,
}


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``teacher`` command group to the ``koopkit-diffusion`` parser."""
    from koopkit_diffusion.teacher import PRESETS

    group = subparsers.add_parser("teacher", help="train and sample the EDM teacher")
    commands = group.add_subparsers(dest="teacher_command", metavar="ACTION", required=True)

    train = commands.add_parser("train", help="train a teacher preset")
    train.add_argument("--preset", required=True, choices=sorted(PRESETS))
    train.add_argument("--out", required=True, help="run directory (resumed if it exists)")
    for name, kind in _OVERRIDES.items():
        train.add_argument(f"--{name.replace('_', '-')}", type=kind, help="override the preset")
    train.add_argument("--device", default=None, help="e.g. cuda:0 (default: cuda if available)")
    train.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    train.set_defaults(func=_train)

    sample = commands.add_parser("sample", help="draw samples with the Heun sampler")
    sample.add_argument("--run", required=True, help="teacher run directory")
    sample.add_argument("--n", type=int, required=True, help="number of samples")
    sample.add_argument("--out", required=True, help="output .npz (a .png is written beside it)")
    sample.add_argument("--steps", type=int, default=18, help="Heun steps N (2N-1 evaluations)")
    sample.add_argument("--seed", type=int, default=0)
    sample.add_argument("--batch-size", type=int, default=10_000)
    sample.add_argument("--raw", action="store_true", help="use the raw weights instead of EMA")
    sample.add_argument("--device", default=None)
    sample.set_defaults(func=_sample)


def _device(name: str | None) -> str:
    import torch

    return name or ("cuda" if torch.cuda.is_available() else "cpu")


def _train(args: argparse.Namespace) -> int:
    from koopkit_diffusion.teacher import PRESETS, train_teacher

    overrides = {k: getattr(args, k) for k in _OVERRIDES if getattr(args, k) is not None}
    config = dataclasses.replace(PRESETS[args.preset], **overrides)
    run = train_teacher(
        config, args.out, progress=not args.no_progress, device=_device(args.device)
    )
    print(f"teacher run: {run}")
    return 0


def _sample(args: argparse.Namespace) -> int:
    from pathlib import Path

    import numpy as np

    from koopkit_diffusion.teacher import load_teacher, plot_samples, sample_teacher

    out = Path(args.out)
    if out.suffix != ".npz":
        raise ValueError(f"--out must end in .npz, got {out}")
    teacher = load_teacher(args.run, ema=not args.raw, device=_device(args.device))
    samples, labels = sample_teacher(
        teacher,
        args.n,
        n_steps=args.steps,
        seed=args.seed,
        batch_size=args.batch_size,
        progress=True,
    )
    arrays = {"samples": samples.float().numpy()}
    if labels is not None:
        arrays["labels"] = labels.numpy()
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(out, **arrays)
    png = plot_samples(
        samples,
        out.with_suffix(".png"),
        labels=labels,
        title=f"teacher, {2 * args.steps - 1} NFE",
    )
    print(
        json.dumps(
            {"samples": str(out), "figure": str(png), "n": args.n, "nfe": 2 * args.steps - 1}
        )
    )
    return 0
