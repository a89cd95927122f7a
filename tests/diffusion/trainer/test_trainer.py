"""The diffusion trainer: exact resume, NaN guard, checkpoints, metrics, discriminator, data."""

from __future__ import annotations

import itertools
import json
import os
import signal
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from trainer_toys import ToyGAN, ToyRegressor, toy_dataset

from koopkit.io import file_sha256
from koopkit_diffusion.trainer import (
    TensorDictDataset,
    Trainer,
    TrainerConfig,
    load_run,
    read_metrics,
    save_weights,
    train,
)
from koopkit_diffusion.trainer.config import scheduled_lr
from koopkit_diffusion.trainer.data import ShardedBatchSampler

STEPS = 9


@pytest.fixture(autouse=True)
def _deterministic():
    torch.use_deterministic_algorithms(True)
    yield
    torch.use_deterministic_algorithms(False)


def _config(**overrides) -> TrainerConfig:
    values = dict(
        steps=STEPS, batch_size=8, log_every=2, checkpoint_every=3, keep_last=2, progress=False,
        ema_decay=0.9, grad_clip=0.5, lr=1e-2, device="cpu", seed=3, loss_figure=False,
    )  # fmt: skip
    values.update(overrides)
    return TrainerConfig(**values)


def _make(kind: str, init_seed: int = 0, **kwargs) -> torch.nn.Module:
    torch.manual_seed(init_seed)
    return {"regressor": ToyRegressor, "gan": ToyGAN}[kind](**kwargs)


def _fingerprint(trainer: Trainer) -> dict:
    state = trainer.state_dict()
    return {
        "model": state["model"],
        "ema": state["ema"],
        "optimizer": state["optimizer"]["state"],
        "disc_optimizer": state.get("disc_optimizer", {}).get("state"),
        "rng": state["rng"][0]["torch"],
    }


def _losses(history: list[dict]) -> list[dict]:
    skip = {"time", "samples_per_s"}
    return [{k: v for k, v in r.items() if k not in skip} for r in history]


def _assert_same(a, b) -> None:
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b)
    elif isinstance(a, dict):
        assert a.keys() == b.keys()
        for key in a:
            _assert_same(a[key], b[key])
    else:
        assert a == b


_REFERENCE: dict[str, tuple[dict, list]] = {}


def _reference(kind: str) -> tuple[dict, list]:
    """Fingerprint and history of an uninterrupted run (computed once per model kind)."""
    if kind not in _REFERENCE:
        with (
            tempfile.TemporaryDirectory() as run,
            Trainer(_make(kind), toy_dataset(), _config(), run) as t,
        ):
            result = t.train()
            _REFERENCE[kind] = (_fingerprint(t), _losses(result.history))
    return _REFERENCE[kind]


@pytest.mark.parametrize("kind", ["regressor", "gan"])
@settings(max_examples=6)
@given(stop=st.integers(min_value=1, max_value=STEPS - 1))
def test_resume_after_interruption_equals_uninterrupted_run(kind, stop):
    reference, ref_history = _reference(kind)
    with tempfile.TemporaryDirectory() as run:
        with Trainer(_make(kind), toy_dataset(), _config(), run) as first:
            assert first.train(stop_at=stop).step == stop
        torch.manual_seed(12345)  # the global RNG must come back from the checkpoint
        with Trainer(_make(kind, init_seed=7), toy_dataset(), _config(), run, resume=True) as t:
            assert t.step == stop
            result = t.train()
        _assert_same(_fingerprint(t), reference)
        assert _losses(result.history) == ref_history


def test_resume_after_crash_continues_from_last_periodic_checkpoint(tmp_path):
    reference, ref_history = _reference("regressor")
    with pytest.raises(RuntimeError, match="simulated crash"):
        train(_make("regressor", fail_at=7), toy_dataset(), _config(), tmp_path)
    # Steps 1..7 ran; the checkpoint of step 6 is the latest; the records up to step 6 are kept.
    with Trainer(_make("regressor", init_seed=1), toy_dataset(), _config(), tmp_path,
                 resume="auto") as t:  # fmt: skip
        assert t.step == 6
        result = t.train()
    _assert_same(_fingerprint(t), reference)
    assert _losses(result.history) == ref_history
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [2, 4, 6, 8, 9]


