"""Paired significance tests over users between two models.

Both models are scored on the same test users, so the per-user metric values
form pairs. With several seeds, each user's value is first averaged over the
seeds of each model, and the test then runs over users. Users are the sample,
so the test does not account for the spread between seeds. The mean ± std
table shows that spread.

Two tests are offered (``scipy.stats``):

- ``wilcoxon``: the Wilcoxon signed-rank test on the per-user differences
  (two-sided, zero differences dropped, normal approximation with tie
  correction for large samples). It does not assume normal differences.
- ``ttest``: the paired t-test, ``t = mean(d) / (std(d, ddof=1) / sqrt(n))``
  with ``n - 1`` degrees of freedom.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

TESTS = ("wilcoxon", "ttest")


@dataclass(frozen=True)
class PairedResult:
    """Outcome of one paired test of ``model_a`` against ``model_b`` on ``metric``."""

    model_a: str
    model_b: str
    metric: str
    test: str
    n_users: int
    mean_a: float
    mean_b: float
    statistic: float
    p_value: float

    @property
    def difference(self) -> float:
        return self.mean_a - self.mean_b

    def significant(self, alpha: float = 0.05) -> bool:
        return self.p_value < alpha

    def to_dict(self) -> dict:
        return {**asdict(self), "difference": self.difference}


def average_over_seeds(runs: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Average per-user values over seeds.

    ``runs`` contains one ``(users, values)`` pair per seed. Returns the sorted
    user ids seen in every seed and each user's mean value.
    """
    if not runs:
        raise ValueError("no per-user values to average: the model has no finished runs")
    common = runs[0][0]
    for users, _ in runs[1:]:
        common = np.intersect1d(common, users)
    common = np.unique(common)
    total = np.zeros(len(common), dtype=np.float64)
    for users, values in runs:
        lookup = dict(zip(users.tolist(), np.asarray(values, dtype=np.float64).tolist()))
        total += np.array([lookup[u] for u in common.tolist()])
    return common, total / len(runs)


def paired_test(
    values_a: np.ndarray, values_b: np.ndarray, test: str = "wilcoxon",
    model_a: str = "a", model_b: str = "b", metric: str = "metric",
) -> PairedResult:
    """Run a two-sided paired test on aligned per-user values of two models."""
    a = np.asarray(values_a, dtype=np.float64)
    b = np.asarray(values_b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"paired values must be two 1-D arrays of equal length, got shapes {a.shape} and {b.shape}")
    if test not in TESTS:
        raise ValueError(f"unknown test {test!r}; valid tests: {', '.join(TESTS)}")
    if len(a) < 2:
        raise ValueError(f"a paired test needs at least 2 users, got {len(a)}")

    differences = a - b
    if not np.any(differences):
        # Identical values: no evidence of a difference, and scipy would warn or fail.
        statistic, p_value = 0.0, 1.0
    elif test == "wilcoxon":
        outcome = stats.wilcoxon(a, b, zero_method="wilcox", alternative="two-sided")
        statistic, p_value = float(outcome.statistic), float(outcome.pvalue)
    else:
        outcome = stats.ttest_rel(a, b, alternative="two-sided")
        statistic, p_value = float(outcome.statistic), float(outcome.pvalue)
    return PairedResult(model_a, model_b, metric, test, len(a), float(a.mean()), float(b.mean()), statistic, p_value)


def describe(result: PairedResult, alpha: float = 0.05) -> str:
    """Return one sentence that states the comparison and whether it is significant."""
    test_name = "Wilcoxon signed-rank test" if result.test == "wilcoxon" else "paired t-test"
    verdict = "significant" if result.significant(alpha) else "not significant"
    return (
        f"{result.model_a} vs {result.model_b} on test {result.metric}: "
        f"{result.mean_a:.4f} vs {result.mean_b:.4f} (difference {result.difference:+.4f}) over "
        f"{result.n_users} users; two-sided {test_name} p = {result.p_value:.3g}, {verdict} at alpha = {alpha}."
    )
