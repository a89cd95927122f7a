"""The Koopman Distillation Model wing (Berman, Naiman, Eliasof, Zisling, Azencot 2025).

* :class:`KDMConfig` — the typed configuration (networks, operator, latent noise, losses);
* :class:`KDM` — ``x0 = D(K(E_T(σmax·ε)))``: encode the noise, advance it with one linear
  Koopman operator (plus a control term ``B·y`` when conditional), decode;
* :class:`KDBaseline` — the knowledge-distillation baseline (Luhman & Luhman 2021) with the same
  sampling path; :data:`STUDENTS` — the students by run kind;
* :mod:`~koopkit_diffusion.kdm.networks` — encoder, decoder and operator builders;
* :mod:`~koopkit_diffusion.kdm.losses`, :mod:`~koopkit_diffusion.kdm.lpips`,
  :mod:`~koopkit_diffusion.kdm.discriminators` — reconstruction losses and the adversary.
"""

from .base import OneStepGenerator, OneStepSampling
from .baseline import KDBaseline
from .config import KDMConfig
from .model import KDM

#: The one-step students by run kind: ``train --model KIND`` builds ``STUDENTS[KIND](config)``.
STUDENTS: dict[str, type[OneStepGenerator]] = {"kdm": KDM, "kd": KDBaseline}

__all__ = ["KDM", "STUDENTS", "KDBaseline", "KDMConfig", "OneStepGenerator", "OneStepSampling"]
