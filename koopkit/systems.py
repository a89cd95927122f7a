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
    "OrnsteinUhlenbeck",  # noqa: F822 (resolved by the module's __getattr__ below)
    "DoubleWell",  # noqa: F822
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


# The stochastic systems live in their own module (which builds on the classes above) and are
# public here: ``koopkit.systems.OrnsteinUhlenbeck``.
_STOCHASTIC = {"OrnsteinUhlenbeck", "DoubleWell"}


def __getattr__(name: str):
    if name in _STOCHASTIC:
        from koopkit import _stochastic_systems

        return getattr(_stochastic_systems, name)
    raise AttributeError(f"module 'koopkit.systems' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _STOCHASTIC)
