"""``koopkit-diffusion train | sample | quickstart``: the Koopman Distillation Model."""

from __future__ import annotations

import argparse

__all__ = ["register", "parse_sets"]


def parse_sets(items: list[str] | None) -> dict[str, str]:
    """``["model.latent_dim=128", ...]`` → ``{"model.latent_dim": "128"}``.

    Raises
    ------
    ValueError
        For an item without ``=``.
    """
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--set expects key=value (e.g. model.latent_dim=128), got {item!r}")
        out[key.strip()] = value.strip()
    return out


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``train``, ``sample`` and ``quickstart`` to the ``koopkit-diffusion`` parser."""
    from koopkit_diffusion.presets import PRESETS

    train = subparsers.add_parser("train", help="train a KDM (or the KD baseline) on a pair set")
    train.add_argument("--preset", required=True, choices=PRESETS)
    train.add_argument("--pairs", required=True, help="pair-set directory")
    train.add_argument("--out", required=True, help="run directory")
    train.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="override a preset field, e.g. --set model.latent_dim=128 --set train.lr=1e-3",
    )
    train.add_argument("--model", choices=("kdm", "kd"), default="kdm", help="kd: the KD baseline")
    train.add_argument("--resume", action="store_true", help="continue from the latest checkpoint")
    train.set_defaults(func=_train)

    sample = subparsers.add_parser("sample", help="one-step samples from a trained run")
    sample.add_argument("--run", required=True, help="run directory")
    sample.add_argument("--n", type=int, required=True, help="number of samples")
    sample.add_argument("--out", required=True, help="output .npz (a .png is written beside it)")
    sample.add_argument("--seed", type=int, default=0)
    sample.add_argument("--label", type=int, default=None, help="class for a conditional model")
    sample.add_argument("--batch-size", type=int, default=10_000)
    sample.add_argument("--device", default="cpu")
    sample.set_defaults(func=_sample)

    quick = subparsers.add_parser(
        "quickstart",
        help="teacher → pairs → KDM and KD on the 2-D checkerboard, evaluated (≈5 min on 2 cores)",
    )
    quick.add_argument("--out", default="runs/quickstart", help="output directory")
    quick.add_argument("--seed", type=int, default=0)
    quick.set_defaults(func=_quickstart)


def _train(args: argparse.Namespace) -> int:
    from koopkit_diffusion.kdm_run import train_model

    result = train_model(
        args.preset,
        args.pairs,
        args.out,
        kind=args.model,
        overrides=parse_sets(args.set),
        resume=args.resume,
    )
    print(f"trained {args.model} to step {result.step}: {result.run_dir}")
    return 0


def _sample(args: argparse.Namespace) -> int:
    from pathlib import Path

    import numpy as np
    import torch

    from koopkit_diffusion.kdm_run import load_model
    from koopkit_diffusion.teacher import plot_samples

    out = Path(args.out)
    if out.suffix != ".npz":
        raise ValueError(f"--out must end in .npz, got {out}")
    if args.n < 1:
        raise ValueError(f"--n must be positive, got {args.n}")
    model = load_model(args.run, map_location=args.device)
    gen = torch.Generator(device=args.device).manual_seed(args.seed)
    chunks, label_chunks = [], []
    for start in range(0, args.n, args.batch_size):
        m = min(args.batch_size, args.n - start)
        labels = None
        if model.config.label_dim:
            if args.label is not None:
                labels = torch.full((m,), args.label, dtype=torch.long, device=args.device)
            else:
                labels = torch.randint(
                    model.config.label_dim, (m,), generator=gen, device=args.device
                )
            label_chunks.append(labels.cpu())
        chunks.append(model.sample(m, labels=labels, generator=gen).cpu())
    samples = torch.cat(chunks)
    out.parent.mkdir(parents=True, exist_ok=True)
    arrays = {"samples": samples.numpy()}
    if label_chunks:
        arrays["labels"] = torch.cat(label_chunks).numpy()
    np.savez(out, **arrays)
    png = plot_samples(
        samples, out.with_suffix(".png"), labels=torch.cat(label_chunks) if label_chunks else None
    )
    print(f"wrote {out} and {png}")
    return 0


def _quickstart(args: argparse.Namespace) -> int:
    from koopkit_diffusion.quickstart import run_quickstart

    run_quickstart(args.out, seed=args.seed)
    return 0
