"""KDM benchmarks: training-step time, one-step vs 35-evaluation sampling, sample quality.

``step``     one training step of the ``checkerboard`` preset (the authors': batch 4096, SiLU
             MLPs width 256, latent 256) through the project's trainer
             (``Trainer.train_step``: losses, backward, Adam, EMA, NaN guard) vs a plain eager
             implementation of the same step written here (default Adam, a Python EMA loop).
             Target ≤ 150 ms.
``sample``   KDM one-step sampling vs the teacher's 18-step Heun sampler (35 evaluations) on the
             same 50k noises. Target ≥ 20× faster.
``quality``  SW1 (512 directions) of 50k KDM and KD samples (fresh noise) vs 50k held-out teacher
             samples, with the floor of two independent 50k true sets beside them.

    python benchmarks/bench_kdm.py step
    python benchmarks/bench_kdm.py sample [--teacher-run runs/quickstart/teacher]
    python benchmarks/bench_kdm.py quality --kdm runs/quickstart/kdm --kd runs/quickstart/kd \
        --eval-pairs runs/quickstart/eval-pairs
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from koopkit.io import recorded_command


def _timeit(fn, repeats: int, warmup: int = 3) -> list[float]:
    """Wall seconds per call; also records process CPU seconds per call in ``_timeit.cpu``."""
    for _ in range(warmup):
        fn()
    times = []
    c0 = time.process_time()
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    _timeit.cpu = (time.process_time() - c0) / repeats
    return times


class _PlainKDM(nn.Module):
    """The ``checkerboard`` preset's architecture and objective (the authors'), written plainly."""

    def __init__(self, width: int, depth: int, latent: int, act: type[nn.Module]) -> None:
        super().__init__()

        def mlp(i, o, out_act):  # one more input: the placeholder time
            layers = [nn.Linear(i + 1, width), act()]
            for _ in range(depth - 1):
                layers += [nn.Linear(width, width), act()]
            return nn.Sequential(*layers, nn.Linear(width, o), *([act()] if out_act else []))

        self.e_t, self.e_0 = mlp(2, latent, True), mlp(2, latent, True)
        self.dec = mlp(latent, 2, False)
        self.K = nn.Linear(latent, latent)

    def loss(self, noise, x0, sigma_z=0.4):
        one, zero = torch.ones(len(x0), 1), torch.zeros(len(x0), 1)
        z0 = self.e_0(torch.cat([x0, zero], 1))
        zt = self.e_t(torch.cat([noise, one], 1))  # the noise at unit scale
        zhat = self.K(zt + sigma_z * torch.randn_like(zt))
        rec = F.mse_loss(self.dec(torch.cat([z0 + sigma_z * torch.randn_like(z0), zero], 1)), x0)
        with torch.no_grad():  # the push term, logged only
            F.mse_loss(self.dec(torch.cat([zhat, zero], 1)), x0)
        return F.mse_loss(zhat, z0) + rec


def bench_step(args) -> dict:
    from koopkit_diffusion.runs import build_model, get_preset
    from koopkit_diffusion.students.networks import ACTIVATIONS
    from koopkit_diffusion.trainer import TensorDictDataset, Trainer

    preset = get_preset("checkerboard", dict(s.split("=", 1) for s in args.set))
    cfg, tcfg = preset.model, preset.train
    tcfg.progress = False
    n = tcfg.batch_size
    torch.manual_seed(0)
    batch = {"noise": torch.randn(n, 2), "sample": torch.randn(n, 2)}
    model = build_model(cfg, "kdm")
    data = TensorDictDataset(**batch)
    with tempfile.TemporaryDirectory() as run_dir:
        trainer = Trainer(model, data, tcfg, run_dir)
        ours = _timeit(lambda: trainer.train_step(batch), args.repeats)
        cpu_ours = _timeit.cpu
        trainer.close()

    plain = _PlainKDM(cfg.mlp_width, cfg.mlp_depth, cfg.latent_dim, ACTIVATIONS[cfg.activation])
    # ACTIVATIONS holds the plain classes (out-of-place), as an eager implementation would.
    opt = torch.optim.Adam(plain.parameters(), lr=tcfg.lr)
    ema = [p.detach().clone() for p in plain.parameters()]

    def plain_step():
        opt.zero_grad()
        loss = plain.loss(batch["noise"], batch["sample"])
        loss.backward()
        opt.step()
        with torch.no_grad():
            for e, p in zip(ema, plain.parameters(), strict=True):
                e.mul_(tcfg.ema_decay).add_(p, alpha=1 - tcfg.ema_decay)

    base = _timeit(plain_step, args.repeats)
    cpu_base = _timeit.cpu
    m_ours, m_base = statistics.median(ours) * 1e3, statistics.median(base) * 1e3
    print(f"threads={torch.get_num_threads()} load={os.getloadavg()[0]:.1f} batch={n}")
    print(
        f"koopkit KDM step (Trainer.train_step): {m_ours:.1f} ms wall, {cpu_ours * 1e3:.1f} ms CPU"
    )
    print(
        f"plain eager step (same model):         {m_base:.1f} ms wall, {cpu_base * 1e3:.1f} ms CPU"
    )
    print(f"ratio plain/koopkit: {m_base / m_ours:.2f}x wall, {cpu_base / cpu_ours:.2f}x CPU")
    print("target: ≤ 150 ms wall per step on 2 quiet cores (medians; CPU = process time per step)")
    return {"batch": n, "koopkit_ms": m_ours, "koopkit_cpu_ms": cpu_ours * 1e3,
            "plain_ms": m_base, "plain_cpu_ms": cpu_base * 1e3}  # fmt: skip


def bench_sample(args) -> dict:
    from koopkit_diffusion.edm import heun_sample
    from koopkit_diffusion.runs import build_model, get_preset, load_teacher
    from koopkit_diffusion.teacher import build_teacher

    torch.manual_seed(0)
    teacher = (
        load_teacher(args.teacher_run)
        if args.teacher_run
        else build_teacher(get_preset("teacher-checkerboard").model)
    )
    teacher.eval()
    model = build_model(get_preset("checkerboard").model, "kdm").eval()
    noise = torch.randn(args.n, 2)
    with torch.no_grad():
        t_teacher = _timeit(lambda: heun_sample(teacher, noise, 18, dtype=torch.float64), 2, 1)
        t_kdm = _timeit(lambda: model.sample(noise=noise), 5, 2)
    a, b = statistics.median(t_teacher), statistics.median(t_kdm)
    print(f"threads={torch.get_num_threads()} load={os.getloadavg()[0]:.1f} n={args.n}")
    print(f"teacher Heun, 35 evaluations: {a * 1e3:.0f} ms")
    print(f"KDM one step:                 {b * 1e3:.1f} ms")
    print(f"speed-up {a / b:.1f}x  (target: ≥ 20x)")
    return {"n": args.n, "teacher_ms": a * 1e3, "kdm_ms": b * 1e3, "speed_up": a / b}


def bench_quality(args) -> None:
    from koopkit_diffusion.data import checkerboard
    from koopkit_diffusion.evaluation.metrics import sliced_wasserstein
    from koopkit_diffusion.pairs import PairDataset
    from koopkit_diffusion.runs import load_generator

    held = PairDataset(args.eval_pairs)[: args.n]
    teacher_x = held["sample"]
    floor = sliced_wasserstein(checkerboard(args.n, seed=100), checkerboard(args.n, seed=101))
    print(f"n={args.n}  floor (two true sets): SW1 {floor:.4f}")
    print(
        f"teacher vs true: SW1 {sliced_wasserstein(teacher_x, checkerboard(args.n, seed=102)):.4f}"
    )
    for name, run in (("KDM", args.kdm), ("KD", args.kd)):
        if run:
            model = load_generator(run).model
            noise = torch.randn(args.n, 2, generator=torch.Generator().manual_seed(7))
            x = torch.cat([model.sample(noise=c) for c in noise.split(25_000)])
            print(f"{name} vs teacher: SW1 {sliced_wasserstein(x, teacher_x):.4f}  ({run})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    p = sub.add_parser("step")
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="preset overrides")
    p = sub.add_parser("sample")
    p.add_argument("--n", type=int, default=50_000)
    p.add_argument("--teacher-run", default=None)
    p = sub.add_parser("quality")
    p.add_argument("--kdm", default=None)
    p.add_argument("--kd", default=None)
    p.add_argument("--eval-pairs", required=True)
    p.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=None, help="also write the numbers here (JSON)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    result = {"step": bench_step, "sample": bench_sample, "quality": bench_quality}[args.what](args)
    if args.out and result is not None:
        report = {"command": recorded_command(), "threads": args.threads,
                  "load": os.getloadavg()[0], **result}  # fmt: skip
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
