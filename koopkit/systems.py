"""Dynamical systems with known answers, for testing and demonstrating Koopman methods.

Every system is an autonomous ODE ``dx/dt = f(x)`` with state ``x`` of dimension ``n``.
Samples are rows: one trajectory is an array of shape ``(n_steps + 1, n)`` and a batch of
trajectories ``(n_traj, n_steps + 1, n)``, the layout every koopkit estimator takes.

Integration uses :func:`scipy.integrate.solve_ivp` with the 8th-order Dormand–Prince method
(``DOP853``, ``rtol=1e-10``, ``atol=1e-12``), so the data are accurate to far below any noise
level the estimators are tested at. :class:`LinearSystem` is integrated exactly with the matrix
exponential.

Initial conditions drawn by :meth:`DynamicalSystem.trajectories` come from
``numpy.random.default_rng(seed)``: the same ``seed`` always gives the same data.

Two systems are stochastic: :class:`OrnsteinUhlenbeck`, sampled exactly, whose Koopman
generator has known eigenvalues and eigenfunctions, and :class:`DoubleWell`, overdamped
Langevin dynamics with one slow process (the hops between two wells) whose rate is known to
high accuracy from a fine discretisation of its generator.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.integrate
import scipy.linalg

__all__ = [
    "DynamicalSystem",
    "LinearSystem",
    "Pendulum",
    "Duffing",
    "VanDerPol",
    "Lorenz63",
    "SlowManifold",
    "OrnsteinUhlenbeck",
    "DoubleWell",
]

_RTOL = 1e-10
_ATOL = 1e-12


def _check_time_grid(n_steps: int, dt: float) -> None:
    if int(n_steps) != n_steps or n_steps < 1:
        raise ValueError(f"n_steps must be a positive integer, got {n_steps!r}")
    if not np.isfinite(dt) or dt <= 0:
        raise ValueError(f"dt must be a positive finite number, got {dt!r}")


class DynamicalSystem:
    """Base class: an autonomous ODE ``dx/dt = f(x)`` with simulation helpers.

    Subclasses set :attr:`dim` and :attr:`state_names`, implement :meth:`vector_field` and
    :meth:`sample_initial_conditions`, and may override :meth:`simulate` when an exact
    solution exists.
    """

    dim: int = 0
    state_names: tuple[str, ...] = ()

    def vector_field(self, t: float, x: np.ndarray) -> np.ndarray:
        """Right-hand side ``f(x)``.

        Parameters
        ----------
        t : float
            Time (unused: the systems are autonomous; kept for the ``solve_ivp`` signature).
        x : ndarray of shape (n,) or (n_samples, n)
            State(s), one per row.

        Returns
        -------
        ndarray of the same shape as ``x``
            Time derivative(s).
        """
        raise TypeError(f"{type(self).__name__} does not define a vector field")

    def sample_initial_conditions(self, n_traj: int, rng: np.random.Generator) -> np.ndarray:
        """Draw ``n_traj`` initial states, shape ``(n_traj, n)``, from the system's default box."""
        low, high = self._ic_box()
        return rng.uniform(low, high, size=(n_traj, self.dim))

    def _ic_box(self) -> tuple[np.ndarray, np.ndarray]:
        return -np.ones(self.dim), np.ones(self.dim)

    def _check_state(self, x0: np.ndarray) -> np.ndarray:
        x0 = np.asarray(x0, dtype=float)
        if x0.shape != (self.dim,):
            raise ValueError(
                f"x0 must have shape ({self.dim},) for {type(self).__name__}, got {x0.shape}"
            )
        if not np.all(np.isfinite(x0)):
            raise ValueError("x0 must be finite (no NaN or Inf)")
        return x0

    def simulate(self, x0: Sequence[float] | np.ndarray, n_steps: int, dt: float) -> np.ndarray:
        """Integrate one trajectory on the uniform grid ``t_k = k * dt``.

        Parameters
        ----------
        x0 : array-like of shape (n,)
            Initial state.
        n_steps : int
            Number of steps; the trajectory holds ``n_steps + 1`` states including ``x0``.
        dt : float
            Time step between consecutive samples.

        Returns
        -------
        ndarray of shape (n_steps + 1, n)
            States at ``t = 0, dt, ..., n_steps * dt``; row 0 is ``x0``.
        """
        x0 = self._check_state(x0)
        _check_time_grid(n_steps, dt)
        t_eval = dt * np.arange(n_steps + 1)
        sol = scipy.integrate.solve_ivp(
            lambda t, x: self.vector_field(t, x),
            (0.0, t_eval[-1]),
            x0,
            method="DOP853",
            t_eval=t_eval,
            rtol=_RTOL,
            atol=_ATOL,
        )
        if not sol.success or sol.y.shape[1] != n_steps + 1:
            raise RuntimeError(f"integration of {type(self).__name__} failed: {sol.message}")
        out = sol.y.T.copy()
        out[0] = x0
        return out

    def trajectories(
        self,
        n_traj: int,
        n_steps: int,
        dt: float,
        seed: int = 0,
        x0: np.ndarray | None = None,
    ) -> np.ndarray:
        """Integrate a batch of trajectories from reproducible random initial states.

        Parameters
        ----------
        n_traj : int
            Number of trajectories.
        n_steps : int
            Steps per trajectory (each holds ``n_steps + 1`` states).
        dt : float
            Time step.
        seed : int, default 0
            Seed of ``numpy.random.default_rng`` used to draw the initial states from the
            system's default box (see :meth:`sample_initial_conditions`).
        x0 : ndarray of shape (n_traj, n), optional
            Explicit initial states; when given, ``seed`` is not used.

        Returns
        -------
        ndarray of shape (n_traj, n_steps + 1, n)
        """
        if int(n_traj) != n_traj or n_traj < 1:
            raise ValueError(f"n_traj must be a positive integer, got {n_traj!r}")
        _check_time_grid(n_steps, dt)
        if x0 is None:
            x0 = self.sample_initial_conditions(int(n_traj), np.random.default_rng(seed))
        else:
            x0 = np.asarray(x0, dtype=float)
            if x0.shape != (n_traj, self.dim):
                raise ValueError(f"x0 must have shape ({n_traj}, {self.dim}), got {x0.shape}")
        return np.stack([self.simulate(x, n_steps, dt) for x in x0])

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({params})"


