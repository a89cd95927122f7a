"""The ``koopkit-diffusion`` command.

Sub-commands are contributed by the modules in :mod:`koopkit_diffusion.commands`:

- ``teacher train | sample``: train and sample the EDM teacher;
- ``pairs generate | import | verify | info``: offline noise→sample pair datasets;
- ``train``, ``sample``, ``quickstart``: the Koopman Distillation Model;
- ``evaluate``, ``fid``, ``fid-stats``, ``analyze``: evaluation and latent analysis.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import logging
import sys
from collections.abc import Sequence

from koopkit_diffusion._version import __version__

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
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging, tracebacks")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in _COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


#: Errors that a user's input or files cause: reported in one line (exit code 2), not as a
#: traceback (``--verbose`` shows it). FloatingPointError: a run whose steps were skipped as
#: NaN/Inf; ImportError: an optional package a setting needs (tensorboard).
_USER_ERRORS = (ValueError, OSError, FloatingPointError, ImportError)


def _describe(err: BaseException, args: argparse.Namespace) -> str:
    if isinstance(err, OSError) and not isinstance(err, (FileNotFoundError, FileExistsError)):
        if err.filename is not None:
            what = err.strerror or str(err)
            return f"{what}: {err.filename}"
        if err.errno == errno.ENOSPC:
            where = getattr(args, "out", None) or getattr(args, "run", None)
            return "no space left on device" + (f" while writing into {where}" if where else "")
    return str(err)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``koopkit-diffusion``; returns the process exit code.

    0 on success, 1 when ``pairs verify`` finds problems, 2 on a usage error or on an error
    the inputs cause (bad value, missing or corrupt file, refused directory, full disk, a run
    whose steps were all skipped as NaN/Inf), with one message naming what was expected.
    """
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        code = args.func(args)
    except _USER_ERRORS as err:
        if args.verbose:
            raise
        print(f"koopkit-diffusion {args.command}: error: {_describe(err, args)}", file=sys.stderr)
        return 2
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main())