def test_sigterm_checkpoints_before_exiting_and_resume_is_exact(tmp_path):
    reference, ref_history = _reference("regressor")
    sent = []

    def preempt(model, step, run_dir):
        if not sent:
            sent.append(step)
            os.kill(os.getpid(), signal.SIGTERM)

    before = signal.getsignal(signal.SIGTERM)
    cfg = _config(sample_every=4)
    with Trainer(_make("regressor"), toy_dataset(), cfg, tmp_path, on_sample=preempt) as t:
        with pytest.raises(SystemExit) as exit_info:
            t.train()
    assert exit_info.value.code == 128 + signal.SIGTERM
    assert t.step == 4 == sent[0]
    assert (tmp_path / "checkpoints" / "latest").read_text().strip() == "ckpt-00000004.pt"
    assert signal.getsignal(signal.SIGTERM) is before
    with Trainer(_make("regressor", init_seed=4), toy_dataset(), cfg, tmp_path,
                 resume=True) as t:  # fmt: skip
        result = t.train()
    _assert_same(_fingerprint(t), reference)
    assert _losses(result.history) == ref_history


def test_ctrl_c_checkpoints_before_keyboard_interrupt(tmp_path):
    def interrupt(model, step, run_dir):
        os.kill(os.getpid(), signal.SIGINT)

    cfg = _config(sample_every=2)
    with Trainer(_make("regressor"), toy_dataset(), cfg, tmp_path, on_sample=interrupt) as t:
        with pytest.raises(KeyboardInterrupt):
            t.train()
    assert (tmp_path / "checkpoints" / "latest").read_text().strip() == "ckpt-00000002.pt"


def test_nan_guard_skips_and_counts_bad_steps(tmp_path):
    model = _make("regressor", nan_at=(2, 5))
    with Trainer(model, toy_dataset(), _config(steps=6, ema_decay=0.0), tmp_path) as t:
        t.train(stop_at=2)
        before = {k: v.clone() for k, v in model.state_dict().items()}
        t.train(stop_at=3)  # the third call (index 2) is NaN: nothing may change
        _assert_same(model.state_dict(), before)
        result = t.train()
    assert result.bad_steps == 2
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert result.history[-1]["bad_steps"] == 2
    assert all(np.isfinite(r["total"]) for r in result.history)


def test_consecutive_bad_steps_abort(tmp_path):
    model = _make("regressor", nan_at=(0, 1, 2))
    cfg = _config(max_consecutive_bad_steps=3)
    with pytest.raises(FloatingPointError, match="3 consecutive"):
        train(model, toy_dataset(), cfg, tmp_path)


def test_keep_last_k_checkpoints_and_latest_pointer(tmp_path):
    train(_make("regressor"), toy_dataset(), _config(steps=10, checkpoint_every=2), tmp_path)
    names = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert names == [
        "ckpt-00000008.pt",
        "ckpt-00000008.pt.sha256",
        "ckpt-00000010.pt",
        "ckpt-00000010.pt.sha256",
        "latest",
    ]
    assert (tmp_path / "checkpoints" / "latest").read_text().strip() == "ckpt-00000010.pt"


def test_metrics_jsonl_loss_figure_and_the_config_in_the_checkpoints(tmp_path):
    cfg = _config(steps=6, loss_figure=True)
    result = train(_make("regressor"), toy_dataset(), cfg, tmp_path)
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [2, 4, 6]
    for r in records:
        assert {"step", "epoch", "time", "lr", "bad_steps", "total", "mse"} <= r.keys()
        assert r["total"] > 0
    assert records == result.history == read_metrics(tmp_path)
    assert (tmp_path / "metrics.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # The trainer's configuration lives in its checkpoints (what a resume checks), nowhere else.
    state = load_run(tmp_path)
    assert state.config == cfg and state.world_size == 1 and state.step == 6
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "checkpoints",
        "metrics.jsonl",
        "metrics.png",
    ]


def test_weights_trained_elsewhere_load_as_a_run_that_claims_no_training(tmp_path):
    model = _make("regressor")
    save_weights(tmp_path / "run", model.state_dict(), step=0)
    other = _make("regressor")
    state = load_run(tmp_path / "run", other)
    assert state.config is None and state.step == 0 and state.world_size == 1
    pairs = zip(model.state_dict().values(), other.state_dict().values(), strict=True)
    assert all(torch.equal(a, b) for a, b in pairs)
    ckpt = tmp_path / "run" / "checkpoints" / "ckpt-00000000.pt"
    assert (ckpt.parent / (ckpt.name + ".sha256")).read_text().split()[0] == file_sha256(ckpt)


def test_discriminator_gets_its_own_optimizer_steps(tmp_path):
    model = _make("gan", noisy=False)
    disc_before = [p.detach().clone() for p in model.discriminator.parameters()]
    with Trainer(model, toy_dataset(), _config(steps=4), tmp_path) as t:
        gen_ids = {id(p) for g in t.optimizer.param_groups for p in g["params"]}
        assert gen_ids.isdisjoint(id(p) for p in model.discriminator.parameters())
        result = t.train()
        assert len(t.disc_optimizer.state) == len(disc_before)
    after = model.discriminator.parameters()
    assert all(not torch.equal(a, b) for a, b in zip(disc_before, after, strict=True))
    assert "disc_total" in result.history[-1] and "adversarial" in result.history[-1]


