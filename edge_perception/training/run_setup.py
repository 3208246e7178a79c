"""What every training run shares: torch's threads and seed, the learning-rate schedule, and how
the run is described in its metrics file.

Import this before torch: it sets how torch's OpenMP threads wait.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
import math
import os
from pathlib import Path

# OpenMP threads that wait actively spin while a sibling is descheduled: on a 2-core machine
# shared with another CPU-bound job, 2 torch threads then ran 8x slower than 1 (7.0 s vs 0.86 s
# per batch). Passive waiting keeps 2 threads as fast as 1 under contention and faster when idle.
# It must be set before torch starts its thread pool, hence before the import.
os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')

import torch  # noqa: E402

#: A learning-rate schedule: (share of the schedule done 0-1, peak rate) to the rate.
Schedule = Callable[[float, float], float]


def set_up_torch(threads: int, seed: int) -> None:
    """Use ``threads`` CPU threads and seed torch's generators: a run repeats with its seed."""
    torch.set_num_threads(threads)
    torch.manual_seed(seed)


def warmup_cosine(warmup_share: float) -> Schedule:
    """Linear warm-up over ``warmup_share`` of the schedule, then cosine decay to zero.

    :param warmup_share: share of the schedule spent warming up, 0-1 (exclusive).
    :returns: ``learning_rate_at(progress, peak)``.
    """
    def learning_rate_at(progress: float, peak: float) -> float:
        if progress < warmup_share:
            return peak * max(progress / warmup_share, 0.01)
        decay_progress = (progress - warmup_share) / (1.0 - warmup_share)
        return peak * 0.5 * (1.0 + math.cos(math.pi * min(decay_progress, 1.0)))

    return learning_rate_at


def run_record(arguments: argparse.Namespace, summary: dict) -> dict:
    """Describe a run for its metrics file: the options, what it measured, which torch ran it."""
    return {
        'arguments': {
            key: (str(value) if isinstance(value, Path) else value)
            for key, value in vars(arguments).items()
        },
        **summary,
        'torch_threads': torch.get_num_threads(),
        'torch_version': torch.__version__,
    }
