"""The KDM authors' configuration: training order, options of the model, and their laws."""

from __future__ import annotations

import torch
from torch import nn

from koopkit_diffusion.trainer import TensorDictDataset, Trainer, TrainerConfig


class _OrderRecorder(nn.Module):
    """A one-parameter generator and discriminator that record what each loss saw."""

    def __init__(self) -> None:
        super().__init__()
        self.gen = nn.Linear(1, 1)
        self.discriminator = nn.Linear(1, 1, bias=False)
        self.log: list[tuple[str, float]] = []

    def losses(self, batch):
        self.log.append(("generator", self.discriminator.weight.item()))
        fake = self.gen(batch["x"])
        return {"total": nn.functional.softplus(-self.discriminator(fake)).mean()}

    def discriminator_loss(self, batch):
        self.log.append(("discriminator", self.discriminator.weight.item()))
        fake = self.gen(batch["x"]).detach()
        real, fake = self.discriminator(batch["x"] + 1), self.discriminator(fake)
        return nn.functional.softplus(-real).mean() + nn.functional.softplus(fake).mean()


def _train(tmp_path, disc_first: bool) -> list[tuple[str, float]]:
    model = _OrderRecorder()
    config = TrainerConfig(
        steps=2, batch_size=4, lr=0.1, disc_first=disc_first, progress=False, loss_figure=False,
        checkpoint_every=100, device="cpu",
    )  # fmt: skip
    data = TensorDictDataset(x=torch.randn(8, 1, generator=torch.Generator().manual_seed(0)))
    Trainer(model, data, config, tmp_path / str(disc_first)).train()
    return model.log


def test_disc_first_steps_the_discriminator_before_the_generator_sees_it(tmp_path):
    first, after = _train(tmp_path, True), _train(tmp_path, False)
    assert [who for who, _ in first] == ["discriminator", "generator"] * 2
    assert [who for who, _ in after] == ["generator", "discriminator"] * 2
    # disc first: the generator's term uses the discriminator of this step's update
    assert first[1][1] != first[0][1]
    # disc after: the generator sees the discriminator its own update left it
    assert after[0][1] == after[1][1]
