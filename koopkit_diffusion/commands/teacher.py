"""``koopkit-diffusion teacher train | import | sample``: EDM teachers trained here or imported."""

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
    """Add the ``teacher`` command group to the ``koopkit-diffusion`` parser."""
    from koopkit_diffusion.runs.presets import preset_names

    group = subparsers.add_parser("teacher", help="train and sample an EDM teacher")
    commands = group.add_subparsers(dest="teacher_command", metavar="ACTION", required=True)

    train = commands.add_parser("train", help="train a teacher preset (teacher-<data>)")
    train.add_argument("--preset", required=True, choices=preset_names("teacher"))
    train.add_argument("--out", required=True, help="run directory")
    add_overrides(train)
    train.add_argument("--resume", action="store_true", help="continue from the latest checkpoint")
    add_fid_tracking(train)
    train.set_defaults(func=_train)

    imp = commands.add_parser(
        "import",
        help="an EDM network pickle (e.g. edm-cifar10-32x32-cond-vp.pkl) as a teacher run, "
        "read without running its code",
        description="Import NVIDIA's EDM network pickle (DDPM++, e.g. "
        "edm-cifar10-32x32-cond-vp.pkl, downloaded by hand) as a teacher run. The file is read "
        "with a restricted unpickler: neither its globals nor the module source EDM embeds run.",
    )
    imp.add_argument("--edm-pickle", required=True, help="the .pkl file")
    imp.add_argument("--out", required=True, help="new teacher run directory")
    imp.add_argument(
        "--data",
        choices=("cifar10", "image_folder"),
        default=None,
        help="what the network was trained on (recorded for evaluation)",
    )
    imp.add_argument("--data-root", default=None, help="its local path (archive or folder)")
    imp.set_defaults(func=_import)

    sample = commands.add_parser("sample", help="draw samples with the Heun sampler")
    sample.add_argument("--run", required=True, help="teacher run directory")
    sample.add_argument("--n", type=positive_int, required=True, help="number of samples")
    sample.add_argument("--out", required=True, help="output .npz (a .png is written beside it)")
    sample.add_argument(
        "--steps", type=positive_int, default=18, help="Heun steps N (2N-1 evaluations)"
    )
    sample.add_argument("--seed", type=int, default=0)
    sample.add_argument("--label", type=int, default=None, help="class for a conditional model")
    sample.add_argument("--batch-size", type=positive_int, default=10_000)
    sample.add_argument("--raw", action="store_true", help="use the raw weights instead of EMA")
    sample.add_argument("--device", type=device, default="cpu")
    sample.set_defaults(func=_sample)


def _train(args: argparse.Namespace) -> int:
    from koopkit_diffusion.runs import train_run

    result = train_run(
        args.preset,
        args.out,
        overrides=parse_sets(args.set),
        resume=args.resume,
        **fid_tracking(args),
    )
    print(f"trained teacher to step {result.step}: {result.run_dir}")
    return 0


def _import(args: argparse.Namespace) -> int:
    from koopkit_diffusion.runs import import_edm_run

    data = None
    if args.data is not None:
        data = {"name": args.data, "root": args.data_root}
    record = import_edm_run(args.edm_pickle, args.out, data=data)
    model = record.config["model"]
    print(
        f"imported {args.edm_pickle} → {args.out}: shape {tuple(model['shape'])}, "
        f"label_dim {model['label_dim']}, sha256 {record.config['edm']['sha256'][:16]}"
    )
    return 0


def _sample(args: argparse.Namespace) -> int:
    from koopkit_diffusion.runs import RunRecord, sample_run

    if RunRecord.read(args.run).kind != "teacher":
        raise ValueError(f"{args.run} is not a teacher run; use `koopkit-diffusion sample`")
    print_json(
        sample_run(
            args.run,
            args.n,
            args.out,
            seed=args.seed,
            label=args.label,
            batch_size=args.batch_size,
            n_steps=args.steps,
            ema=not args.raw,
            device=args.device,
        )  # fmt: skip
    )
    return 0
