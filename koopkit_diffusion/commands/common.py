"""What the command groups share: the ``--set`` override style and JSON output."""

from __future__ import annotations

import argparse
import json
from typing import Any

__all__ = ["add_fid_tracking", "add_overrides", "fid_tracking", "parse_sets", "print_json"]


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
    parser.add_argument("--inception-weights", default=None, help="pt_inception-2015-12-05-*.pth")
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
