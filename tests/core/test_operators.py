"""Laws of the learnable Koopman operators (koopkit.operators)."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from scipy.optimize import linear_sum_assignment

from koopkit.operators import (
    ComplexEigendecomposedOperator,
    DenseOperator,
    DiagonalOperator,
    EigendecomposedOperator,
    KoopmanOperator,
    LowRankOperator,
    make_operator,
)

KINDS = ["dense", "lowrank", "diagonal", "eigendecomposed", "complex-eigendecomposed"]
DTYPES = {"float32": torch.float32, "float64": torch.float64}


def build(kind, dim, seed, dtype, bias=True, **kwargs):
    torch.manual_seed(seed)
    if kind == "lowrank":
        kwargs.setdefault("rank", max(1, dim // 2))
    if kind == "dense":
        kwargs.setdefault("init", "random")
    op = make_operator(kind, dim, bias=bias, **kwargs).to(dtype)
    with torch.no_grad():
        if op.bias is not None:
            op.bias.normal_()
        if kind == "eigendecomposed":
            op.P.add_(0.3 * torch.randn_like(op.P))
            op.sync_inverse_()
    return op


def tol(dtype):
    return 1e-4 if dtype == torch.float32 else 1e-10


operator_cases = st.tuples(
    st.sampled_from(KINDS),
    st.integers(1, 9),
    st.integers(0, 2**16),
    st.sampled_from(sorted(DTYPES)),
)


@given(case=operator_cases, steps=st.integers(0, 6), bias=st.booleans())
def test_rollout_equals_repeated_matrix_step(case, steps, bias):
    kind, dim, seed, dtype_name = case
    dtype = DTYPES[dtype_name]
    op = build(kind, dim, seed, dtype, bias=bias)
    z = torch.randn(3, dim, dtype=dtype)
    # K = P Λ P⁻¹ in float32: the two routes differ by rounding amplified by cond(P).
    cond = float(torch.linalg.cond(op.P.detach().double())) if kind == "eigendecomposed" else 1.0
    with torch.no_grad():
        out = op.rollout(z, steps)
        assert out.shape == (steps + 1, 3, dim)
        assert out.dtype == dtype
        k = op.matrix()
        b = op.bias if bias else torch.zeros(dim, dtype=dtype)
        ref = z
        for j in range(steps + 1):
            scale = (1.0 + ref.abs().max().item()) * cond
            assert torch.allclose(out[j], ref, atol=tol(dtype) * scale, rtol=tol(dtype))
            ref = ref @ k.T + b


@given(case=operator_cases)
def test_eigenvalues_match_eigenvalues_of_matrix(case):
    kind, dim, seed, dtype_name = case
    dtype = DTYPES[dtype_name]
    # compare in float64: eig of a float32 matrix is ill-conditioned for near-defective cases
    op = build(kind, dim, seed, dtype).double()
    if kind == "eigendecomposed":
        op.sync_inverse_()  # Q = P^-1 to float64 accuracy
    with torch.no_grad():
        ev = op.eigenvalues().numpy()
        ref = np.linalg.eigvals(op.matrix().numpy())
    assert ev.shape == (dim,)
    assert np.iscomplexobj(ev)
    # match as multisets: every eigenvalue of one has a partner in the other
    dist = np.abs(ev[:, None] - ref[None, :])
    rows, cols = linear_sum_assignment(dist)
    assert dist[rows, cols].max() < 1e-5


@given(case=operator_cases)
def test_eigenvalues_sorted_by_decreasing_modulus(case):
    kind, dim, seed, dtype_name = case
    op = build(kind, dim, seed, DTYPES[dtype_name])
    mod = op.eigenvalues().abs().detach().numpy()
    assert np.all(np.diff(mod) <= 1e-5)


extreme_floats = st.one_of(
    st.floats(allow_nan=False, allow_infinity=True, width=32),
    st.sampled_from([-1e30, -200.0, -104.0, -30.0, -17.0, 0.0, 88.0, 1e30]),
)


@given(
    kind=st.sampled_from(["diagonal", "eigendecomposed"]),
    dim=st.integers(1, 8),
    dtype_name=st.sampled_from(sorted(DTYPES)),
    data=st.data(),
)
def test_stable_spectrum_inside_unit_disc_for_any_raw_parameters(kind, dim, dtype_name, data):
    dtype = DTYPES[dtype_name]
    op = make_operator(kind, dim, stable=True).to(dtype)
    spec = op if kind == "diagonal" else op.spectrum
    n = spec.nu.numel()
    nu = data.draw(st.lists(extreme_floats, min_size=n, max_size=n))
    theta = data.draw(
        st.lists(st.floats(-1e6, 1e6, allow_nan=False, width=32), min_size=n, max_size=n)
    )
    with torch.no_grad():
        spec.nu.copy_(torch.tensor(nu, dtype=dtype))
        spec.theta.copy_(torch.tensor(theta, dtype=dtype))
    mod = op.eigenvalues().abs()
    assert torch.all(mod < 1.0)
    assert torch.all(torch.linalg.eigvals(spec.matrix().double()).abs() < 1.0)


@given(case=operator_cases)
def test_gradients_reach_every_parameter(case):
    kind, dim, seed, dtype_name = case
    if kind == "complex-eigendecomposed":
        dim = max(dim, 2)  # a one-entry row of P normalises to ±1, which has no gradient
    dtype = DTYPES[dtype_name]
    op = build(kind, dim, seed, dtype)
    z = torch.randn(4, dim, dtype=dtype)
    loss = op.rollout(z, 3).pow(2).sum() + op.eigenvalues().abs().sum() + op.penalty()
    if kind == "eigendecomposed":
        loss = loss + op.inverse_penalty() + 0.1 * op.Q.sum()
    loss.backward()
    for name, p in op.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_diagonal_forward_is_blockwise_and_matches_matrix():
    torch.manual_seed(0)
    op = DiagonalOperator(7, phase_range=(0.1, 3.0))
    z = torch.randn(5, 7)
    assert torch.allclose(op(z), z @ op.matrix().T, atol=1e-6)
    # each 2x2 block acts on its own pair of coordinates only
    k = op.matrix().detach()
    off = k.clone()
    for j in range(3):
        off[2 * j : 2 * j + 2, 2 * j : 2 * j + 2] = 0
    off[6, 6] = 0
    assert torch.count_nonzero(off) == 0


def test_diagonal_initial_spectrum_follows_ranges():
    torch.manual_seed(0)
    op = DiagonalOperator(10, modulus_range=(0.9, 0.95), phase_range=(0.2, 0.4))
    ev = op.eigenvalues().detach()
    assert torch.all((ev.abs() >= 0.9 - 1e-6) & (ev.abs() <= 0.95 + 1e-6))
    assert torch.all((ev.angle().abs() >= 0.2 - 1e-6) & (ev.angle().abs() <= 0.4 + 1e-6))


def test_unstable_diagonal_can_grow():
    op = DiagonalOperator(2, stable=False, modulus_range=(1.5, 1.5))
    assert torch.allclose(op.eigenvalues().abs(), torch.full((2,), 1.5))


def test_dense_inits():
    torch.manual_seed(0)
    assert torch.equal(DenseOperator(4).matrix(), torch.eye(4))
    q = DenseOperator(4, init="orthogonal", init_scale=2.0).matrix().detach()
    assert torch.allclose(q @ q.T, 4 * torch.eye(4), atol=1e-5)
    linear = DenseOperator(100, bias=True, init="linear")  # torch.nn.Linear's default
    for p in (linear.weight, linear.bias):
        assert p.abs().max() <= 0.1 and p.abs().max() > 0.09 and p.std() > 0.05
    with pytest.raises(ValueError, match="init must be one of"):
        DenseOperator(4, init="zeros")


def test_lowrank_structure():
    torch.manual_seed(0)
    op = LowRankOperator(6, rank=2, residual=False)
    assert torch.linalg.matrix_rank(op.matrix().detach()) == 2
    ev = op.eigenvalues().detach()
    assert torch.allclose(ev.abs(), torch.tensor([1.0, 1.0, 0, 0, 0, 0]), atol=1e-5)
    with pytest.raises(ValueError, match="rank must satisfy"):
        LowRankOperator(3, rank=4)


def test_eigendecomposed_penalty_is_the_inverse_gap():
    torch.manual_seed(0)
    op = EigendecomposedOperator(4, inverse_weight=2.0)
    op.sync_inverse_()
    assert op.inverse_penalty().item() < 1e-8
    with torch.no_grad():
        op.Q.add_(0.1)
    gap = op.inverse_penalty()
    assert gap.item() > 1e-3
    assert torch.allclose(op.penalty(), 2.0 * gap)
    eye = torch.eye(4)
    mean_gap = ((op.Q @ op.P - eye) ** 2).mean() + ((op.P @ op.Q - eye) ** 2).mean()
    assert torch.allclose(gap, mean_gap)  # a mean over the entries, not a sum


@pytest.mark.parametrize("kind", ["eigendecomposed", "complex-eigendecomposed"])
def test_eigenvalue_targets_add_the_mean_distance_and_vanish_at_the_targets(kind):
    torch.manual_seed(0)
    dim = 6
    n = dim // 2 if kind == "eigendecomposed" else dim
    targets = torch.rand(n, 2) * 2 - 1
    op = make_operator(kind, dim, eigenvalue_targets=targets, target_weight=3.0, inverse_weight=0)
    if kind == "eigendecomposed":
        a, b = op.spectrum._block_entries()
        lam = torch.complex(a, b)
    else:
        lam = op.spectrum_values()
    expected = (lam - torch.complex(targets[:, 0], targets[:, 1])).abs().mean()
    assert torch.allclose(op.target_penalty(), expected)
    assert torch.allclose(op.penalty(), 3.0 * expected)
    assert "eigenvalue_targets" in op.state_dict()  # they travel with checkpoints
    with torch.no_grad():
        op.eigenvalue_targets.copy_(torch.stack([lam.real, lam.imag], 1))
    assert op.target_penalty().item() < 1e-6
    with pytest.raises(ValueError, match=rf"shape \({n}, 2\)"):
        make_operator(kind, dim, eigenvalue_targets=torch.zeros(n + 1, 2))


def test_complex_eigendecomposed_is_the_real_part_of_the_authors_block_form():
    """Berman et al.'s code: [z, 0] through real 2d×2d block forms of Q, Λ, P; first half kept."""
    torch.manual_seed(0)
    d = 5
    op = ComplexEigendecomposedOperator(d)

    def block(re, im):
        return torch.cat([torch.cat([re, -im], 1), torch.cat([im, re], 1)])

    p, q = block(*op.basis()), block(op.Q_re, op.Q_im)
    lam = block(*(torch.diag(x) for x in op._spectrum_parts()))
    z = torch.randn(7, d)
    lifted = torch.cat([z, torch.zeros_like(z)], 1)
    assert torch.allclose(op(z), (lifted @ q.T @ lam.T @ p.T)[:, :d], atol=1e-5)
    assert torch.allclose(op(z), z @ op.matrix().T, atol=1e-5)
    eye = torch.eye(2 * d)
    mse = torch.nn.functional.mse_loss
    assert torch.allclose(op.inverse_penalty(), mse(q @ p, eye) + mse(p @ q, eye))
    assert op.inverse_penalty() > 0.1  # Q starts as a Gaussian, far from P⁻¹
    assert op.sync_inverse_().inverse_penalty() < 1e-8
    assert torch.all(op.spectrum_values().abs() < 1)
    assert sum(t.numel() for t in op.parameters()) == 4 * d * d + 2 * d


@pytest.mark.parametrize("kind", ["dense", "lowrank", "diagonal"])
def test_penalty_is_zero_scalar(kind):
    op = make_operator(kind, 4, **({"rank": 2} if kind == "lowrank" else {}))
    p = op.penalty()
    assert p.shape == () and p.item() == 0.0


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="unknown operator kind"):
        make_operator("koopman", 3)
    with pytest.raises(ValueError, match="dim must be a positive integer"):
        DenseOperator(0)
    with pytest.raises(ValueError, match="modulus_range"):
        DiagonalOperator(4, stable=True, modulus_range=(0.5, 1.0))
    op = DenseOperator(3)
    with pytest.raises(ValueError, match=r"shape \(batch, 3\)"):
        op(torch.zeros(2, 4))
    with pytest.raises(ValueError, match="steps must be a non-negative integer"):
        op.rollout(torch.zeros(2, 3), -1)


def test_all_kinds_are_koopman_operators():
    for kind in KINDS:
        op = make_operator(kind, 4, **({"rank": 2} if kind == "lowrank" else {}))
        assert isinstance(op, KoopmanOperator)
        assert op(torch.zeros(2, 4)).shape == (2, 4)
        assert not math.isnan(op.penalty().item())
