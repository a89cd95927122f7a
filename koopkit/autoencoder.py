"""Koopman autoencoders: learn coordinates in which the dynamics are linear.

An encoder ``E`` lifts a state ``x`` to a latent ``z = E(x)``, a linear Koopman operator ``K``
(a :class:`koopkit.operators.KoopmanOperator`) advances the latent, and a decoder ``D`` maps it
back: ``x_{t+k} ≈ D(K^k E(x_t))`` (Lusch, Kutz & Brunton 2018, Nat. Commun.; Takeishi et al.
2017). With a second, *backward* operator ``C`` the model is a consistent Koopman autoencoder
(Azencot, Erichson, Lin & Mahoney 2020, ICML): ``C`` predicts backward in time and
``C K ≈ I`` is encouraged, which keeps long forward rollouts from drifting.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import torch
from torch import nn

from koopkit.operators import KoopmanOperator

__all__ = ["KoopmanAutoencoder", "mlp", "DEFAULT_LOSS_WEIGHTS"]

_ACTIVATIONS: dict[str, type[nn.Module]] = {
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "elu": nn.ELU,
}

#: Default weights of the loss terms. ``reconstruction``/``prediction``/``backward``/
#: ``consistency`` follow Azencot et al. (2020, Eq. 7: λ_id = λ_fwd = 1, λ_bwd = 0.1,
#: λ_con = 0.01); ``linearity`` is the latent term of Lusch et al. (2018, Eq. 3).
DEFAULT_LOSS_WEIGHTS: dict[str, float] = {
    "reconstruction": 1.0,
    "prediction": 1.0,
    "linearity": 1.0,
    "backward": 0.1,
    "consistency": 0.01,
    "penalty": 1.0,
}


def mlp(
    in_dim: int,
    out_dim: int,
    hidden: int = 64,
    depth: int = 2,
    activation: str | Callable[[], nn.Module] = "tanh",
) -> nn.Sequential:
    """Fully connected network ``in_dim → hidden → … → hidden → out_dim``.

    Parameters
    ----------
    in_dim, out_dim : int
        Input and output features (the network maps ``(..., in_dim)`` to ``(..., out_dim)``).
    hidden : int, default 64
        Width of the hidden layers.
    depth : int, default 2
        Number of hidden layers (``0`` gives a single linear layer).
    activation : str or callable, default "tanh"
        One of ``"tanh"``, ``"relu"``, ``"gelu"``, ``"silu"``, ``"elu"``, or a zero-argument
        callable returning a module (e.g. ``torch.nn.Softplus``). Not applied after the last
        layer.

    Returns
    -------
    torch.nn.Sequential
    """
    for name, value in (("in_dim", in_dim), ("out_dim", out_dim), ("hidden", hidden)):
        if isinstance(value, bool) or int(value) != value or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if isinstance(depth, bool) or int(depth) != depth or depth < 0:
        raise ValueError(f"depth must be a non-negative integer, got {depth!r}")
    if isinstance(activation, str):
        if activation not in _ACTIVATIONS:
            raise ValueError(
                f"activation must be one of {sorted(_ACTIVATIONS)} or a callable, "
                f"got {activation!r}"
            )
        make_act = _ACTIVATIONS[activation]
    elif callable(activation):
        make_act = activation
    else:
        raise ValueError(f"activation must be a string or a callable, got {activation!r}")
    widths = [int(in_dim)] + [int(hidden)] * int(depth) + [int(out_dim)]
    layers: list[nn.Module] = []
    for i in range(len(widths) - 1):
        layers.append(nn.Linear(widths[i], widths[i + 1]))
        if i < len(widths) - 2:
            layers.append(make_act())
    return nn.Sequential(*layers)


def _mse(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a - b).pow(2).mean()


def _consistency(forward: torch.Tensor, backward: torch.Tensor) -> torch.Tensor:
    """Azencot et al. (2020), Eq. 6, with ``D`` = forward and ``C`` = backward matrix.

    ``Σ_{k=1}^{κ} (‖C_{k*} D_{*k} − I_k‖²_F + ‖D_{k*} C_{*k} − I_k‖²_F) / (2k)``: the leading
    ``k × k`` blocks of ``C D`` and ``D C`` are identities for every ``k`` (zero when
    ``C = D⁻¹``).
    """
    dim = forward.shape[0]
    cd = backward @ forward
    dc = forward @ backward
    eye = torch.eye(dim, dtype=forward.dtype, device=forward.device)
    total = forward.new_zeros(())
    for k in range(1, dim + 1):
        total = total + ((cd[:k, :k] - eye[:k, :k]) ** 2).sum() / (2 * k)
        total = total + ((dc[:k, :k] - eye[:k, :k]) ** 2).sum() / (2 * k)
    return total


class KoopmanAutoencoder(nn.Module):
    """Encoder, linear Koopman operator and decoder, optionally with a backward operator.

    Parameters
    ----------
    encoder : torch.nn.Module
        Maps states ``(..., n)`` to latents ``(..., dim)``.
    operator : koopkit.operators.KoopmanOperator
        Forward one-step operator ``K`` on the latent (``dim`` must match the encoder).
    decoder : torch.nn.Module
        Maps latents ``(..., dim)`` back to states ``(..., n)``.
    backward_operator : koopkit.operators.KoopmanOperator, optional
        Backward operator ``C`` (one step back in time). Given, the model is a consistent
        Koopman autoencoder (Azencot et al. 2020) and :meth:`loss` adds the backward-prediction
        and consistency terms.

    Examples
    --------
    >>> import koopkit as kk
    >>> from koopkit.operators import DenseOperator
    >>> kae = kk.KoopmanAutoencoder(kk.mlp(64, 6), DenseOperator(6), kk.mlp(6, 64),
    ...                             backward_operator=DenseOperator(6))
    """

    def __init__(
        self,
        encoder: nn.Module,
        operator: KoopmanOperator,
        decoder: nn.Module,
        backward_operator: KoopmanOperator | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(operator, KoopmanOperator):
            raise ValueError(
                f"operator must be a koopkit.operators.KoopmanOperator, got {type(operator)}"
            )
        if backward_operator is not None:
            if not isinstance(backward_operator, KoopmanOperator):
                raise ValueError(
                    "backward_operator must be a koopkit.operators.KoopmanOperator or None, "
                    f"got {type(backward_operator)}"
                )
            if backward_operator.dim != operator.dim:
                raise ValueError(
                    f"backward_operator.dim ({backward_operator.dim}) must equal "
                    f"operator.dim ({operator.dim})"
                )
        self.encoder = encoder
        self.operator = operator
        self.decoder = decoder
        self.backward_operator = backward_operator

    @property
    def latent_dim(self) -> int:
        """Dimension of the latent space (``operator.dim``)."""
        return self.operator.dim

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """``E(x)``: states ``(..., n)`` to latents ``(..., dim)``."""
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """``D(z)``: latents ``(..., dim)`` to states ``(..., n)``."""
        return self.decoder(z)

    def advance(self, z: torch.Tensor, steps: int) -> torch.Tensor:
        """Latent rollout ``K^k z`` for ``k = 0..steps``, shape ``(steps + 1, batch, dim)``."""
        return self.operator.rollout(z, steps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """One-step prediction ``D(K E(x))`` of states ``(batch, n)``."""
        return self.decode(self.operator(self.encode(x)))

    @torch.no_grad()
    def predict(self, x0: np.ndarray | torch.Tensor, n_steps: int) -> np.ndarray | torch.Tensor:
        """Forecast ``x̂_k = D(K^k E(x0))`` for ``k = 0..n_steps`` (no gradients).

        Parameters
        ----------
        x0 : ndarray or torch.Tensor of shape (n,) or (batch, n)
            Initial state(s).
        n_steps : int
            Number of steps.

        Returns
        -------
        ndarray or torch.Tensor of shape (n_steps + 1, n) or (batch, n_steps + 1, n)
            Same array type as ``x0`` (numpy in → numpy out), the layout of
            :meth:`koopkit.DMD.predict`; step 0 is ``D(E(x0))``.
        """
        is_numpy = not isinstance(x0, torch.Tensor)
        ref = next(self.parameters())
        x = torch.as_tensor(np.asarray(x0) if is_numpy else x0)
        in_dtype = x.dtype
        x = x.to(device=ref.device, dtype=ref.dtype)
        if x.ndim not in (1, 2):
            raise ValueError(f"x0 must have shape (n,) or (batch, n), got {tuple(x.shape)}")
        if not torch.isfinite(x).all():
            raise ValueError("x0 must be finite (no NaN or Inf)")
        single = x.ndim == 1
        z = self.advance(self.encode(x[None] if single else x), n_steps)
        out = self.decode(z).transpose(0, 1)  # (batch, n_steps + 1, n)
        if single:
            out = out[0]
        if is_numpy:
            return out.cpu().numpy().astype(np.result_type(np.asarray(x0).dtype, np.float32))
        return out.to(device=x0.device, dtype=in_dtype)

    def loss(
        self,
        batch: torch.Tensor,
        horizon: int,
        weights: Mapping[str, float] | None = None,
    ) -> dict[str, torch.Tensor]:
        """Training loss on trajectory windows.

        Every window ``x_t, …, x_{t+h}`` (``h = horizon``) inside each trajectory of the batch is
        used. With mean squared errors over elements:

        - ``reconstruction``: ``x`` vs ``D(E(x))`` over all states of the batch;
        - ``prediction``: ``x_{t+k}`` vs ``D(K^k E(x_t))``, mean over ``k = 1..h``;
        - ``linearity``: ``E(x_{t+k})`` vs ``K^k E(x_t)``, mean over ``k = 1..h``;
        - ``backward`` (only with a backward operator): ``x_{t+h−k}`` vs ``D(C^k E(x_{t+h}))``;
        - ``consistency`` (only with a backward operator): Azencot et al. (2020), Eq. 6, on the
          matrices of ``K`` and ``C`` (biases do not enter); zero without one;
        - ``penalty``: the operators' own :meth:`~koopkit.operators.KoopmanOperator.penalty`;
        - ``total``: the weighted sum.

        Parameters
        ----------
        batch : torch.Tensor of shape (B, T, n)
            ``B`` trajectories of ``T >= horizon + 1`` states.
        horizon : int
            Prediction horizon ``h >= 1`` in steps.
        weights : mapping, optional
            Overrides of :data:`DEFAULT_LOSS_WEIGHTS` (keys ``reconstruction``, ``prediction``,
            ``linearity``, ``backward``, ``consistency``, ``penalty``).

        Returns
        -------
        dict of str to scalar torch.Tensor
            The terms above and ``total``.
        """
        if isinstance(horizon, bool) or int(horizon) != horizon or horizon < 1:
            raise ValueError(f"horizon must be a positive integer, got {horizon!r}")
        h = int(horizon)
        if not isinstance(batch, torch.Tensor) or batch.ndim != 3:
            shape = tuple(batch.shape) if hasattr(batch, "shape") else type(batch)
            raise ValueError(f"batch must be a torch.Tensor of shape (B, T, n), got {shape}")
        if batch.shape[1] < h + 1:
            raise ValueError(
                f"batch must hold at least horizon + 1 = {h + 1} time steps, got {batch.shape[1]}"
            )
        w = dict(DEFAULT_LOSS_WEIGHTS)
        if weights is not None:
            unknown = set(weights) - set(w)
            if unknown:
                raise ValueError(f"unknown loss weights {sorted(unknown)}; expected {sorted(w)}")
            w.update({k: float(v) for k, v in weights.items()})

        z_all = self.encode(batch)  # (B, T, dim)
        terms = {"reconstruction": _mse(self.decode(z_all), batch)}
        # windows of h + 1 consecutive states: (B * (T - h), h + 1, ·)
        x_win = batch.unfold(1, h + 1, 1).permute(0, 1, 3, 2).flatten(0, 1)
        z_win = z_all.unfold(1, h + 1, 1).permute(0, 1, 3, 2).flatten(0, 1)

        z_fwd = self.advance(z_win[:, 0], h)[1:].transpose(0, 1)  # (N, h, dim)
        terms["prediction"] = _mse(self.decode(z_fwd), x_win[:, 1:])
        terms["linearity"] = _mse(z_fwd, z_win[:, 1:])
        penalty = self.operator.penalty()
        if self.backward_operator is not None:
            z_bwd = self.backward_operator.rollout(z_win[:, -1], h)[1:].transpose(0, 1)
            terms["backward"] = _mse(self.decode(z_bwd), x_win[:, :-1].flip(1))
            terms["consistency"] = _consistency(
                self.operator.matrix(), self.backward_operator.matrix()
            )
            penalty = penalty + self.backward_operator.penalty()
        else:
            terms["backward"] = z_all.new_zeros(())
            terms["consistency"] = z_all.new_zeros(())
        terms["penalty"] = penalty
        terms["total"] = sum(w[name] * value for name, value in terms.items())
        return terms
