"""The one-command tour on the checkerboard: teacher → pairs → KDM and KD → evaluation.

``koopkit-diffusion quickstart`` (or :func:`run_quickstart`) runs, on the CPU:

1. trains a small EDM teacher on the 2-D checkerboard (:mod:`koopkit_diffusion.teacher`);
2. generates noise→sample pairs with its 32-step Heun sampler (63 evaluations per pair), plus a
   held-out set of teacher samples for evaluation (:mod:`koopkit_diffusion.pairs`);
3. trains a KDM and the KD baseline (same sampling path, pairs, loss and step budget) with
   :mod:`koopkit_diffusion.trainer`;
4. evaluates teacher, KDM and KD: sliced Wasserstein SW1 (512 directions) and mean marginal W1
   against the true distribution and against the teacher's held-out samples (students sample
   from fresh noise, independent of the held-out set), with the floor of two independent sets of
   the true distribution beside them;
5. writes ``quickstart.png`` (the true board and the samples, loss curves, the operator's
   spectrum against the unit circle), ``metrics.json`` and prints a table.

Everything goes under the output folder (``runs/quickstart`` by default); ``metrics.json``
records the time of every stage. :class:`QuickstartConfig` scales the sizes down for tests.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from koopkit.io import write_json
from koopkit_diffusion.data import checkerboard
from koopkit_diffusion.edm import concat_batches
from koopkit_diffusion.evaluation import same_noise_scores
from koopkit_diffusion.evaluation.metrics import marginal_w1, sliced_wasserstein
from koopkit_diffusion.evaluation.plots import plot_distillation_2d
from koopkit_diffusion.pairs import PairDataset

from .pairs import generate_pair_set
from .presets import get_preset
from .training import load_teacher, train_run

__all__ = ["QuickstartConfig", "run_quickstart", "format_table", "SW_FLOOR", "CHECKERBOARD_SCALE"]

logger = logging.getLogger(__name__)

#: SW1 between two independent 50k sets of the checkerboard on ``[−2, 2]²`` (evaluation guide).
SW_FLOOR = 0.0096
#: :func:`koopkit_diffusion.data.checkerboard` divides by 0.45: distances scale by 1/0.45.
CHECKERBOARD_SCALE = 0.45


@dataclass
class QuickstartConfig:
    """Sizes of the quickstart (the defaults are the ``koopkit-diffusion quickstart`` command's).

    Parameters
    ----------
    teacher_hidden, teacher_depth, teacher_steps, teacher_batch : int
        The EDM teacher's residual MLP and its training budget.
    heun_steps : int
        Steps N of the teacher's Heun sampler (2N − 1 evaluations) for the pairs. 32 (63
        evaluations), not EDM's 18: on the checkerboard, 18 steps leave even the exact denoiser
        about 2.9× the sampling floor away from the true board, 32 steps about 1.1×
        (``benchmarks/bench_teacher_sampler.py``).
    n_pairs : int
        Training pairs.
    n_eval : int
        Samples per set in the evaluation (teacher held-out set, KDM, KD, true data).
    kdm_overrides : dict of str to str
        Overrides of the ``checkerboard-fast`` preset for KDM and KD (both get the same).
    seed : int
    progress : bool
        Progress bars.
    """

    teacher_hidden: int = 128
    teacher_depth: int = 3
    teacher_steps: int = 2000
    teacher_batch: int = 1024
    heun_steps: int = 32
    n_pairs: int = 100_000
    n_eval: int = 50_000
    kdm_overrides: dict[str, str] = dataclasses.field(default_factory=dict)
    seed: int = 0
    progress: bool = True


def _metrics(x: torch.Tensor, teacher: torch.Tensor, true: torch.Tensor) -> dict[str, float]:
    return {
        "sw_vs_teacher": sliced_wasserstein(x, teacher),
        "sw_vs_true": sliced_wasserstein(x, true),
        "w1_vs_teacher": marginal_w1(x, teacher),
        "w1_vs_true": marginal_w1(x, true),
    }


def run_quickstart(
    out: str | Path = "runs/quickstart", seed: int = 0, config: QuickstartConfig | None = None
) -> dict[str, Any]:
    """Run the whole pipeline and write its figure and metrics into ``out``.

    Parameters
    ----------
    out : path, default "runs/quickstart"
        Output folder (created). Holds ``teacher/``, ``pairs/``, ``eval-pairs/``, ``kdm/``,
        ``kd/``, ``quickstart.png``, ``metrics.json``. A rerun into the same folder reuses what
        is finished (teacher, pair sets, students) and resumes what is not; a folder holding runs
        of other configurations is refused, never deleted.
    seed : int, default 0
    config : QuickstartConfig, optional
        Sizes (the defaults are the command's).

    Returns
    -------
    dict
        The content of ``metrics.json``: per model (``teacher``, ``kdm``, ``kd``) the NFE,
        ``sw_vs_teacher``, ``sw_vs_true``, ``w1_vs_teacher``, ``w1_vs_true``, sampling time and,
        for the students, ``sw_same_noise`` and ``rmse_same_noise`` (against the teacher's samples
        of the same noises: SW1, and the per-pair distance);
        the floors (stated, and measured as mean ± std over four pairs of independent true
        sets); stage timings. Distances are in data units (the checkerboard divided by 0.45).
    """
    cfg = config or QuickstartConfig(seed=seed)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}

    t0 = time.perf_counter()
    teacher_preset = get_preset(
        "teacher-checkerboard",
        {
            "model.hidden": str(cfg.teacher_hidden),
            "model.depth": str(cfg.teacher_depth),
            "train.steps": str(cfg.teacher_steps),
            "train.batch_size": str(cfg.teacher_batch),
            "train.lr_warmup_steps": str(min(200, cfg.teacher_steps // 10)),
            "train.seed": str(cfg.seed),
            "train.progress": str(cfg.progress),
            "data.seed": str(cfg.seed),
        },
    )
    logger.info("[1/5] teacher: %d steps", cfg.teacher_steps)
    train_run(teacher_preset, out / "teacher", resume="auto")
    load_teacher(out / "teacher")  # fails here, not in the pair stage, if the run is unusable
    timings["teacher_train_s"] = _done(1, "teacher", t0)

    t0 = time.perf_counter()
    nfe = 2 * cfg.heun_steps - 1
    logger.info(
        "[2/5] pairs: %d training + %d held-out (%d evaluations each)", cfg.n_pairs, cfg.n_eval,
        nfe,
    )  # fmt: skip
    common = dict(
        batch_size=25_000, n_steps=cfg.heun_steps, compute_dtype="float64", progress=cfg.progress
    )
    generate_pair_set(out / "teacher", out / "pairs", cfg.n_pairs, seed=2 * cfg.seed + 1, **common)
    generate_pair_set(
        out / "teacher", out / "eval-pairs", cfg.n_eval, seed=2 * cfg.seed + 2, **common
    )
    held_out = PairDataset(out / "eval-pairs")[:]
    timings["pairs_s"] = _done(2, "pairs", t0)

    preset = get_preset(
        "checkerboard-fast",
        {**cfg.kdm_overrides, "train.seed": str(cfg.seed), "train.progress": str(cfg.progress)},
    )
    results: dict[str, Any] = {}
    models = {}
    for i, kind in enumerate(("kdm", "kd")):
        logger.info("[%d/5] training %s: %d steps", 3 + i, kind.upper(), preset.train.steps)
        t0 = time.perf_counter()
        res = train_run(preset, out / kind, pairs=out / "pairs", kind=kind, resume="auto")
        timings[f"{kind}_train_s"] = _done(3 + i, kind.upper(), t0)
        models[kind] = res.ema.eval() if isinstance(res.ema, torch.nn.Module) else res.model
        results[kind] = {"history": res.history}

    logger.info("[5/5] evaluating on %d samples", cfg.n_eval)
    t0 = time.perf_counter()
    with tqdm(total=7, desc="evaluate", disable=not cfg.progress) as bar:
        true = checkerboard(cfg.n_eval, seed=cfg.seed + 10)
        # SW between independent sets fluctuates by ~20 % from draw to draw: average a few pairs.
        floors = []
        for i in range(4):
            a = checkerboard(cfg.n_eval, seed=cfg.seed + 11 + 2 * i)
            floors.append(
                sliced_wasserstein(a, checkerboard(cfg.n_eval, seed=cfg.seed + 12 + 2 * i))
            )
            bar.update()
        teacher_x = held_out["sample"]
        floor = float(np.mean(floors))
        teacher_scores = {k: v for k, v in _metrics(teacher_x, teacher_x, true).items()
                          if k.endswith("_vs_true")}  # fmt: skip
        metrics: dict[str, Any] = {
            "floor_sw_stated": SW_FLOOR,
            "floor_sw_stated_data_units": SW_FLOOR / CHECKERBOARD_SCALE,
            "floor_sw_measured": floor,
            "floor_sw_measured_std": float(np.std(floors)),
            "n_eval": cfg.n_eval,
            "teacher": {
                "nfe": nfe,
                **teacher_scores,
                "sw_vs_true_over_floor": teacher_scores["sw_vs_true"] / floor,
                "note": _TEACHER_NOTE.format(
                    ratio=teacher_scores["sw_vs_true"] / floor, n=cfg.heun_steps, nfe=nfe
                ),
            },
        }
        bar.update()
        samples = {"true": true, "teacher": teacher_x}
        for kind, model in models.items():
            model = getattr(model, "module", model)
            # Fresh noise, independent of the teacher's held-out set: the two sample sets are
            # independent draws, as the floor assumes (the same noise would flatter the student).
            start = time.perf_counter()
            x, _ = concat_batches(
                model.sample_batches(cfg.n_eval, seed=cfg.seed + 20, batch_size=25_000)
            )
            secs = time.perf_counter() - start
            samples[kind] = x
            metrics[kind] = {
                "nfe": 1,
                "sample_s": secs,
                **same_noise_scores(model, held_out),
                **_metrics(x, teacher_x, true),
            }
            bar.update()
    timings["evaluate_s"] = _done(5, "evaluation", t0)
    metrics["timings_s"] = timings
    metrics["total_s"] = sum(timings.values())
    metrics["kdm_config"] = preset.model.to_dict() | {"train": preset.train.to_dict()}
    metrics["quickstart_config"] = dataclasses.asdict(cfg)  # the sizes this run had

    kdm = getattr(models["kdm"], "module", models["kdm"])
    plot_distillation_2d(
        out / "quickstart.png",
        samples,
        {"true": None, "teacher": nfe, "kdm": 1, "kd": 1},
        {kind: results[kind]["history"] for kind in models},
        kdm.operator.eigenvalues().detach().cpu().numpy(),
        scores={name: metrics[name]["sw_vs_true"] for name in ("teacher", "kdm", "kd")},
        floor=floor,
    )
    write_json(metrics, out / "metrics.json")
    print(format_table(metrics))
    return metrics


_TEACHER_NOTE = (
    "SW vs true is {ratio:.1f}x the sampling floor with {n} Heun steps ({nfe} NFE); "
    "benchmarks/bench_teacher_sampler.py separates the sampler's discretisation from the "
    "network's blur (it scores the exact checkerboard denoiser under the same sampler); the "
    "students learn this teacher."
)


def _done(stage: int, name: str, t0: float) -> float:
    seconds = time.perf_counter() - t0
    logger.info("[%d/5] %s done in %.0f s", stage, name, seconds)
    return seconds


def format_table(metrics: dict[str, Any]) -> str:
    """The quickstart's metrics as a plain-text table."""
    lines = [
        f"{'model':<8} {'NFE':>4} {'SW vs teacher':>14} {'SW vs true':>11} {'W1 vs teacher':>14} "
        f"{'W1 vs true':>11} {'SW same noise':>14} {'RMSE same noise':>16}",
    ]
    for name in ("teacher", "kdm", "kd"):
        m = metrics[name]
        cells = [
            "-" if name == "teacher" else f"{m[key]:.4f}"
            for key in ("sw_vs_teacher", "w1_vs_teacher", "sw_same_noise", "rmse_same_noise")
        ]
        lines.append(
            f"{name.upper():<8} {m['nfe']:>4} {cells[0]:>14} {m['sw_vs_true']:>11.4f} "
            f"{cells[1]:>14} {m['w1_vs_true']:>11.4f} {cells[2]:>14} {cells[3]:>16}"
        )
    lines.append(
        f"floor: two independent {metrics['n_eval']} true sets differ by SW "
        f"{metrics['floor_sw_measured']:.4f} ± {metrics['floor_sw_measured_std']:.4f} "
        f"(stated ≈ {SW_FLOOR} at 50k on [-2, 2]², i.e. ≈ {SW_FLOOR / CHECKERBOARD_SCALE:.4f} in "
        f"these units, data ÷ {CHECKERBOARD_SCALE}); 'same noise' columns compare with the "
        f"teacher's samples of the same noises (no floor); total {metrics['total_s']:.0f} s"
    )
    return "\n".join(lines)