def test_load_run_puts_ema_weights_into_a_fresh_model(tmp_path):
    result = train(_make("regressor"), toy_dataset(), _config(steps=4), tmp_path)
    state = load_run(tmp_path, _make("regressor", init_seed=9))
    assert state.step == 4 and state.config.steps == 4
    _assert_same(state.model.state_dict(), result.ema.state_dict())
    assert not state.model.training


def test_on_sample_is_called_and_does_not_change_training(tmp_path):
    calls = []

    def on_sample(model, step, run_dir):
        calls.append(step)
        torch.randn(100)  # consumes RNG: the trainer must isolate it
        np.random.rand()  # noqa: NPY002
        (Path(run_dir) / f"sample-{step}.txt").write_text("ok")

    cfg = _config(sample_every=4)
    with Trainer(_make("regressor"), toy_dataset(), cfg, tmp_path, on_sample=on_sample) as t:
        t.train()
    assert calls == [4, 8, 9]
    assert (tmp_path / "sample-9.txt").is_file()
    _assert_same(_fingerprint(t)["model"], _reference("regressor")[0]["model"])


def test_run_dir_and_resume_errors(tmp_path):
    train(_make("regressor"), toy_dataset(), _config(steps=3), tmp_path)
    with pytest.raises(FileExistsError, match="resume=True"):
        Trainer(_make("regressor"), toy_dataset(), _config(steps=3), tmp_path)
    with pytest.raises(ValueError, match="batch_size"):
        Trainer(_make("regressor"), toy_dataset(), _config(batch_size=4), tmp_path, resume=True)
    with pytest.raises(ValueError, match="dataset"):
        Trainer(_make("regressor"), toy_dataset(n=48), _config(), tmp_path, resume=True)
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        Trainer(_make("regressor"), toy_dataset(), _config(), tmp_path / "new", resume=True)
    with pytest.raises(ValueError, match="larger than the dataset"):
        train(_make("regressor"), toy_dataset(n=4), _config(), tmp_path / "small")


def test_tensorboard_without_package_names_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    with pytest.raises(ImportError, match="tensorboard"):
        Trainer(_make("regressor"), toy_dataset(), _config(tensorboard=True), tmp_path)


def test_bf16_on_cpu_falls_back_to_float32(tmp_path, caplog):
    with Trainer(_make("regressor"), toy_dataset(), _config(amp="bf16"), tmp_path) as t:
        assert not t.use_amp
    assert "CUDA only" in caplog.text


def test_learning_rate_warmup_is_linear(tmp_path):
    with Trainer(_make("regressor"), toy_dataset(), _config(lr_warmup_steps=4), tmp_path) as t:
        assert [t.learning_rate(s) for s in range(6)] == pytest.approx(
            [2.5e-3, 5e-3, 7.5e-3, 1e-2, 1e-2, 1e-2]
        )


@settings(max_examples=40, deadline=None)
@given(
    kind=st.sampled_from(["cosine", "linear"]),
    steps=st.integers(2, 400),
    warmup=st.integers(0, 50),
    final=st.floats(0.0, 1.0),
)
def test_learning_rate_decays_monotonically_to_the_final_ratio(kind, steps, warmup, final):
    assume(warmup < steps - 1)  # at least two steps after the warm-up
    config = _config(steps=steps, lr_warmup_steps=warmup, lr_decay=kind, lr_final_ratio=final)
    decay = [scheduled_lr(config, s) for s in range(warmup, steps)]
    assert decay[0] == pytest.approx(config.lr)
    assert decay[-1] == pytest.approx(final * config.lr, abs=1e-15)
    assert all(b <= a * (1 + 1e-12) for a, b in itertools.pairwise(decay))


def test_cosine_decay_reaches_the_optimizer_and_the_metrics(tmp_path):
    config = _config(steps=9, log_every=1, lr_decay="cosine", lr_final_ratio=0.1)
    with Trainer(_make("regressor"), toy_dataset(), config, tmp_path) as t:
        t.train()
        assert t.optimizer.param_groups[0]["lr"] == pytest.approx(1e-3)
    logged = [json.loads(line)["lr"] for line in (tmp_path / "metrics.jsonl").open()]
    assert logged[0] == pytest.approx(1e-2) and logged[-1] == pytest.approx(1e-3)
    assert logged[4] == pytest.approx(1e-2 * (0.1 + 0.9 * 0.5))


