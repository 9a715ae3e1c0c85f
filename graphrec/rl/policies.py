"""Contextual-bandit policies that re-rank a user's candidate items.

At every event a policy receives the context matrix ``X`` of the candidates,
``[n_candidates, d]``, with the candidates in the base model's rank order. It
returns the row index of the one item it shows, and learns from the reward of
that item. Ties go to the lower index, so to the base model's higher-ranked
item.

The linear policies share one ridge-regression reward model for all items,
with a prior mean ``theta_0 = prior_weight * score_direction`` (zero unless
``prior_weight`` is set)::

    A = ridge * I + sum_t x_t x_t^T
    b = ridge * theta_0 + sum_t r_t x_t
    theta = A^-1 b

- ``linucb``: LinUCB (Li, Chu, Langford and Schapire, "A contextual-bandit
  approach to personalized news article recommendation", WWW 2010), with one
  parameter vector shared by all items: pick
  ``argmax_i x_i^T theta + alpha * sqrt(x_i^T A^-1 x_i)``.
- ``thompson``: linear Thompson sampling (Agrawal and Goyal, "Thompson
  sampling for contextual bandits with linear payoffs", ICML 2013): draw
  ``theta~ ~ N(theta, v^2 A^-1)`` and pick ``argmax_i x_i^T theta~``.
- ``epsilon-greedy``: with probability ``epsilon`` a candidate drawn
  uniformly, otherwise ``argmax_i x_i^T theta``.
- ``greedy``: always the base model's top-ranked candidate (row 0); it never
  learns and is the reference the others are compared with.

With ``prior_weight > 0`` and a ``score_direction`` for which ``x^T
score_direction`` is the base model's score, the linear policies start from
the base model's ranking instead of from ``theta = 0``.
"""

from __future__ import annotations

import inspect
import io
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import scipy.linalg
import torch

from graphrec.errors import ConfigError
from graphrec.io import atomic_write_bytes
from graphrec.train.checkpoint import CheckpointError

CHECKPOINT_FORMAT = 1


class Policy:
    """A policy that picks one candidate per event and may learn from its reward.

    Args:
        dim: context dimension ``d``.
        score_direction: vector ``w`` with ``x^T w`` equal to the base model's
            (scaled) score of the candidate, or None.
        seed: seed of the policy's own random generator (an int or a list of
            ints, as :func:`numpy.random.default_rng` takes).
    """

    name: ClassVar[str] = "policy"

    def __init__(self, dim: int, score_direction: np.ndarray | None = None, seed: int | list[int] = 0):
        if dim < 1:
            raise ValueError(f"context dimension must be at least 1, got {dim}")
        self.dim = dim
        self.score_direction = None if score_direction is None else np.asarray(score_direction, dtype=np.float64)
        if self.score_direction is not None and self.score_direction.shape != (dim,):
            raise ValueError(f"score_direction has shape {self.score_direction.shape}, expected ({dim},)")
        self.rng = np.random.default_rng(seed)

    def select(self, contexts: np.ndarray) -> int:
        """Return the row of ``contexts`` (candidates in base rank order) to show."""
        raise NotImplementedError

    def update(self, context: np.ndarray, reward: float) -> None:
        """Learn from the ``reward`` of the shown candidate with ``context``."""

    def hyperparameters(self) -> dict[str, float]:
        return {}

    def state_dict(self) -> dict[str, Any]:
        """Return everything needed to continue: learned matrices and the random state."""
        return {"rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rng.bit_generator.state = state["rng"]


class Greedy(Policy):
    """Show the base model's top-ranked candidate; never learn."""

    name = "greedy"

    def select(self, contexts: np.ndarray) -> int:
        return 0


class LinearPolicy(Policy):
    """Ridge-regression reward model shared by LinUCB, Thompson sampling and epsilon-greedy.

    Args:
        ridge: prior precision ``lambda`` (the weight of the prior mean).
        prior_weight: scale of the prior mean along ``score_direction``;
            0 gives the usual prior ``theta_0 = 0``.
    """

    def __init__(
        self,
        dim: int,
        score_direction: np.ndarray | None = None,
        seed: int | list[int] = 0,
        *,
        ridge: float = 1.0,
        prior_weight: float = 0.0,
    ):
        super().__init__(dim, score_direction, seed)
        if not ridge > 0:
            raise ConfigError(f"ridge must be positive, got {ridge}")
        if prior_weight != 0 and self.score_direction is None:
            raise ConfigError("prior_weight needs a score_direction from the context builder; set prior_weight to 0")
        self.ridge = float(ridge)
        self.prior_weight = float(prior_weight)
        prior_mean = np.zeros(dim) if self.score_direction is None else self.prior_weight * self.score_direction
        self.A = self.ridge * np.eye(dim)
        self.b = self.ridge * prior_mean

    def _factor(self) -> np.ndarray:
        """Return the lower Cholesky factor ``L`` of ``A = L L^T``."""
        return scipy.linalg.cholesky(self.A, lower=True)

    def theta(self) -> np.ndarray:
        """Return the ridge estimate ``A^-1 b``."""
        return scipy.linalg.cho_solve((self._factor(), True), self.b)

    def update(self, context: np.ndarray, reward: float) -> None:
        x = np.asarray(context, dtype=np.float64)
        self.A += np.outer(x, x)
        self.b += float(reward) * x

    def hyperparameters(self) -> dict[str, float]:
        return {"ridge": self.ridge, "prior_weight": self.prior_weight}

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "A": torch.from_numpy(self.A.copy()), "b": torch.from_numpy(self.b.copy())}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.A = state["A"].numpy().astype(np.float64)
        self.b = state["b"].numpy().astype(np.float64)


