"""Minimal array backend so the linear methods run on numpy arrays and torch tensors alike.

numpy in -> numpy out, torch in -> torch out on the same device. torch is only imported when a
tensor is actually passed, so ``import koopkit`` never imports it. Tensors are detached: the
linear estimators compute no gradients.

Complex data stays complex (``complex_data``); real backends refuse complex arrays with a
``ValueError`` instead of dropping the imaginary part.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def is_torch(x: Any) -> bool:
    """True if ``x`` is a torch tensor (checked without importing torch)."""
    return type(x).__module__.split(".")[0] == "torch" and hasattr(x, "device")


def is_complex(x: Any) -> bool:
    """True if ``x`` (array, tensor, or anything ``np.asarray`` accepts) holds complex numbers."""
    if is_torch(x):
        return bool(x.is_complex())
    dtype = getattr(x, "dtype", None)
    if dtype is None:
        dtype = np.asarray(x).dtype
    return np.dtype(dtype).kind == "c"


def _refuse_complex(x) -> None:
    if is_complex(x):
        raise ValueError(
            "got complex values where real ones are expected (the estimator was set up for "
            "real data); koopkit never drops an imaginary part silently"
        )


class NumpyOps:
    """Linear-algebra operations on numpy arrays."""

    name = "numpy"

    def __init__(self, real_dtype=np.float64, complex_data: bool = False):
        self.real_dtype = np.dtype(real_dtype)
        self.complex_dtype = np.result_type(self.real_dtype, np.complex64)
        self.complex_data = bool(complex_data)
        self.data_dtype = self.complex_dtype if complex_data else self.real_dtype
        self.eps = float(np.finfo(self.real_dtype).eps)
        self.tiny = float(np.finfo(self.real_dtype).tiny)

    def asarray(self, x):
        """``x`` in the data dtype (complex only for complex data; complex into real refused)."""
        if is_torch(x):
            x = x.detach().cpu().numpy()
        if not self.complex_data:
            _refuse_complex(x)
        return np.asarray(x, dtype=self.data_dtype)

    def ascomplex(self, x):
        if is_torch(x):
            x = x.detach().cpu().numpy()
        return np.asarray(x, dtype=self.complex_dtype)

    def from_numpy(self, x):
        return np.asarray(x)

    def to_numpy(self, x):
        return np.asarray(x)

    def all_finite(self, x) -> bool:
        # A sum is NaN/Inf whenever an entry is; one reduction is cheaper than a boolean
        # array. A finite array whose sum overflows gets the exact check.
        with np.errstate(over="ignore", invalid="ignore"):
            if np.isfinite(np.sum(x)):
                return True
        return bool(np.isfinite(x).all())

    def svd(self, x):
        return np.linalg.svd(x, full_matrices=False)

    def eigh(self, x):
        return np.linalg.eigh(x)

    def eigh_top(self, x, k: int):
        """The ``k`` largest eigenpairs of a Hermitian matrix, eigenvalues decreasing."""
        import scipy.linalg

        n = x.shape[0]
        evals, W = scipy.linalg.eigh(x, subset_by_index=[n - k, n - 1], check_finite=False)
        return evals[::-1], W[:, ::-1]

    def eig(self, x):
        return np.linalg.eig(x)

    def qr(self, x):
        return np.linalg.qr(x)[0]

    def solve(self, a, b):
        return np.linalg.solve(a, b)

    def lstsq(self, a, b):
        return np.linalg.lstsq(a, b, rcond=None)[0]

    def normal(self, shape, seed: int):
        return np.random.default_rng(seed).standard_normal(shape).astype(self.real_dtype)

    def eye(self, n, complex_: bool = False):
        return np.eye(n, dtype=self.complex_dtype if complex_ else self.real_dtype)

    def zeros(self, shape, complex_: bool = False):
        return np.zeros(shape, dtype=self.complex_dtype if complex_ else self.real_dtype)

    def concat(self, xs, axis=0):
        return np.concatenate(xs, axis=axis)

    def real(self, x):
        return np.real(x)

    def real_times_complex(self, a, b):
        """``a @ b`` for a real ``a`` and a complex ``b`` without copying ``a`` to complex: one
        real product with ``b``'s real and imaginary columns interleaved, written straight into
        the complex result viewed as reals."""
        out = np.empty((a.shape[0], b.shape[1]), dtype=self.complex_dtype)
        flat = out.view(self.real_dtype)  # (rows, 2 * cols): re, im, re, im, ...
        if a.dtype != flat.dtype:
            out.real, out.imag = a @ b.real, a @ b.imag
            return out
        b2 = np.empty((b.shape[0], 2 * b.shape[1]), dtype=self.real_dtype)
        b2[:, 0::2], b2[:, 1::2] = b.real, b.imag
        np.matmul(a, b2, out=flat)
        return out

    def flip(self, x, axis: int):
        return np.flip(x, axis=axis)

    def sqrt_nonneg(self, x):
        return np.sqrt(np.clip(x, 0, None))

    def exp(self, x):
        return np.exp(x)

    def cos(self, x):
        return np.cos(x)

    def clip_min(self, x, low):
        return np.clip(x, low, None)


class TorchOps:
    """The same operations on torch tensors (torch.linalg, so they run on the tensor's device)."""

    name = "torch"

    def __init__(self, like):
        import torch

        self.torch = torch
        self.device = like.device
        single = (torch.float32, torch.float16, torch.bfloat16, torch.complex64, torch.complex32)
        self.real_dtype = torch.float32 if like.dtype in single else torch.float64
        self.complex_dtype = (
            torch.complex64 if self.real_dtype == torch.float32 else torch.complex128
        )
        self.complex_data = bool(like.is_complex())
        self.data_dtype = self.complex_dtype if self.complex_data else self.real_dtype
        self.eps = float(torch.finfo(self.real_dtype).eps)
        self.tiny = float(torch.finfo(self.real_dtype).tiny)

    def asarray(self, x):
        """``x`` in the data dtype (complex only for complex data; complex into real refused)."""
        torch = self.torch
        if not self.complex_data:
            _refuse_complex(x)
        if is_torch(x):
            return x.detach().to(device=self.device, dtype=self.data_dtype)
        return torch.as_tensor(np.asarray(x), device=self.device).to(self.data_dtype)

    def ascomplex(self, x):
        torch = self.torch
        if is_torch(x):
            return x.detach().to(device=self.device, dtype=self.complex_dtype)
        return torch.as_tensor(np.asarray(x), device=self.device).to(self.complex_dtype)

    def from_numpy(self, x):
        return self.torch.as_tensor(np.asarray(x), device=self.device)

    def to_numpy(self, x):
        return x.detach().cpu().numpy() if is_torch(x) else np.asarray(x)

    def all_finite(self, x) -> bool:
        return bool(self.torch.isfinite(x).all())

    def svd(self, x):
        return self.torch.linalg.svd(x, full_matrices=False)

    def eigh(self, x):
        return self.torch.linalg.eigh(x)

    def eigh_top(self, x, k: int):
        """The ``k`` largest eigenpairs of a Hermitian matrix, eigenvalues decreasing."""
        evals, W = self.torch.linalg.eigh(x)
        return self.torch.flip(evals[-k:], dims=(0,)), self.torch.flip(W[:, -k:], dims=(1,))

    def eig(self, x):
        return self.torch.linalg.eig(x)

    def qr(self, x):
        return self.torch.linalg.qr(x)[0]

    def solve(self, a, b):
        return self.torch.linalg.solve(a, b)

    def lstsq(self, a, b):
        # torch's CUDA lstsq only handles full-rank tall systems; the pseudo-inverse is general.
        return self.torch.linalg.pinv(a) @ b

    def normal(self, shape, seed: int):
        gen = self.torch.Generator(device=self.device)
        gen.manual_seed(int(seed))
        return self.torch.randn(shape, generator=gen, device=self.device, dtype=self.real_dtype)

    def eye(self, n, complex_: bool = False):
        dtype = self.complex_dtype if complex_ else self.real_dtype
        return self.torch.eye(n, dtype=dtype, device=self.device)

    def zeros(self, shape, complex_: bool = False):
        dtype = self.complex_dtype if complex_ else self.real_dtype
        return self.torch.zeros(shape, dtype=dtype, device=self.device)

    def concat(self, xs, axis=0):
        return self.torch.cat(list(xs), dim=axis)

    def real(self, x):
        return x.real if x.is_complex() else x

    def real_times_complex(self, a, b):
        """``a @ b`` for a real ``a`` and a complex ``b``, as two real products."""
        return self.torch.complex(a @ b.real, a @ b.imag)

    def flip(self, x, axis: int):
        return self.torch.flip(x, dims=(axis,))

    def sqrt_nonneg(self, x):
        return self.torch.sqrt(self.torch.clamp(x, min=0))

    def exp(self, x):
        return self.torch.exp(x)

    def cos(self, x):
        return self.torch.cos(x)

    def clip_min(self, x, low):
        return self.torch.clamp(x, min=low)


def ops_for(x) -> NumpyOps | TorchOps:
    """Backend for ``x``: float32 (complex64) input computes in single precision, everything
    else in float64 (complex128); complex input gives a backend for complex data."""
    if is_torch(x):
        return TorchOps(x)
    dtype = getattr(x, "dtype", None)
    if dtype is None and isinstance(x, (list, tuple)) and x and hasattr(x[0], "dtype"):
        dtype = x[0].dtype
    if dtype is None:
        dtype = np.asarray(x).dtype
    dtype = np.dtype(dtype)
    single = dtype in (np.float32, np.float16, np.complex64)
    return NumpyOps(np.float32 if single else np.float64, complex_data=dtype.kind == "c")