@pytest.mark.parametrize(
    "bad",
    [{"steps": 0}, {"amp": "fp16"}, {"device": "tpu"}, {"ema_decay": 1.0}, {"grad_clip": -1.0},
     {"betas": (0.9,)}, {"keep_last": 0}, {"nope": 1}, {"lr_decay": "step"},
     {"lr_final_ratio": 1.5}, {"cudnn_benchmark": "yes"}, {"cudnn_benchmark": 1}],
)  # fmt: skip
def test_config_rejects_bad_values(bad):
    with pytest.raises(ValueError):
        TrainerConfig.from_dict(bad)


def test_model_and_dataset_are_checked(tmp_path):
    with pytest.raises(ValueError, match="losses"):
        Trainer(torch.nn.Linear(2, 2), toy_dataset(), _config(), tmp_path)
    with pytest.raises(ValueError, match="first dimension"):
        TensorDictDataset(noise=torch.zeros(3, 2), sample=torch.zeros(4, 2))


@given(
    n=st.integers(16, 60),
    local=st.integers(1, 4),
    world=st.sampled_from([1, 2, 4]),
    start=st.integers(0, 20),
    seed=st.integers(0, 2**31),
)
def test_data_order_is_a_pure_function_of_seed_and_step_for_any_world_size(
    n, local, world, start, seed
):
    batch = local * world
    if batch > n:
        return
    per_epoch = n // batch
    single = ShardedBatchSampler(n, batch, seed, 0, 1, start_step=0)
    stream = list(itertools.islice(single, max(start + 6, per_epoch)))
    shards = [iter(ShardedBatchSampler(n, batch, seed, r, world, start_step=start)) for r in
              range(world)]  # fmt: skip
    for step in range(start, start + 6):
        got = np.sort(np.concatenate([next(it) for it in shards]))
        np.testing.assert_array_equal(got, np.sort(stream[step]))
    epoch = np.concatenate(stream[:per_epoch])
    assert len(np.unique(epoch)) == len(epoch)  # no repeats within an epoch


def test_pair_dataset_with_workers_gives_the_same_run_as_in_memory_tensors(tmp_path):
    from koopkit_diffusion.pairs import PairDataset, generate_pairs
    from koopkit_diffusion.teacher import DenoiserTeacher

    def denoiser(x, sigma, labels):
        return 0.5 * torch.tanh(x)

    teacher = DenoiserTeacher(denoiser, shape=(2,))
    generate_pairs(teacher, tmp_path / "pairs", 40, n_steps=2, shard_size=16, batch_size=40,
                   progress=False)  # fmt: skip
    pairs = PairDataset(tmp_path / "pairs")
    cfg = _config(steps=6)
    streamed = train(_make("regressor"), pairs, _config(steps=6, num_workers=1), tmp_path / "a")
    in_memory = TensorDictDataset.from_dataset(pairs)
    assert len(in_memory) == 40
    resident = train(_make("regressor"), in_memory, cfg, tmp_path / "b")
    _assert_same(streamed.model.state_dict(), resident.model.state_dict())
    assert _losses(streamed.history) == _losses(resident.history)


class _ConvModel(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(2, 4, 3, padding=1)
        self.layouts = []

    def losses(self, batch):
        x = batch["sample"]
        self.layouts.append(x.is_contiguous(memory_format=torch.channels_last))
        loss = self.conv(x).square().mean()
        return {"total": loss}


def test_channels_last_reaches_model_and_batches(tmp_path):
    images = TensorDictDataset(sample=torch.randn(16, 2, 4, 4))
    model = _ConvModel()
    train(model, images, _config(steps=2, channels_last=True), tmp_path)
    assert model.layouts == [True, True]
    assert model.conv.weight.is_contiguous(memory_format=torch.channels_last)


def test_loss_figure_leaves_out_losses_that_are_switched_off(tmp_path, monkeypatch):
    """A term at weight zero (the adversary with w_adv = 0) logs zeros: it gets no flat panel."""
    from matplotlib.figure import Figure

    from koopkit_diffusion.trainer import plot_metrics

    drawn: list[str] = []
    titles: list[str] = []
    original_savefig = Figure.savefig

    def spy(fig, *args, **kwargs):
        drawn.extend(ax.get_title() for ax in fig.axes if ax.get_title())
        if fig._suptitle is not None:
            titles.append(fig._suptitle.get_text())
        return original_savefig(fig, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", spy)
    history = [
        {"step": s, "total": 1.0 / s, "push": 0.5 / s, "adversarial": 0.0} for s in (1, 2, 3)
    ]
    plot_metrics(history, tmp_path / "m.png")
    assert drawn == ["total", "push"]
    assert titles == ["identically zero, not drawn: adversarial"]
