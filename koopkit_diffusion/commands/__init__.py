"""Sub-command groups of the ``koopkit-diffusion`` command line.

Each module exposes ``register(subparsers)``, which adds its parsers and sets ``func`` (called
with the parsed ``argparse.Namespace``; returns an exit code or ``None``).
"""