class LinUCB(LinearPolicy):
    """LinUCB with a shared parameter vector: optimism of ``alpha`` standard deviations.

    Args:
        alpha: width of the confidence bonus ``alpha * sqrt(x^T A^-1 x)``.
    """

    name = "linucb"

    def __init__(
        self,
        dim: int,
        score_direction: np.ndarray | None = None,
        seed: int | list[int] = 0,
        *,
        alpha: float = 1.0,
        ridge: float = 1.0,
        prior_weight: float = 0.0,
    ):
        super().__init__(dim, score_direction, seed, ridge=ridge, prior_weight=prior_weight)
        if alpha < 0:
            raise ConfigError(f"alpha must be non-negative, got {alpha}")
        self.alpha = float(alpha)

    def scores(self, contexts: np.ndarray) -> np.ndarray:
        """Return the upper confidence bounds ``x_i^T theta + alpha * sqrt(x_i^T A^-1 x_i)``."""
        X = np.asarray(contexts, dtype=np.float64)
        factor = self._factor()
        theta = scipy.linalg.cho_solve((factor, True), self.b)

        # x^T A^-1 x = |L^-1 x|^2 with A = L L^T.
        whitened = scipy.linalg.solve_triangular(factor, X.T, lower=True)
        widths = np.sqrt((whitened**2).sum(axis=0))
        return X @ theta + self.alpha * widths

    def select(self, contexts: np.ndarray) -> int:
        return int(np.argmax(self.scores(contexts)))

    def hyperparameters(self) -> dict[str, float]:
        return {"alpha": self.alpha, **super().hyperparameters()}


class LinearThompson(LinearPolicy):
    """Linear Thompson sampling: act greedily on one draw from the Gaussian posterior.

    Args:
        v: scale of the posterior draw, ``theta~ ~ N(theta, v^2 A^-1)``.
    """

    name = "thompson"

    def __init__(
        self,
        dim: int,
        score_direction: np.ndarray | None = None,
        seed: int | list[int] = 0,
        *,
        v: float = 0.1,
        ridge: float = 1.0,
        prior_weight: float = 0.0,
    ):
        super().__init__(dim, score_direction, seed, ridge=ridge, prior_weight=prior_weight)
        if v < 0:
            raise ConfigError(f"v must be non-negative, got {v}")
        self.v = float(v)

    def sample_theta(self) -> np.ndarray:
        """Draw ``theta~ = theta + v L^-T z`` with ``z ~ N(0, I)``, whose covariance is ``v^2 A^-1``."""
        factor = self._factor()
        theta = scipy.linalg.cho_solve((factor, True), self.b)
        noise = self.rng.standard_normal(self.dim)
        return theta + self.v * scipy.linalg.solve_triangular(factor.T, noise, lower=False)

    def select(self, contexts: np.ndarray) -> int:
        X = np.asarray(contexts, dtype=np.float64)
        return int(np.argmax(X @ self.sample_theta()))

    def hyperparameters(self) -> dict[str, float]:
        return {"v": self.v, **super().hyperparameters()}


