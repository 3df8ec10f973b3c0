"""Sizes at a parameter budget: the hidden size (or another size setting, e.g. EURNN's ``capacity``) that gives
each model a comparable trainable-parameter count on a task (the whole network: encoder, recurrent core and
readout head), for tables that compare models at equal size rather than equal width.

The count grows with the size, so a binary search over the allowed sizes (multiples of ``multiple_of``, which
keeps CW-RNN's equal modules and nnRNN's 2×2 blocks valid) finds the size whose count is closest to the budget;
ties go to the smaller size.
"""

from __future__ import annotations

from collections.abc import Callable

from omegaconf import DictConfig, OmegaConf

from rnnbench.experiment import build, parameter_count


def size_for_budget(count_at: Callable[[int], int], budget: int, multiple_of: int = 8,
                    largest: int = 4096) -> tuple[int, int]:
    """The size (a multiple of ``multiple_of``, at most ``largest``) whose ``count_at(size)`` is closest to
    ``budget``, and that count; ``count_at`` must grow with the size."""
    low, high = 1, largest // multiple_of
    while low < high:                                        # the smallest size whose count reaches the budget
        middle = (low + high) // 2
        if count_at(middle * multiple_of) < budget:
            low = middle + 1
        else:
            high = middle
    candidates = [k * multiple_of for k in (low - 1, low) if k >= 1]
    counts = {size: count_at(size) for size in candidates}
    best = min(candidates, key=lambda size: (abs(counts[size] - budget), size))
    return best, counts[best]


def network_count(model: DictConfig, task, size: int, key: str = "hidden_size") -> int:
    """Trainable parameters of ``task.network`` around ``model`` (a model config) with ``model.<key>`` = ``size``."""
    node = OmegaConf.merge(model, {key: size})
    return parameter_count(task.network(build(node, "model", input_size=task.input_size)))
