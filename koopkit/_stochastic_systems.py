"""Stochastic systems with known answers: SDEs ``dX = b(X) dt + sigma dW``.

Public as :mod:`koopkit.systems` names (``koopkit.systems.OrnsteinUhlenbeck``,
``koopkit.systems.DoubleWell``); they reuse the state and time-grid checks of
:class:`koopkit.systems.DynamicalSystem`, whose ``vector_field`` is their drift.
"""

from __future__ import annotations

import numpy as np

from koopkit.systems import DynamicalSystem, _check_time_grid

__all__ = ["OrnsteinUhlenbeck", "DoubleWell"]


class OrnsteinUhlenbeck(DynamicalSystem):
    """Ornstein–Uhlenbeck process ``dX = -θ X dt + σ dW`` in ``dim`` independent coordinates.

    An SDE with the Koopman generator ``L f = -θ x·∇f + (σ²/2) Δf``, whose eigenfunctions are
    products of probabilists' Hermite polynomials ``He_k(x_i / s)`` with the stationary standard
    deviation ``s = σ / sqrt(2θ)``, and eigenvalues ``-θ (k_1 + ... + k_dim)`` (Pavliotis 2014,
    *Stochastic Processes and Applications*, Sec. 4.4). Polynomials of degree ``d`` span an
    invariant space of the generator, so gEDMD with the exact drift and diffusion recovers
    ``0, -θ, ..., -d θ`` exactly. Trajectories are sampled from the exact transition density,
    ``X_{t+dt} = e^{-θ dt} X_t + s sqrt(1 - e^{-2θ dt}) ξ`` with ``ξ ~ N(0, I)``, so no
    discretisation error enters the data.

    Parameters
    ----------
    theta : float, default 1.0
        Mean-reversion rate ``θ > 0``.
    sigma : float, default 1.0
        Noise amplitude ``σ > 0``.
    dim : int, default 1
        Number of independent coordinates.
    """

    def __init__(self, theta: float = 1.0, sigma: float = 1.0, dim: int = 1):
        if not (np.isfinite(theta) and theta > 0 and np.isfinite(sigma) and sigma > 0):
            raise ValueError(f"theta and sigma must be positive, got theta={theta}, sigma={sigma}")
        if int(dim) != dim or dim < 1:
            raise ValueError(f"dim must be a positive integer, got {dim!r}")
        self.theta = float(theta)
        self.sigma = float(sigma)
        self.dim = int(dim)
        self.state_names = tuple(f"x{i + 1}" for i in range(self.dim))

    @property
    def stationary_std(self) -> float:
        """Standard deviation ``σ / sqrt(2θ)`` of the stationary distribution."""
        return self.sigma / np.sqrt(2.0 * self.theta)

    def vector_field(self, t, x):
        """The drift ``-θ x`` (the deterministic part), same shape as ``x``."""
        return -self.theta * np.asarray(x)

    def diffusion(self, x) -> np.ndarray:
        """Noise coefficient ``σ I`` at states ``x`` of shape (m, n): shape (m, n, n)."""
        m = np.asarray(x).reshape(-1, self.dim).shape[0]
        return np.broadcast_to(self.sigma * np.eye(self.dim), (m, self.dim, self.dim)).copy()

    def generator_eigenvalues(self, max_degree: int) -> np.ndarray:
        """Generator eigenvalues ``-θ k`` for total degrees ``k = 0 .. max_degree``, shape
        ``(max_degree + 1,)`` (each with the multiplicity of the degree-``k`` monomials)."""
        return -self.theta * np.arange(int(max_degree) + 1, dtype=float)

    def eigenfunction(self, x, degree: int) -> np.ndarray:
        """The 1-D eigenfunction ``He_k(x / s)`` of degree ``k`` (unnormalised), elementwise."""
        from numpy.polynomial import hermite_e

        coef = np.zeros(int(degree) + 1)
        coef[-1] = 1.0
        return hermite_e.hermeval(np.asarray(x) / self.stationary_std, coef)

    def sample_initial_conditions(self, n_traj: int, rng: np.random.Generator) -> np.ndarray:
        """Draws from the stationary distribution ``N(0, s² I)``, shape ``(n_traj, dim)``."""
        return self.stationary_std * rng.standard_normal((n_traj, self.dim))

    def simulate(self, x0, n_steps: int, dt: float, seed: int = 0) -> np.ndarray:
        """One exact sample path on ``t_k = k dt``, shape ``(n_steps + 1, dim)``.

        Parameters
        ----------
        x0 : array-like of shape (dim,)
        n_steps : int
        dt : float
        seed : int, default 0
            Seed of the noise (``numpy.random.default_rng``).
        """
        x0 = self._check_state(x0)
        _check_time_grid(n_steps, dt)
        return self._paths(x0[None], int(n_steps), dt, np.random.default_rng(seed))[0]

    def _paths(self, x0, n_steps, dt, rng):
        decay = np.exp(-self.theta * dt)
        spread = self.stationary_std * np.sqrt(1.0 - decay**2)
        noise = rng.standard_normal((x0.shape[0], n_steps, self.dim))
        out = np.empty((x0.shape[0], n_steps + 1, self.dim))
        out[:, 0] = x0
        for k in range(n_steps):
            out[:, k + 1] = decay * out[:, k] + spread * noise[:, k]
        return out

    def trajectories(self, n_traj, n_steps, dt, seed=0, x0=None):
        """Exact sample paths, shape ``(n_traj, n_steps + 1, dim)``.

        Initial states (stationary draws unless ``x0`` is given) and noise both come from
        ``numpy.random.default_rng(seed)``.
        """
        if int(n_traj) != n_traj or n_traj < 1:
            raise ValueError(f"n_traj must be a positive integer, got {n_traj!r}")
        _check_time_grid(n_steps, dt)
        rng = np.random.default_rng(seed)
        if x0 is None:
            x0 = self.sample_initial_conditions(int(n_traj), rng)
        else:
            x0 = np.asarray(x0, dtype=float)
            if x0.shape != (n_traj, self.dim):
                raise ValueError(f"x0 must have shape ({n_traj}, {self.dim}), got {x0.shape}")
        return self._paths(x0, int(n_steps), dt, rng)


