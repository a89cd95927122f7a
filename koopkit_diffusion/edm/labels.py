"""The one class-label helper of the package: integer classes or a weight matrix → one-hot.

Every network and wrapper that takes labels (EDM's preconditioning, the UNet and MLP nets, the KDM
encoders, decoder and control term) goes through :func:`one_hot`.
"""

from __future__ import annotations

import torch

__all__ = ["one_hot"]

_MISSING = ("error", "zeros", "none")


def one_hot(
    labels: torch.Tensor | None,
    label_dim: int,
    batch: int,
    ref: torch.Tensor | None = None,
    missing: str = "error",
) -> torch.Tensor | None:
    """Class labels as a float ``(batch, label_dim)`` matrix (``None``: unconditional model).

    Parameters
    ----------
    labels : Tensor of shape (batch,) or (batch, label_dim), or None
        Integer classes in ``[0, label_dim)`` (whole-valued floats are accepted), or a float
        matrix (one-hot or class weights), which is kept as it is.
    label_dim : int
        Number of classes; ``0`` for an unconditional model (then ``labels`` must be ``None``).
    batch : int
        Expected batch size.
    ref : Tensor, optional
        The result takes its device and floating dtype (default: float32 on ``labels``' device).
    missing : {"error", "zeros", "none"}, default "error"
        What a conditional model does without labels: raise, use the all-zero label vector (EDM's
        unconditional embedding), or return ``None`` (the network skips its label embedding).

    Returns
    -------
    Tensor of shape (batch, label_dim) or None

    Raises
    ------
    ValueError
        Labels given to an unconditional model, labels missing with ``missing="error"``, a shape
        that is neither ``(batch,)`` nor ``(batch, label_dim)``, or a class outside
        ``[0, label_dim)``.
    """
    if missing not in _MISSING:
        raise ValueError(f"missing must be one of {_MISSING}, got {missing!r}")
    if label_dim == 0:
        if labels is not None:
            raise ValueError("labels were given to an unconditional model (label_dim=0)")
        return None
    device = ref.device if ref is not None else (labels.device if labels is not None else None)
    dtype = ref.dtype if ref is not None and ref.is_floating_point() else torch.float32
    if labels is None:
        if missing == "error":
            raise ValueError(
                f"a conditional model (label_dim={label_dim}) needs labels of shape ({batch},)"
            )
        if missing == "none":
            return None
        return torch.zeros(batch, label_dim, device=device, dtype=dtype)
    labels = torch.as_tensor(labels)
    if labels.shape == (batch, label_dim) and labels.is_floating_point():
        return labels.to(device=device, dtype=dtype)
    if labels.shape != (batch,):
        raise ValueError(
            f"labels must be integer classes of shape ({batch},) or a float matrix of shape "
            f"({batch}, {label_dim}), got {tuple(labels.shape)} ({labels.dtype})"
        )
    if labels.is_floating_point() and not torch.equal(labels, labels.round()):
        raise ValueError("labels of shape (batch,) must be whole class indices")
    labels = labels.to(device=device).long()
    if labels.numel() and (labels.min() < 0 or labels.max() >= label_dim):
        raise ValueError(
            f"class labels must lie in [0, {label_dim}), got [{int(labels.min())}, "
            f"{int(labels.max())}]"
        )
    return torch.nn.functional.one_hot(labels, label_dim).to(dtype)
