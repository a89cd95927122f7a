"""The fit loop, EMA and checkpoints of koopkit.training."""

import pytest
import torch
from torch import nn

from koopkit.training import EMA, FitHistory, fit, load_checkpoint, save_checkpoint


def regression_data(n=256, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, generator=g)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]]) + 0.3
    return torch.cat([x, y], dim=1)


def mse_loss(model, batch):
    return (model(batch[:, :3]) - batch[:, 3:]).pow(2).mean()


def test_fit_decreases_loss():
    torch.manual_seed(0)
    model = nn.Linear(3, 1)
    data = regression_data()
    before = mse_loss(model, data).item()
    history = fit(model, mse_loss, data, epochs=30, lr=0.05, batch_size=32, progress=False)
    assert isinstance(history, FitHistory)
    assert mse_loss(model, data).item() < 1e-3 * before
    assert history.train_loss[-1] < history.train_loss[0]
    assert history.step[-1] == 30 * 8


def test_fit_accepts_dict_losses_numpy_data_and_step_schedule():
    torch.manual_seed(0)
    model = nn.Linear(3, 1)
    data = regression_data().numpy()
    history = fit(
        model,
        lambda m, b: {"total": mse_loss(m, b)},
        data,
        steps=50,
        schedule="step",
        step_size=10,
        gamma=0.5,
        lr=0.1,
        clip_grad_norm=1.0,
        progress=False,
        eval_every=10,
    )
    assert len(history.step) == 5
    assert history.lr[-1] == pytest.approx(0.1 * 0.5**5)


def test_early_stopping_and_best_restore():
    torch.manual_seed(0)
    model = nn.Linear(3, 1)
    data = regression_data()
    val = regression_data(seed=1)
    val[:, 3] += torch.randn(val.shape[0]) * 5  # noisy target: validation stops improving soon
    history = fit(model, mse_loss, data, val, epochs=200, lr=0.05, patience=3, progress=False)
    assert history.stopped_early
    assert history.step[-1] < 200 * 4
    assert history.best_val_loss == pytest.approx(min(history.val_loss))
    assert mse_loss(model, val).item() == pytest.approx(history.best_val_loss, rel=1e-5)


def test_fit_with_ema_returns_averaged_weights(tmp_path):
    torch.manual_seed(0)
    model = nn.Linear(3, 1)
    path = tmp_path / "ckpt.pt"
    fit(
        model,
        mse_loss,
        regression_data(),
        epochs=5,
        ema_decay=0.9,
        checkpoint=path,
        progress=False,
        restore_best=False,
    )
    state = load_checkpoint(path)
    assert set(state) >= {"model", "ema", "optimizer", "step", "history"}
    ema_weight = state["ema"]["module.weight"]
    assert torch.equal(model.weight.detach(), ema_weight)


def test_fit_is_reproducible_with_seed():
    weights = []
    for _ in range(2):
        torch.manual_seed(3)
        model = nn.Linear(3, 1)
        fit(model, mse_loss, regression_data(), steps=20, seed=7, progress=False)
        weights.append(model.weight.detach().clone())
    assert torch.equal(weights[0], weights[1])


def test_ema_average_matches_formula():
    model = nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        model.weight.fill_(0.0)
    ema = EMA(model, decay=0.5)
    for value in (1.0, 3.0):
        with torch.no_grad():
            model.weight.fill_(value)
        ema.update(model)
    # 0 -> 0.5 * 0 + 0.5 * 1 = 0.5 -> 0.5 * 0.5 + 0.5 * 3 = 1.75
    assert torch.allclose(ema.module.weight, torch.full((1, 2), 1.75))
    assert int(ema.num_updates) == 2


def test_checkpoint_round_trip_is_atomic_and_weights_only(tmp_path):
    model = nn.Linear(4, 2)
    path = tmp_path / "sub" / "model.pt"
    save_checkpoint({"model": model.state_dict(), "step": 3, "rng": torch.get_rng_state()}, path)
    assert [p.name for p in path.parent.iterdir()] == ["model.pt"]  # no temp file left
    state = load_checkpoint(path)
    assert state["step"] == 3
    for key, value in model.state_dict().items():
        assert torch.equal(state["model"][key], value)
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")


def test_fit_rejects_bad_arguments():
    model = nn.Linear(3, 1)
    data = regression_data(16)
    with pytest.raises(ValueError, match="exactly one of epochs or steps"):
        fit(model, mse_loss, data, progress=False)
    with pytest.raises(ValueError, match="patience"):
        fit(model, mse_loss, data, steps=2, patience=2, progress=False)
    with pytest.raises(ValueError, match="schedule"):
        fit(model, mse_loss, data, steps=2, schedule="linear", progress=False)
    with pytest.raises(ValueError, match="train_data"):
        fit(model, mse_loss, [1, 2, 3], steps=2, progress=False)
    with pytest.raises(ValueError, match="scalar"):
        fit(model, lambda m, b: m(b[:, :3]), data, steps=2, progress=False)


def test_val_fn_selects_the_best_evaluation():
    torch.manual_seed(0)
    model = nn.Linear(3, 1)
    target = torch.tensor([[1.0, -2.0, 0.5]])
    scores = []

    def distance_to_target(m):  # a validation score that is not the training loss
        scores.append(float((m.weight - target).norm()))
        return scores[-1]

    history = fit(
        model,
        mse_loss,
        regression_data(),
        val_fn=distance_to_target,
        steps=60,
        eval_every=10,
        lr=0.05,
        progress=False,
    )
    assert history.val_loss == scores
    assert history.best_val_loss == min(scores)
    assert float((model.weight.detach() - target).norm()) == pytest.approx(min(scores))
    with pytest.raises(ValueError, match="not both"):
        fit(
            model,
            mse_loss,
            regression_data(),
            regression_data(),
            val_fn=distance_to_target,
            steps=2,
            progress=False,
        )
