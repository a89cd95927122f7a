"""The ``koopkit-diffusion`` command.

Sub-commands are contributed by the modules in :mod:`koopkit_diffusion.commands`:

- ``teacher train | sample``: train and sample the EDM teacher;
- ``pairs generate | import | verify | info``: offline noise→sample pair datasets;
- ``train``, ``sample``, ``quickstart``: the Koopman Distillation Model;
- ``evaluate``, ``fid``, ``fid-stats``, ``analyze``: evaluation and latent analysis.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

_COMMAND_MODULES = (
    "koopkit_diffusion.commands.teacher",
    "koopkit_diffusion.commands.pairs",
    "koopkit_diffusion.commands.kdm",
    "koopkit_diffusion.commands.evaluate",
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every sub-command registered."""
    parser = argparse.ArgumentParser(
        prog="koopkit-diffusion",
        description="One-step diffusion generators with the Koopman Distillation Model.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in _COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``koopkit-diffusion``; returns the process exit code."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        code = args.func(args)
    except (ValueError, FileNotFoundError, FileExistsError) as err:
        print(f"koopkit-diffusion {args.command}: error: {err}", file=sys.stderr)
        return 2
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main())
