"""Training for the diffusion side: EMA, bf16 AMP, DDP under ``torchrun``, atomic checkpoints,
exact resume, ``metrics.jsonl``. The user guide's "Training" page walks through it.

The trainer knows nothing of diffusion (it imports the core only) and is the only writer of its
files. **Public API** ::

    from koopkit_diffusion.trainer import (
        TrainerConfig, Trainer, TrainResult, train, load_run, RunState, TensorDictDataset,
        plot_metrics, read_metrics, save_weights,
    )

    cfg = TrainerConfig(steps=10_000, batch_size=128, lr=3e-4)  # fields and defaults: TrainerConfig
    TrainerConfig.from_dict(d)  # unknown key / bad value -> ValueError; cfg.to_dict() -> JSON

    trainer = Trainer(model, dataset, cfg, run_dir,
                      on_sample=None,     # callable(model_ema, step, run_dir) on rank 0
                      resume=False)       # False | True (latest) | "auto" | checkpoint path
    result = trainer.train(stop_at=None)  # stop_at: stop (with a checkpoint) at this global step
    trainer.close()                       # or `with Trainer(...) as trainer:`
    trainer.train_step(batch)             # one optimizer step on a device batch (benchmarks)
    trainer.save(); trainer.state_dict(); trainer.learning_rate(step); trainer.step
    result = train(model, dataset, cfg, run_dir, on_sample=None, resume=False)

    result.model, result.ema              # trained nn.Module and its EMA copy (nn.Module)
    result.history                        # list of metrics.jsonl records (dicts), on every rank
    result.step, result.bad_steps, result.bad_disc_steps, result.run_dir, result.checkpoint

    state = load_run(run_dir, model=None, checkpoint="latest", map_location="cpu")
    state.config (TrainerConfig or None), state.world_size, state.step, state.model_state,
    state.ema_state, state.checkpoint (Path); if `model` is given its weights are replaced in
    place by the EMA weights and returned as state.model.

    save_weights(run_dir, state_dict, step=0)   # weights trained elsewhere, as a run load_run reads
    write_checkpoint(path, state)                # any checkpoint file with its checksum (best.pt)

**Model protocol.** ``model.losses(batch: dict[str, Tensor]) -> dict[str, Tensor]`` with a
scalar ``"total"`` (backpropagated; every entry is logged). If
``getattr(model, "discriminator", None)`` is an ``nn.Module``, its parameters get their own Adam
optimizer and, after each generator step, ``model.discriminator_loss(batch)`` (a scalar tensor,
or a dict with ``"total"``) is backpropagated and stepped; the generator optimizer holds every
other parameter.

**Datasets.** Any map-style dataset of dicts (``{"noise", "sample", optional "label"}``). If the
dataset has ``get_batch(indices) -> dict`` (as :class:`koopkit_diffusion.pairs.dataset.PairDataset`
does), it is called once per batch with a sorted index array (fast path for memory-mapped pair sets
and in-memory tensors, see :class:`TensorDictDataset`); otherwise items are read one by one and
collated.

**Run directory** (the trainer's files) ::

    run_dir/metrics.jsonl                 one JSON record per log step
    run_dir/metrics.png                   loss curves (loss_figure=True)
    run_dir/checkpoints/ckpt-00001000.pt  (keep-last-K), each with ckpt-00001000.pt.sha256, and
                                          checkpoints/latest (name of the newest); a checkpoint
                                          holds the TrainerConfig and world size it was trained with
    run_dir/tensorboard/                  when tensorboard=True
    run_dir/...                           whatever on_sample writes (e.g. samples/*.png)
"""

from .checkpoints import RunState, load_run, save_weights, write_checkpoint
from .config import TrainerConfig
from .data import TensorDictDataset
from .loop import Trainer, TrainResult, train
from .plots import plot_metrics, read_metrics

__all__ = [
    "TrainerConfig",
    "Trainer",
    "TrainResult",
    "train",
    "load_run",
    "RunState",
    "TensorDictDataset",
    "plot_metrics",
    "read_metrics",
    "save_weights",
    "write_checkpoint",
]
