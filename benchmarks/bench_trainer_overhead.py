"""Cost of the trainer's machinery on the checkerboard KDM step (batch 4096, CPU).

The peer, measured in the same run, is a plain eager loop written here: random index batch from
in-memory tensors, ``model.losses``, backward, Adam step, EMA update. The trainer adds the
data stream (deterministic sharded order, DataLoader), the gradient-norm NaN/Inf guard (one
device sync per step), clipping and loss accumulation for the logs. The ratio printed is
trainer time / plain time per step; 1.00 means the machinery is free.

    python benchmarks/bench_trainer_overhead.py             # checkerboard preset, 60 steps
    python benchmarks/bench_trainer_overhead.py --steps 200 --repeats 3
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import tempfile
import time

import torch

from koopkit.training import EMA
from koopkit_diffusion.trainer import TensorDictDataset, Trainer, TrainerConfig


def make_model(preset: str):
    """The one model factory: ``(KDM, TrainerConfig)`` of a named preset."""
    from koopkit_diffusion.runs.presets import get_preset
    from koopkit_diffusion.students import KDM

    spec = get_preset(preset)
    return KDM(spec.model), spec.train


def plain_loop(model, data: dict, batch: int, steps: int, lr: float, decay: float) -> float:
    """Seconds per step of the hand-written eager loop."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    ema = EMA(model, decay=decay)
    n = next(iter(data.values())).shape[0]
    g = torch.Generator().manual_seed(0)
    t0 = 0.0
    for step in range(steps + 3):
        if step == 3:  # warm-up steps excluded
            t0 = time.perf_counter()
        idx = torch.randint(n, (batch,), generator=g)
        losses = model.losses({k: v[idx] for k, v in data.items()})
        opt.zero_grad(set_to_none=True)
        losses["total"].backward()
        opt.step()
        ema.update(model)
    return (time.perf_counter() - t0) / steps


def trainer_loop(model, data: dict, config: TrainerConfig, steps: int) -> float:
    """Seconds per step of :meth:`Trainer.train`, less the checkpoint it writes at the end."""
    config = TrainerConfig.from_dict(
        {**config.to_dict(), "steps": steps + 3, "checkpoint_every": 10**9, "progress": False,
         "device": "cpu", "sample_every": 0, "tensorboard": False}
    )  # fmt: skip
    with tempfile.TemporaryDirectory() as run:
        with Trainer(model, TensorDictDataset(**data), config, run) as trainer:
            trainer.train(stop_at=3)  # warm-up steps excluded
            start = time.perf_counter()
            trainer.train()
            total = time.perf_counter() - start
            start = time.perf_counter()
            trainer.save()  # the final checkpoint is not part of a step
            total -= time.perf_counter() - start
    return total / steps


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="checkerboard")
    parser.add_argument("--pairs", type=int, default=200_000, help="in-memory synthetic pairs")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    torch.manual_seed(0)
    model, config = make_model(args.preset)
    shape = tuple(model.config.shape)
    g = torch.Generator().manual_seed(1)
    data = {
        "noise": torch.randn((args.pairs, *shape), generator=g),
        "sample": torch.rand((args.pairs, *shape), generator=g) * 2 - 1,
    }
    plain, ours = [], []
    for _ in range(args.repeats):  # interleaved, so load changes hit both alike
        plain.append(
            plain_loop(
                copy.deepcopy(model),
                data,
                config.batch_size,
                args.steps,
                config.lr,
                config.ema_decay,
            )  # fmt: skip
        )
        ours.append(trainer_loop(copy.deepcopy(model), data, config, args.steps))
    p, t = statistics.median(plain), statistics.median(ours)
    print(f"preset {args.preset}, batch {config.batch_size}, {torch.get_num_threads()} threads")
    print(f"plain eager loop : {1e3 * p:8.1f} ms/step")
    print(f"Trainer.train    : {1e3 * t:8.1f} ms/step")
    print(f"ratio trainer/plain: {t / p:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
