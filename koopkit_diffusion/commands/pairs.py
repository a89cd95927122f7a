"""``koopkit-diffusion pairs generate | import | verify | info``: offline pair sets."""

from __future__ import annotations

import argparse
import json

from .common import device, positive_float, positive_int

__all__ = ["register"]


_IMPORT_EXAMPLES = """\
examples, one per published layout (the KDM authors' sets, one .npz per pair; EDM starts its
sampler at x_T = 80·eps, so its noise carries the factor 80; --sigma-max, the noise level the
student scales its noise by, is 80 for EDM teachers and 1 for flow matching)::

  # CIFAR-10 unconditional (EDM teacher): arr_0 = [noise, ..., sample]
  koopkit-diffusion pairs import --format npz-per-pair --src cifar10_uncond_train_data \\
      --out pairs/cifar10-uncond --key arr_0 --noise-index 0 --sample-index -1 --noise-scale 80

  # CIFAR-10 conditional (EDM teacher): endpoints = [sample, noise], one-hot label
  koopkit-diffusion pairs import --format npz-per-pair --src cifar10_cond_train_data \\
      --out pairs/cifar10-cond --key endpoints --noise-index 1 --sample-index 0 \\
      --noise-scale 80 --label-dim 10

  # FFHQ / AFHQv2 64x64 (EDM teacher): arr_0 = [sample, ..., noise]
  koopkit-diffusion pairs import --format npz-per-pair --src ffhq_train_data \\
      --out pairs/ffhq64 --key arr_0 --noise-index -1 --sample-index 0 --noise-scale 80

  # CIFAR-10 flow matching: arr1 = [sample, ..., noise], unscaled noise
  koopkit-diffusion pairs import --format npz-per-pair --src cifar10_fm_train_data \\
      --out pairs/cifar10-fm --key arr1 --noise-index -1 --sample-index 0 --noise-scale 1 \\
      --sigma-max 1

  # 2-D checkerboard: one .npy of trajectories (T, N, 2), noise first, unscaled
  koopkit-diffusion pairs import --format trajectories --src sampled_dataset.npy \\
      --out pairs/checkerboard --noise-index 0 --sample-index -1 --noise-scale 1 --sigma-max 1

  # torch.save shards of noises and samples (dicts of tensors)
  koopkit-diffusion pairs import --format torch-shards --src shards/ --out pairs/x \\
      --noise-key noise --sample-key image --noise-scale 1
"""


