"""``koopkit-diffusion train | sample | quickstart``: students and the main job."""

from __future__ import annotations

import argparse

from .common import (
    add_fid_tracking,
    add_overrides,
    device,
    fid_tracking,
    parse_sets,
    positive_int,
    print_json,
)

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``train``, ``sample`` and ``quickstart`` to the ``koopkit-diffusion`` parser."""
    from koopkit_diffusion.runs.presets import preset_names

    train = subparsers.add_parser("train", help="train a KDM (or the KD baseline) on a pair set")
    train.add_argument("--preset", required=True, choices=preset_names("student"))
    train.add_argument("--pairs", required=True, help="pair-set directory")
    train.add_argument("--out", required=True, help="run directory")
    add_overrides(train)
    train.add_argument("--model", choices=("kdm", "kd"), default="kdm", help="kd: the KD baseline")
    train.add_argument("--resume", action="store_true", help="continue from the latest checkpoint")
    train.add_argument(
        "--no-verify",
        action="store_true",
        help="skip the sha256 and value checks of the pair shards (the manifest is still checked)",
    )
    add_fid_tracking(train)
    train.set_defaults(func=_train)

    sample = subparsers.add_parser("sample", help="samples from a trained run (one step)")
    sample.add_argument("--run", required=True, help="run directory")
    sample.add_argument("--n", type=positive_int, required=True, help="number of samples")
    sample.add_argument("--out", required=True, help="output .npz (a .png is written beside it)")
    sample.add_argument("--seed", type=int, default=0)
    sample.add_argument("--label", type=int, default=None, help="class for a conditional model")
    sample.add_argument("--batch-size", type=positive_int, default=10_000)
    sample.add_argument("--device", type=device, default="cpu")
    sample.set_defaults(func=_sample)

    quick = subparsers.add_parser(
        "quickstart",
        help="teacher → pairs → KDM and KD on the 2-D checkerboard, evaluated, with a figure",
    )
    quick.add_argument("--out", default="runs/quickstart", help="output directory")
    quick.add_argument("--seed", type=int, default=0)
    quick.set_defaults(func=_quickstart)


def _train(args: argparse.Namespace) -> int:
    from koopkit_diffusion.runs import train_run

    result = train_run(
        args.preset,
        args.out,
        pairs=args.pairs,
        kind=args.model,
        overrides=parse_sets(args.set),
        resume=args.resume,
        verify_pairs=not args.no_verify,
        **fid_tracking(args),
    )
    print(f"trained {args.model} to step {result.step}: {result.run_dir}")
    return 0


def _sample(args: argparse.Namespace) -> int:
    from koopkit_diffusion.runs import sample_run

    print_json(
        sample_run(
            args.run,
            args.n,
            args.out,
            seed=args.seed,
            label=args.label,
            batch_size=args.batch_size,
            device=args.device,
        )  # fmt: skip
    )
    return 0


def _quickstart(args: argparse.Namespace) -> int:
    from koopkit_diffusion.runs import run_quickstart

    run_quickstart(args.out, seed=args.seed)
    return 0
