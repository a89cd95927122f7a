"""What the command groups share: argument types, the ``--set`` override style, JSON output."""

from __future__ import annotations

import argparse
import json
import math
from typing import Any

__all__ = [
    "add_fid_tracking",
    "add_overrides",
    "device",
    "fid_tracking",
    "finite_float",
    "parse_sets",
    "positive_float",
    "positive_int",
    "print_json",
]


def positive_int(text: str) -> int:
    """``argparse`` type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def finite_float(text: str) -> float:
    """``argparse`` type: a finite float (no ``inf`` or ``nan``)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def positive_float(text: str) -> float:
    """``argparse`` type: a finite float > 0."""
    value = finite_float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def device(text: str) -> str:
    """``argparse`` type: a torch device that exists here (``cpu``, ``cuda``, ``cuda:N``)."""
    import torch

    try:
        dev = torch.device(text)
    except (RuntimeError, ValueError):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a device (expected cpu, cuda or cuda:N)"
        ) from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise argparse.ArgumentTypeError(
                f"{text!r} was asked for but no CUDA GPU is available here "
                "(torch.cuda.is_available() is False); use --device cpu"
            )
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise argparse.ArgumentTypeError(
                f"{text!r}: only {torch.cuda.device_count()} CUDA device(s) here"
            )
    elif dev.type != "cpu":
        raise argparse.ArgumentTypeError(f"{text!r}: expected cpu, cuda or cuda:N")
    return text


def add_overrides(parser: argparse.ArgumentParser) -> None:
    """Add ``--set SECTION.FIELD=VALUE`` (repeatable) to ``parser``."""
    parser.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="override a preset field, e.g. --set model.latent_dim=128 --set train.lr=1e-3 "
        "(sections: model, train, and data for teachers)",
    )


def add_fid_tracking(parser: argparse.ArgumentParser) -> None:
    """Add ``--fid-every IMAGES --fid-ref NPZ --inception-weights PTH [--fid-n N]``."""
    parser.add_argument(
        "--fid-every",
        type=int,
        default=None,
        metavar="IMAGES",
        help="image models: measure FID every IMAGES training images, keep the best EMA weights "
        "in RUN/best.pt (records in RUN/fid.jsonl, the best in RUN/best.json)",
    )
    parser.add_argument("--fid-ref", default=None, help="reference statistics (.npz)")
    parser.add_argument(
        "--inception-weights", default=None, help="pt_inception-2015-12-05-6726825d.pth"
    )
    parser.add_argument("--fid-n", type=int, default=10_000, help="samples per measurement")


def fid_tracking(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments of :func:`~koopkit_diffusion.runs.training.train_run` for FID."""
    return {
        "fid_every": args.fid_every,
        "fid_ref": args.fid_ref,
        "inception_weights": args.inception_weights,
        "fid_n": args.fid_n,
    }


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


def print_json(obj: dict[str, Any]) -> None:
    """Print one JSON object (floats of numpy and torch included)."""
    print(json.dumps(obj, indent=2, default=float))