class LinearSystem(DynamicalSystem):
    """Linear system ``dx/dt = A x`` (continuous time), solved exactly.

    Trajectories use the exact flow ``x(t + dt) = expm(A dt) x(t)``, so the discrete-time
    Koopman (DMD) eigenvalues of the sampled data are exactly ``exp(eig(A) * dt)``.
    For a discrete-time map ``x_{k+1} = M x_k`` (no underlying ODE), use
    :meth:`from_discrete`, which stores ``A = logm(M) / dt``.

    Parameters
    ----------
    A : array-like of shape (n, n)
        System matrix (real).

    Attributes
    ----------
    eigenvalues : ndarray of shape (n,), complex
        Continuous-time eigenvalues of ``A``.
    """

    def __init__(self, A: np.ndarray):
        A = np.asarray(A, dtype=float)
        if A.ndim != 2 or A.shape[0] != A.shape[1]:
            raise ValueError(f"A must be a square matrix of shape (n, n), got {A.shape}")
        if not np.all(np.isfinite(A)):
            raise ValueError("A must be finite (no NaN or Inf)")
        self.A = A
        self.dim = A.shape[0]
        self.state_names = tuple(f"x{i + 1}" for i in range(self.dim))

    @classmethod
    def from_discrete(cls, M: np.ndarray, dt: float = 1.0) -> LinearSystem:
        """Build the continuous system whose time-``dt`` flow is the matrix ``M``.

        ``A = logm(M) / dt``; ``M`` must have no eigenvalues on the closed negative real axis
        (otherwise no real logarithm exists).
        """
        M = np.asarray(M, dtype=float)
        if M.ndim != 2 or M.shape[0] != M.shape[1]:
            raise ValueError(f"M must be a square matrix of shape (n, n), got {M.shape}")
        ev = np.linalg.eigvals(M)
        if np.any((np.abs(ev.imag) < 1e-12) & (ev.real <= 0)):
            raise ValueError("M has an eigenvalue on the closed negative real axis; no real logm")
        return cls(np.real(scipy.linalg.logm(M)) / dt)

    @property
    def eigenvalues(self) -> np.ndarray:
        return np.linalg.eigvals(self.A)

    def discrete_eigenvalues(self, dt: float) -> np.ndarray:
        """Eigenvalues ``exp(eig(A) dt)`` of the time-``dt`` flow map, shape ``(n,)``."""
        return np.exp(self.eigenvalues * dt)

    def flow_matrix(self, dt: float) -> np.ndarray:
        """Matrix ``expm(A dt)`` of shape ``(n, n)`` mapping ``x(t)`` to ``x(t + dt)``."""
        return scipy.linalg.expm(self.A * dt)

    def vector_field(self, t: float, x: np.ndarray) -> np.ndarray:
        return np.asarray(x) @ self.A.T

    def simulate(self, x0, n_steps: int, dt: float) -> np.ndarray:
        x0 = self._check_state(x0)
        _check_time_grid(n_steps, dt)
        M = self.flow_matrix(dt)
        out = np.empty((n_steps + 1, self.dim))
        out[0] = x0
        for k in range(n_steps):
            out[k + 1] = M @ out[k]
        return out


