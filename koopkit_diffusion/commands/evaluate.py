"""``koopkit-diffusion evaluate | fid | fid-stats | analyze``: evaluation and latent analysis.

Thin wrappers over :mod:`koopkit_diffusion.runs.evaluate`; every command prints one JSON object
and writes its results inside the run directory (``evaluation.json``, ``analysis.json``, figures)
or to the file named by ``--out``.
"""

from __future__ import annotations

import argparse

from .common import device, positive_int, print_json

__all__ = ["register"]

_WEIGHTS_HELP = "the Inception weights file, pt_inception-2015-12-05-6726825d.pth"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``evaluate``, ``fid``, ``fid-stats`` and ``analyze`` to the parser."""
    ev = subparsers.add_parser(
        "evaluate", help="score a trained one-step generator beside its teacher"
    )
    ev.add_argument("--run", required=True, help="run directory of a KDM (or KD) training")
    ev.add_argument(
        "--n", type=positive_int, default=None, help="samples (2-D: 50000, images: 2000)"
    )
    ev.add_argument("--seed", type=int, default=0)
    ev.add_argument(
        "--teacher", default=None, help="teacher run directory (default: the run record's)"
    )
    ev.add_argument("--no-teacher", action="store_true", help="skip the teacher's scores")
    ev.add_argument(
        "--heun-steps",
        type=positive_int,
        default=None,
        help="teacher's Heun steps (default: those that made the run's pair set, else 18)",
    )
    ev.add_argument("--cache-dir", default=None, help="digits classifier cache folder")
    ev.add_argument("--ref", default=None, help="Inception reference statistics (.npz)")
    ev.add_argument("--inception-weights", default=None, help=_WEIGHTS_HELP)
    ev.add_argument("--device", type=device, default="cpu")
    ev.set_defaults(func=_evaluate)

    fid = subparsers.add_parser("fid", help="Inception FID of samples against reference stats")
    source = fid.add_mutually_exclusive_group(required=True)
    source.add_argument("--samples", help=".npz (key 'samples') or .npy of images in [-1, 1]")
    source.add_argument("--run", help="run directory: draw --n one-step samples")
    fid.add_argument("--ref", required=True, help="reference statistics (.npz with mu, sigma)")
    fid.add_argument("--inception-weights", required=True, help=_WEIGHTS_HELP)
    fid.add_argument("--n", type=positive_int, default=50_000, help="samples drawn with --run")
    fid.add_argument("--seed", type=int, default=0)
    fid.add_argument("--batch-size", type=positive_int, default=64)
    fid.add_argument("--device", type=device, default="cpu")
    fid.set_defaults(func=_fid)

    stats = subparsers.add_parser("fid-stats", help="Inception reference statistics of a dataset")
    stats.add_argument(
        "--data",
        required=True,
        help="CIFAR-10 archive or folder, a folder of images, or an .npz/.npy array of images",
    )
    stats.add_argument("--out", required=True, help="output .npz (mu, sigma, count)")
    stats.add_argument("--inception-weights", required=True, help=_WEIGHTS_HELP)
    stats.add_argument(
        "--resolution", type=positive_int, default=None, help="image folders: resize to"
    )
    stats.add_argument("--split", default="train", choices=("train", "test"), help="CIFAR-10")
    stats.add_argument("--batch-size", type=positive_int, default=64)
    stats.add_argument("--device", type=device, default="cpu")
    stats.set_defaults(func=_fid_stats)

    an = subparsers.add_parser("analyze", help="latent-semantic and representability analyses")
    an.add_argument("--run", required=True, help="run directory of a KDM training")
    an.add_argument(
        "--n", type=positive_int, default=1000, help="noises of the latent-semantic analysis"
    )
    an.add_argument("--n-flow", type=positive_int, default=512, help="teacher trajectories")
    an.add_argument(
        "--teacher", default=None, help="teacher run directory (default: the run record's)"
    )
    an.add_argument("--k", type=positive_int, default=10, help="neighbours of the k-NN agreement")
    an.add_argument("--seed", type=int, default=0)
    an.add_argument("--cache-dir", default=None, help="digits classifier cache folder")
    an.add_argument(
        "--inception-weights",
        default=None,
        help="natural images: semantics from Inception features (" + _WEIGHTS_HELP[4:] + ")",
    )
    an.add_argument("--out", default=None, help="output folder (default RUN/analysis)")
    an.set_defaults(func=_analyze)


def _evaluate(args: argparse.Namespace) -> int:
    from koopkit_diffusion.runs import evaluate_run

    print_json(
        evaluate_run(
            args.run,
            n=args.n,
            seed=args.seed,
            with_teacher=not args.no_teacher,
            teacher=args.teacher,
            cache_dir=args.cache_dir,
            ref_stats=args.ref,
            inception_weights=args.inception_weights,
            device=args.device,
            heun_steps=args.heun_steps,
        )
    )
    return 0


def _fid(args: argparse.Namespace) -> int:
    from koopkit_diffusion.runs import run_fid

    print_json(
        run_fid(
            args.ref,
            args.inception_weights,
            samples=args.samples,
            run_dir=args.run,
            n=args.n,
            seed=args.seed,
            batch_size=args.batch_size,
            device=args.device,
        )  # fmt: skip
    )
    return 0


def _fid_stats(args: argparse.Namespace) -> int:
    from koopkit_diffusion.runs import dataset_fid_stats

    print_json(
        dataset_fid_stats(
            args.data,
            args.out,
            args.inception_weights,
            resolution=args.resolution,
            split=args.split,
            batch_size=args.batch_size,
            device=args.device,
        )  # fmt: skip
    )
    return 0


def _analyze(args: argparse.Namespace) -> int:
    from pathlib import Path

    from koopkit_diffusion.runs import analyze_run

    out = Path(args.out) if args.out else Path(args.run) / "analysis"
    report = analyze_run(
        args.run,
        out,
        n=args.n,
        n_flow=args.n_flow,
        k=args.k,
        seed=args.seed,
        teacher=args.teacher,
        cache_dir=args.cache_dir,
        inception_weights=args.inception_weights,
    )
    print_json({"out": str(out), **report})
    return 0