class DoubleWell(DynamicalSystem):
    """Overdamped Langevin dynamics ``dX = -grad V(X) dt + sqrt(2 / beta) dW`` in a double well.

    ``V(x, y) = (x^2 - 1)^2 + kappa y^2 / 2``: two wells at ``x = ±1`` separated by a barrier of
    height 1, and a fast harmonic direction ``y`` (generator eigenvalue ``-kappa``). The slowest
    process is the hopping between the wells, with the generator eigenvalue :meth:`slow_rate`
    (about ``-2 × Kramers' rate`` for a high barrier). Trajectories are integrated by
    Euler–Maruyama with ``n_substeps`` steps per sample (a discretisation error of order
    ``dt / n_substeps``), initial states drawn in either well.

    Parameters
    ----------
    beta : float, default 3.0
        Inverse temperature (barrier height over ``k T``).
    kappa : float, default 5.0
        Stiffness of the fast direction.
    n_substeps : int, default 10
        Euler–Maruyama steps per sampled step.
    """

    dim = 2
    state_names = ("x", "y")

    def __init__(self, beta: float = 3.0, kappa: float = 5.0, n_substeps: int = 10):
        if not (beta > 0 and kappa > 0):
            raise ValueError(f"beta and kappa must be positive, got beta={beta}, kappa={kappa}")
        if int(n_substeps) != n_substeps or n_substeps < 1:
            raise ValueError(f"n_substeps must be a positive integer, got {n_substeps!r}")
        self.beta = float(beta)
        self.kappa = float(kappa)
        self.n_substeps = int(n_substeps)

    def vector_field(self, t, x):
        """The drift ``-grad V``, same shape as ``x``."""
        x = np.asarray(x)
        return np.stack([-4 * x[..., 0] * (x[..., 0] ** 2 - 1), -self.kappa * x[..., 1]], axis=-1)

    def slow_rate(self, n_grid: int = 4000, bound: float = 3.0) -> float:
        """The slowest nonzero generator eigenvalue (the hopping), a negative rate.

        From the square-root approximation of the generator of the ``x`` process on a grid of
        ``n_grid`` cells over ``[-bound, bound]``: neighbour rates ``exp(-beta (V_j - V_i) / 2) /
        (beta h^2)`` (Lie, Fackeldey & Weber 2013, SIAM J. Matrix Anal. Appl. 34(2)), whose
        symmetrised matrix is tridiagonal; it converges to the exact eigenvalue as ``h^2``.
        """
        import scipy.linalg

        x = np.linspace(-bound, bound, int(n_grid))
        h = x[1] - x[0]
        V = (x**2 - 1) ** 2
        up = np.exp(-self.beta * (V[1:] - V[:-1]) / 2) / (self.beta * h**2)  # i -> i + 1
        down = np.exp(-self.beta * (V[:-1] - V[1:]) / 2) / (self.beta * h**2)  # i + 1 -> i
        diagonal = np.zeros(x.size)
        diagonal[:-1] -= up
        diagonal[1:] -= down
        off = np.full(x.size - 1, 1.0 / (self.beta * h**2))
        evals = scipy.linalg.eigvalsh_tridiagonal(
            diagonal, off, select="i", select_range=(x.size - 2, x.size - 1)
        )
        return float(evals[0])

    def sample_initial_conditions(self, n_traj: int, rng: np.random.Generator) -> np.ndarray:
        """States near either well: ``x = ±1 + N(0, 0.1²)``, ``y`` from its stationary law."""
        x = rng.choice([-1.0, 1.0], size=n_traj) + 0.1 * rng.standard_normal(n_traj)
        y = rng.standard_normal(n_traj) / np.sqrt(self.beta * self.kappa)
        return np.stack([x, y], axis=1)

    def simulate(self, x0, n_steps: int, dt: float, seed: int = 0) -> np.ndarray:
        """One sample path on ``t_k = k dt``, shape ``(n_steps + 1, 2)`` (noise from ``seed``)."""
        x0 = self._check_state(x0)
        _check_time_grid(n_steps, dt)
        return self._paths(x0[None], int(n_steps), dt, np.random.default_rng(seed))[0]

    def _paths(self, x0, n_steps, dt, rng):
        h = dt / self.n_substeps
        noise = np.sqrt(2 * h / self.beta)
        out = np.empty((x0.shape[0], n_steps + 1, 2))
        state = x0.copy()
        out[:, 0] = state
        for k in range(n_steps):
            for _ in range(self.n_substeps):
                state = (
                    state
                    + h * self.vector_field(0, state)
                    + noise * rng.standard_normal(state.shape)
                )
            out[:, k + 1] = state
        return out

    def trajectories(self, n_traj, n_steps, dt, seed=0, x0=None):
        """Sample paths, shape ``(n_traj, n_steps + 1, 2)``; initial states (unless ``x0``) and
        noise come from ``numpy.random.default_rng(seed)``."""
        if int(n_traj) != n_traj or n_traj < 1:
            raise ValueError(f"n_traj must be a positive integer, got {n_traj!r}")
        _check_time_grid(n_steps, dt)
        rng = np.random.default_rng(seed)
        if x0 is None:
            x0 = self.sample_initial_conditions(int(n_traj), rng)
        else:
            x0 = np.asarray(x0, dtype=float)
            if x0.shape != (n_traj, 2):
                raise ValueError(f"x0 must have shape ({n_traj}, 2), got {x0.shape}")
        return self._paths(x0, int(n_steps), dt, rng)


for _cls in (OrnsteinUhlenbeck, DoubleWell):
    _cls.__module__ = "koopkit.systems"  # documented and shown under their public module