class Pendulum(DynamicalSystem):
    """Pendulum ``dθ/dt = ω``, ``dω/dt = -(g/L) sin θ - damping ω``; state ``(θ, ω)``.

    Frictionless (``damping=0``) by default, so energy is conserved and the Koopman spectrum
    lies on the imaginary axis (continuous time) / the unit circle (discrete time).

    Parameters
    ----------
    g_over_l : float, default 1.0
        Ratio ``g / L`` (squared small-angle frequency).
    damping : float, default 0.0
        Linear friction coefficient.
    """

    dim = 2
    state_names = ("theta", "omega")

    def __init__(self, g_over_l: float = 1.0, damping: float = 0.0):
        self.g_over_l = float(g_over_l)
        self.damping = float(damping)

    def vector_field(self, t, x):
        x = np.asarray(x)
        theta, omega = x[..., 0], x[..., 1]
        return np.stack([omega, -self.g_over_l * np.sin(theta) - self.damping * omega], axis=-1)

    def energy(self, x: np.ndarray) -> np.ndarray:
        """Energy ``ω²/2 + (g/L)(1 - cos θ)`` of states ``x`` of shape ``(..., 2)``."""
        x = np.asarray(x)
        return 0.5 * x[..., 1] ** 2 + self.g_over_l * (1.0 - np.cos(x[..., 0]))

    def _ic_box(self):
        return np.array([-np.pi / 2, -1.0]), np.array([np.pi / 2, 1.0])


class Duffing(DynamicalSystem):
    """Unforced Duffing oscillator ``dx/dt = v``, ``dv/dt = -δ v - α x - β x³``; state ``(x, v)``.

    The defaults (``α = -1``, ``β = 1``, ``δ = 0.5``) give the double-well oscillator with two
    stable foci at ``x = ±1`` used by Williams, Kevrekidis & Rowley (2015, EDMD, Sec. 4.2).

    Parameters
    ----------
    alpha, beta, delta : float
        Linear stiffness, cubic stiffness and damping.
    """

    dim = 2
    state_names = ("x", "v")

    def __init__(self, alpha: float = -1.0, beta: float = 1.0, delta: float = 0.5):
        self.alpha = float(alpha)
        self.beta = float(beta)
        self.delta = float(delta)

    def vector_field(self, t, x):
        x = np.asarray(x)
        pos, vel = x[..., 0], x[..., 1]
        acc = -self.delta * vel - self.alpha * pos - self.beta * pos**3
        return np.stack([vel, acc], axis=-1)

    def _ic_box(self):
        return np.array([-2.0, -2.0]), np.array([2.0, 2.0])


class VanDerPol(DynamicalSystem):
    """Van der Pol oscillator ``dx/dt = v``, ``dv/dt = μ (1 - x²) v - x``; state ``(x, v)``.

    Has a stable limit cycle for ``mu > 0``.
    """

    dim = 2
    state_names = ("x", "v")

    def __init__(self, mu: float = 1.0):
        self.mu = float(mu)

    def vector_field(self, t, x):
        x = np.asarray(x)
        pos, vel = x[..., 0], x[..., 1]
        return np.stack([vel, self.mu * (1.0 - pos**2) * vel - pos], axis=-1)

    def _ic_box(self):
        return np.array([-3.0, -3.0]), np.array([3.0, 3.0])


