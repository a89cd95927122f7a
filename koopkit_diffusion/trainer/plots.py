"""Loss curves of a run, from its ``metrics.jsonl`` records."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["plot_metrics", "read_metrics"]

_NOT_LOSSES = {"step", "epoch", "time", "lr", "bad_steps", "bad_disc_steps", "samples_per_s"}


def read_metrics(run_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """The records of ``run_dir/metrics.jsonl``, in order (one dict per logged step)."""
    path = Path(run_dir) / "metrics.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found (expected a run directory written by Trainer)")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def plot_metrics(history: Sequence[dict[str, Any]], path: str | os.PathLike) -> Path:
    """Plot every logged loss against the step (one panel each; ``total`` first).

    Losses that are identically zero (a term switched off, e.g. the adversary at ``w_adv = 0``)
    get no panel; the figure says which were left out. A panel uses a log scale when its values
    are positive and span more than a factor of 10.

    Parameters
    ----------
    history : sequence of dict
        ``metrics.jsonl`` records (``TrainResult.history`` or :func:`read_metrics`).
    path : str or os.PathLike
        Output PNG.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not history:
        raise ValueError("history is empty: nothing to plot")
    logged = {k for r in history for k in r} - _NOT_LOSSES
    off = sorted(k for k in logged if all(r.get(k, 0) == 0 for r in history))
    keys = sorted(set(logged) - set(off), key=lambda k: (k != "total", k.startswith("disc_"), k))
    cols = min(3, max(1, len(keys)))
    rows = max(1, math.ceil(len(keys) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 2.8 * rows), squeeze=False)
    for ax, key in zip(axes.flat, keys, strict=False):
        pts = [(r["step"], r[key]) for r in history if key in r and math.isfinite(r[key])]
        if pts:
            steps, values = zip(*pts, strict=True)
            ax.plot(steps, values, lw=1.2)
            if min(values) > 0 and max(values) > 10 * min(values):
                ax.set_yscale("log")
        ax.set_title(key)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(keys) :]:
        ax.axis("off")
    if off:
        fig.suptitle(f"identically zero, not drawn: {', '.join(off)}", fontsize=9)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