class EpsilonGreedy(LinearPolicy):
    """Explore a uniformly drawn candidate with probability ``epsilon``, else exploit the ridge estimate.

    Args:
        epsilon: probability of showing a uniformly drawn candidate.
    """

    name = "epsilon-greedy"

    def __init__(
        self,
        dim: int,
        score_direction: np.ndarray | None = None,
        seed: int | list[int] = 0,
        *,
        epsilon: float = 0.1,
        ridge: float = 1.0,
        prior_weight: float = 0.0,
    ):
        super().__init__(dim, score_direction, seed, ridge=ridge, prior_weight=prior_weight)
        if not 0.0 <= epsilon <= 1.0:
            raise ConfigError(f"epsilon must be in [0, 1], got {epsilon}")
        self.epsilon = float(epsilon)

    def select(self, contexts: np.ndarray) -> int:
        X = np.asarray(contexts, dtype=np.float64)
        # Both draws happen at every event, so the random stream does not depend on the branch taken.
        explore = self.rng.random() < self.epsilon
        uniform_pick = int(self.rng.integers(len(X)))
        if explore:
            return uniform_pick
        return int(np.argmax(X @ self.theta()))

    def hyperparameters(self) -> dict[str, float]:
        return {"epsilon": self.epsilon, **super().hyperparameters()}


POLICIES: dict[str, type[Policy]] = {
    cls.name: cls for cls in (Greedy, LinUCB, LinearThompson, EpsilonGreedy)
}


def get_policy_class(name: str) -> type[Policy]:
    if name not in POLICIES:
        raise ConfigError(f"unknown policy {name!r}; valid policies: {', '.join(POLICIES)}")
    return POLICIES[name]


def policy_hyperparameters(cls: type[Policy]) -> dict[str, inspect.Parameter]:
    """Return the keyword-only constructor parameters of a policy class (what a config may set)."""
    signature = inspect.signature(cls.__init__)
    return {name: p for name, p in signature.parameters.items() if p.kind is inspect.Parameter.KEYWORD_ONLY}


def build_policy(
    name: str, params: dict[str, Any], dim: int, score_direction: np.ndarray | None = None, seed: int | list[int] = 0
) -> Policy:
    """Instantiate a registered policy; ``params`` must already be validated."""
    return get_policy_class(name)(dim, score_direction, seed, **params)


def save_policy(policy: Policy, path: str | Path) -> None:
    """Write the policy's state with ``torch.save``, atomically (temporary file, then rename)."""
    payload = {
        "format": CHECKPOINT_FORMAT,
        "policy": policy.name,
        "dim": policy.dim,
        "hyperparameters": policy.hyperparameters(),
        "state": policy.state_dict(),
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def load_policy(policy: Policy, path: str | Path) -> Policy:
    """Load a checkpoint written by :func:`save_policy` into ``policy`` and return it.

    The checkpoint must come from the same policy type, context dimension and
    hyper-parameters, otherwise :class:`CheckpointError` is raised.
    """
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"policy checkpoint not found: {path}") from None
    except Exception as err:  # torch raises several types for corrupt or unsafe files
        raise CheckpointError(f"cannot read policy checkpoint {path}: {err}") from None

    if payload.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"policy checkpoint {path} has format {payload.get('format')!r}, expected {CHECKPOINT_FORMAT}")
    expected = {"policy": policy.name, "dim": policy.dim, "hyperparameters": policy.hyperparameters()}
    for key, value in expected.items():
        if payload.get(key) != value:
            raise CheckpointError(
                f"policy checkpoint {path} has {key} {payload.get(key)!r}, but this policy has {value!r}; "
                "load it into a policy built with the same config"
            )
    policy.load_state_dict(payload["state"])
    return policy
