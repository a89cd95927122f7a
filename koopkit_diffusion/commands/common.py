"""What the command groups share: the ``--set`` override style and JSON output."""

from __future__ import annotations

import argparse
import json
from typing import Any

__all__ = ["add_overrides", "parse_sets", "print_json"]


def add_overrides(parser: argparse.ArgumentParser) -> None:
    """Add ``--set SECTION.FIELD=VALUE`` (repeatable) to ``parser``."""
    parser.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="override a preset field, e.g. --set model.latent_dim=128 --set train.lr=1e-3 "
        "(sections: model, train, and data for teachers)",
    )


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