def _key(text: str) -> str | int:
    """A dict key, or a tuple position when the text is an integer."""
    return int(text) if text.lstrip("-").isdigit() else text


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``pairs`` command group to the ``koopkit-diffusion`` parser."""
    from koopkit_diffusion.runs.pairs import IMPORT_FORMATS

    group = subparsers.add_parser("pairs", help="offline noise→sample pair sets")
    commands = group.add_subparsers(dest="pairs_command", metavar="ACTION", required=True)

    gen = commands.add_parser("generate", help="run a teacher's Heun sampler and store pairs")
    gen.add_argument("--teacher", required=True, help="teacher run directory")
    gen.add_argument("--out", required=True, help="output pair-set directory")
    gen.add_argument(
        "--n",
        "--count",
        dest="n",
        type=positive_int,
        required=True,
        help="number of pairs (under torchrun write --count: torchrun reads --n as its own "
        "--nnodes/--nproc_per_node/...)",
    )
    gen.add_argument("--batch-size", type=positive_int, default=1024)
    gen.add_argument("--seed", type=int, default=0)
    gen.add_argument(
        "--steps", type=positive_int, default=18, help="Heun steps N (2N-1 evaluations)"
    )
    gen.add_argument("--shard-size", type=positive_int, default=10_000)
    gen.add_argument("--dtype", choices=("float32", "float16"), default="float32")
    gen.add_argument(
        "--device",
        type=device,
        default=None,
        help="e.g. cuda:0 (default: cuda:LOCAL_RANK if available)",
    )
    gen.set_defaults(func=_generate)

    imp = commands.add_parser(
        "import",
        help="convert a pair set found in the wild",
        description="Convert a pair set found in the wild into the project's format. Which "
        "state is the noise and the factor it carries are stated, never guessed; a stated noise "
        "that does not look like N(0, 1) after the division is refused.",
        epilog=_IMPORT_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    imp.add_argument("--format", required=True, choices=IMPORT_FORMATS)
    imp.add_argument("--src", required=True, help="directory of files, or one array file")
    imp.add_argument("--out", required=True, help="output pair-set directory")
    imp.add_argument(
        "--noise-scale",
        type=positive_float,
        required=True,
        help="factor the source's noise carries (80 for sigma_max·eps, 1 for eps)",
    )
    imp.add_argument(
        "--noise-index",
        type=int,
        help="npz-per-pair and trajectories: index of the noise along the time axis (-1: last)",
    )
    imp.add_argument(
        "--sample-index",
        type=int,
        help="index of the sample (npz-per-pair: default the other end of a 2-state file)",
    )
    imp.add_argument(
        "--key", default=None, help="npz-per-pair: array key (endpoints | arr_0 | arr1 | ...)"
    )
    imp.add_argument("--noise-key", type=_key, help="torch-shards: key of the noise tensor")
    imp.add_argument("--sample-key", type=_key, help="torch-shards: key of the sample tensor")
    imp.add_argument("--label-key", type=_key, help="torch-shards: key of integer labels")
    imp.add_argument(
        "--label-dim",
        type=int,
        default=0,
        help="number of classes of a labelled set (labels: integers or one-hot vectors)",
    )
    imp.add_argument("--sigma-max", type=positive_float, default=80.0, help="teacher's sigma_max")
    imp.add_argument("--shard-size", type=positive_int, default=10_000)
    imp.add_argument("--dtype", choices=("float32", "float16"), default="float32")
    imp.add_argument("--teacher-description", default="imported")
    imp.set_defaults(func=_import)

    ver = commands.add_parser("verify", help="check sizes, headers and sha256 of every shard")
    ver.add_argument("dir", help="pair-set directory")
    ver.add_argument("--no-checksums", action="store_true", help="sizes and headers only")
    ver.set_defaults(func=_verify)

    inf = commands.add_parser("info", help="print the manifest summary as JSON")
    inf.add_argument("dir", help="pair-set directory")
    inf.set_defaults(func=_info)


def _generate(args: argparse.Namespace) -> int:
    from koopkit_diffusion.runs import generate_pair_set

    manifest = generate_pair_set(
        args.teacher,
        args.out,
        args.n,
        batch_size=args.batch_size,
        seed=args.seed,
        n_steps=args.steps,
        shard_size=args.shard_size,
        dtype=args.dtype,
        device=args.device,
    )
    print(f"{args.out}: {len(manifest['shards'])}/{manifest['n_shards']} shards complete")
    return 0


def _import(args: argparse.Namespace) -> int:
    from koopkit_diffusion.runs import import_pair_set

    common = {
        "noise_scale": args.noise_scale,
        "sigma_max": args.sigma_max,
        "label_dim": args.label_dim,
        "shard_size": args.shard_size,
        "dtype": args.dtype,
        "teacher_description": args.teacher_description,
    }
    if args.format == "npz-per-pair":
        common.update(noise_index=args.noise_index, sample_index=args.sample_index, key=args.key)
    elif args.format == "torch-shards":
        common.update(
            noise_key=args.noise_key, sample_key=args.sample_key, label_key=args.label_key
        )
    else:
        common.update(noise_index=args.noise_index, sample_index=args.sample_index)
    manifest = import_pair_set(args.format, args.src, args.out, **common)
    print(f"{args.out}: imported {manifest['count']} pairs in {manifest['n_shards']} shards")
    return 0


def _verify(args: argparse.Namespace) -> int:
    from koopkit_diffusion.runs import verify_pair_set

    report = verify_pair_set(args.dir, checksums=not args.no_checksums)
    print(report)
    return 0 if report.ok else 1


def _info(args: argparse.Namespace) -> int:
    from koopkit_diffusion.runs import pair_set_info

    print(json.dumps(pair_set_info(args.dir), indent=2))
    return 0
