"""Memory budget for the dense blocks that scoring and evaluation allocate.

Full-ranking evaluation builds dense ``[batch, n_items]`` blocks, so its memory
grows with the batch size times the number of items. A :class:`MemoryBudget`
caps one such allocation: :meth:`MemoryBudget.batch_size_for` shrinks a user
batch until it fits, and :meth:`MemoryBudget.check` raises
:class:`graphrec.errors.ResourceError` for a request that cannot fit at all.

Sizes in messages are in MB, where 1 MB is 2**20 bytes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch

from graphrec.errors import ResourceError

BYTES_PER_MB = 2**20

# NOTE: 2048 MB is a conservative guess, not measured on every machine. Raise it
# where the device running evaluation has more free memory.
DEFAULT_MEMORY_BUDGET_MB = 2048

BUDGET_ADVICE = "To change the budget, set protocol.memory_budget_mb in the config or pass --memory-budget-mb."


def _format_size(nbytes: int) -> str:
    return f"{nbytes / BYTES_PER_MB:,.1f} MB ({nbytes:,} bytes)"


def _require_positive_int(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def dense_matrix_bytes(n_rows: int, n_cols: int, dtype: npt.DTypeLike | torch.dtype) -> int:
    """Return the size in bytes of a dense ``[n_rows, n_cols]`` array of ``dtype``.

    ``dtype`` is a numpy dtype (or anything ``np.dtype`` accepts) or a torch dtype.
    The product is computed with Python ints, so it does not overflow.
    """
    if isinstance(n_rows, bool) or not isinstance(n_rows, (int, np.integer)) or n_rows < 0:
        raise ValueError(f"n_rows must be a non-negative int, got {n_rows!r}")
    if isinstance(n_cols, bool) or not isinstance(n_cols, (int, np.integer)) or n_cols < 0:
        raise ValueError(f"n_cols must be a non-negative int, got {n_cols!r}")

    if isinstance(dtype, torch.dtype):
        itemsize = dtype.itemsize
    else:
        itemsize = np.dtype(dtype).itemsize
    return int(n_rows) * int(n_cols) * int(itemsize)


@dataclass(frozen=True)
class MemoryBudget:
    """Maximum number of bytes that one scoring or evaluation step may allocate."""

    max_bytes: int

    def __post_init__(self) -> None:
        _require_positive_int("max_bytes", self.max_bytes)

    @classmethod
    def from_mb(cls, megabytes: float) -> MemoryBudget:
        """Create a budget of ``megabytes`` MB (1 MB = 2**20 bytes), rounded down to whole bytes."""
        if isinstance(megabytes, bool) or not isinstance(megabytes, (int, float, np.integer, np.floating)):
            raise ValueError(f"memory budget must be a number of MB, got {megabytes!r}")
        if not math.isfinite(megabytes) or megabytes <= 0:
            raise ValueError(f"memory budget must be a positive, finite number of MB, got {megabytes!r}")

        max_bytes = int(megabytes * BYTES_PER_MB)
        if max_bytes < 1:
            raise ValueError(f"memory budget of {megabytes!r} MB is less than one byte")
        return cls(max_bytes)

    @property
    def megabytes(self) -> float:
        """The budget in MB (1 MB = 2**20 bytes)."""
        return self.max_bytes / BYTES_PER_MB

    def check(self, nbytes: int, what: str) -> None:
        """Raise ResourceError if allocating ``nbytes`` for ``what`` would exceed the budget."""
        if isinstance(nbytes, bool) or not isinstance(nbytes, (int, np.integer)) or nbytes < 0:
            raise ValueError(f"nbytes must be a non-negative int, got {nbytes!r}")

        if nbytes > self.max_bytes:
            raise ResourceError(
                f"{what} would allocate {_format_size(int(nbytes))}, "
                f"more than the memory budget of {_format_size(self.max_bytes)}. {BUDGET_ADVICE}"
            )

    def batch_size_for(self, bytes_per_row: int, requested: int, what: str = "one user row") -> int:
        """Return the largest batch size, at most ``requested``, whose rows fit in the budget.

        The result is ``min(requested, max_bytes // bytes_per_row)``. Raises
        ResourceError, naming ``what``, when even one row of ``bytes_per_row``
        bytes exceeds the budget.
        """
        bytes_per_row = _require_positive_int("bytes_per_row", bytes_per_row)
        requested = _require_positive_int("requested", requested)

        self.check(bytes_per_row, what)
        return min(requested, self.max_bytes // bytes_per_row)


DEFAULT_MEMORY_BUDGET = MemoryBudget.from_mb(DEFAULT_MEMORY_BUDGET_MB)

__all__ = [
    "BUDGET_ADVICE",
    "BYTES_PER_MB",
    "DEFAULT_MEMORY_BUDGET",
    "DEFAULT_MEMORY_BUDGET_MB",
    "MemoryBudget",
    "dense_matrix_bytes",
]