class Lorenz63(DynamicalSystem):
    """Lorenz (1963) system ``x' = σ(y - x)``, ``y' = x(ρ - z) - y``, ``z' = xy - βz``.

    Defaults ``σ = 10``, ``ρ = 28``, ``β = 8/3`` give the chaotic attractor; initial states are
    drawn around it.
    """

    dim = 3
    state_names = ("x", "y", "z")

    def __init__(self, sigma: float = 10.0, rho: float = 28.0, beta: float = 8.0 / 3.0):
        self.sigma = float(sigma)
        self.rho = float(rho)
        self.beta = float(beta)

    def vector_field(self, t, x):
        x = np.asarray(x)
        a, b, c = x[..., 0], x[..., 1], x[..., 2]
        return np.stack(
            [self.sigma * (b - a), a * (self.rho - c) - b, a * b - self.beta * c], axis=-1
        )

    def _ic_box(self):
        return np.array([-15.0, -20.0, 5.0]), np.array([15.0, 20.0, 40.0])


class SlowManifold(DynamicalSystem):
    """System ``dx1/dt = μ x1``, ``dx2/dt = λ (x2 - x1²)`` with an exact finite Koopman closure.

    The span of ``{x1, x2, x1²}`` is invariant under the Koopman generator (Brunton, Brunton,
    Proctor & Kutz 2016, PLoS ONE, Eq. 12), with continuous-time eigenvalues ``μ``, ``λ`` and
    ``2μ``. In discrete time with step ``dt`` they are ``exp(μ dt)``, ``exp(λ dt)`` and
    ``exp(2 μ dt)``. The solution is closed-form and used by :meth:`simulate`:
    ``x1(t) = x1 e^{μt}``, ``x2(t) = (x2 - b x1²) e^{λt} + b x1² e^{2μt}`` with
    ``b = λ / (λ - 2μ)``.

    Parameters
    ----------
    mu : float, default -0.05
        Rate of the slow direction.
    lam : float, default -1.0
        Rate of the fast direction. ``lam`` must differ from ``2 * mu``.
    """

    dim = 2
    state_names = ("x1", "x2")

    def __init__(self, mu: float = -0.05, lam: float = -1.0):
        if np.isclose(lam, 2 * mu):
            raise ValueError(f"lam must differ from 2*mu (resonance), got mu={mu}, lam={lam}")
        self.mu = float(mu)
        self.lam = float(lam)

    @property
    def koopman_eigenvalues(self) -> np.ndarray:
        """Continuous-time Koopman eigenvalues ``(μ, λ, 2μ)`` of the invariant span, shape (3,)."""
        return np.array([self.mu, self.lam, 2.0 * self.mu])

    def discrete_koopman_eigenvalues(self, dt: float) -> np.ndarray:
        """Discrete-time eigenvalues ``exp((μ, λ, 2μ) dt)``, shape (3,)."""
        return np.exp(self.koopman_eigenvalues * dt)

    def vector_field(self, t, x):
        x = np.asarray(x)
        x1, x2 = x[..., 0], x[..., 1]
        return np.stack([self.mu * x1, self.lam * (x2 - x1**2)], axis=-1)

    def symbolic(self):
        """Symbolic form of the vector field, for exact (sympy) closure tests.

        Returns
        -------
        symbols : tuple of sympy.Symbol
            ``(x1, x2)``.
        expressions : tuple of sympy.Expr
            ``(μ x1, λ (x2 - x1²))`` with ``μ`` and ``λ`` as exact rationals.
        """
        import sympy

        x1, x2 = sympy.symbols("x1 x2")
        mu = sympy.nsimplify(self.mu)
        lam = sympy.nsimplify(self.lam)
        return (x1, x2), (mu * x1, lam * (x2 - x1**2))

    def simulate(self, x0, n_steps: int, dt: float) -> np.ndarray:
        x0 = self._check_state(x0)
        _check_time_grid(n_steps, dt)
        t = dt * np.arange(n_steps + 1)
        b = self.lam / (self.lam - 2.0 * self.mu)
        x1 = x0[0] * np.exp(self.mu * t)
        x2 = (x0[1] - b * x0[0] ** 2) * np.exp(self.lam * t) + b * x0[0] ** 2 * np.exp(
            2.0 * self.mu * t
        )
        return np.stack([x1, x2], axis=-1)


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
