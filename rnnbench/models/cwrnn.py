"""Clockwork RNN (Koutník, Greff, Gomez & Schmidhuber, ICML 2014, arXiv 1402.3511).

The hidden units are split into g modules, ordered fast → slow, module i with ``module_sizes[i]`` units and
clock period ``clock_periods[i]`` (default 1, 2, 4, …, 2^(g−1)). At step t (counted from 0 at the start of
every forward call, so all modules are active at t = 0):

    module i active  (t mod T_i == 0):  h_t[i] = f(Σ_{j ≥ i} W_H[i, j] h_{t−1}[j] + W_I[i] x_t + b_i)
    module i inactive:                  h_t[i] = h_{t−1}[i]                     (the state is copied)

Recurrent connections run only from a module to itself and to faster modules (slow → fast): W_H is block
upper-triangular. The structure is held by storage, not by a mask: module i's row block is one parameter of
shape ``[k_i, k_i + … + k_{g−1}]`` (only the blocks j ≥ i exist), and the full matrix is assembled with zero
blocks once per forward pass, so no optimiser step can create a slow ← fast connection.

Compute: the input projection W_I x + b is computed for all steps in one matmul before the loop. When every
period divides the next (e.g. the exponential default), the active modules at step t are a prefix 0..m, and
only those rows are computed: ``h[:, :n] = f(h W[:n]ᵀ + u[:, :n])``, ``h[:, n:]`` copied, with n from a
precomputed list of Python ints (no host sync). Otherwise the rows up to the slowest active module are computed
and a per-step mask keeps the inactive modules among them unchanged. The loop and its hand-written backward are
:class:`rnnbench.models.recurrence.ElmanRecurrence` with this schedule.

``times`` is ignored. The step counter restarts at 0 in every forward call; a continued sequence
(``state`` passed back in) therefore restarts the clock.
Parameters: W_I (H × I), b (H, when ``bias``), the W_H row blocks (Σ_i k_i (k_i + … + k_{g−1})); the
periods are fixed and not counted. Weights are initialised N(0, ``init_std``²), biases 0.
"""

from __future__ import annotations

from itertools import pairwise

import torch
from torch import nn

from rnnbench.config_checks import positive_float, positive_int, require, require_choice
from rnnbench.models.recurrence import ElmanRecurrence

NONLINEARITIES = ("tanh", "relu")


def exponential_periods(num_modules: int) -> list[int]:
    """The paper's default clock periods 1, 2, 4, …, 2^(g−1)."""
    return [2 ** i for i in range(num_modules)]


class ClockworkRNN(nn.Module):
    def __init__(self, input_size: int, hidden_size: int, num_modules: int | None = None,
                 clock_periods: list[int] | None = None, module_sizes: list[int] | None = None,
                 nonlinearity: str = "tanh", bias: bool = True, init_std: float = 0.1):
        super().__init__()
        positive_int("input_size", input_size)
        positive_int("hidden_size", hidden_size)
        require_choice("nonlinearity", nonlinearity, NONLINEARITIES)
        positive_float("init_std", init_std)
        clock_periods, module_sizes = self._check_structure(hidden_size, num_modules, clock_periods, module_sizes)
        self.hidden_size = hidden_size
        self.clock_periods, self.module_sizes = clock_periods, module_sizes
        self.nonlinearity = nonlinearity
        self.module_offsets = [sum(module_sizes[:i]) for i in range(len(module_sizes) + 1)]
        self.init_std = init_std
        self.input_proj = nn.Linear(input_size, hidden_size, bias=bias)
        # Row block i: connections into module i from modules i..g−1 (itself and the slower ones).
        self.recurrent_blocks = nn.ParameterList(
            nn.Parameter(torch.empty(size, hidden_size - offset))
            for size, offset in zip(module_sizes, self.module_offsets[:-1], strict=True))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Weights ~ N(0, init_std²) (the paper's), biases 0."""
        nn.init.normal_(self.input_proj.weight, 0.0, self.init_std)
        if self.input_proj.bias is not None:
            nn.init.zeros_(self.input_proj.bias)
        for block in self.recurrent_blocks:
            nn.init.normal_(block, 0.0, self.init_std)

    def extra_repr(self) -> str:
        return (f"hidden_size={self.hidden_size}, clock_periods={self.clock_periods}, "
                f"module_sizes={self.module_sizes}, nonlinearity={self.nonlinearity}")

    @staticmethod
    def _check_structure(hidden_size, num_modules, clock_periods, module_sizes):
        if clock_periods is not None:
            clock_periods = list(clock_periods)
            require(len(clock_periods) > 0 and all(isinstance(p, int) and p > 0 for p in clock_periods),
                    "clock_periods", clock_periods, "a non-empty list of positive integers")
            require(all(a < b for a, b in pairwise(clock_periods)), "clock_periods", clock_periods,
                    "strictly increasing periods (modules ordered fast → slow)")
        if module_sizes is not None:
            module_sizes = list(module_sizes)
            require(len(module_sizes) > 0 and all(isinstance(k, int) and k > 0 for k in module_sizes),
                    "module_sizes", module_sizes, "a non-empty list of positive integers")
            require(sum(module_sizes) == hidden_size, "module_sizes", module_sizes,
                    f"sizes summing to hidden_size={hidden_size}")
        counts = {len(v) for v in (clock_periods, module_sizes) if v is not None}
        if num_modules is not None:
            positive_int("num_modules", num_modules)
            counts.add(num_modules)
        require(len(counts) <= 1, "num_modules", num_modules,
                "the same module count as clock_periods and module_sizes")
        g = counts.pop() if counts else 1
        if module_sizes is None:
            require(hidden_size % g == 0, "hidden_size", hidden_size,
                    f"a multiple of the number of modules ({g}), or explicit module_sizes")
            module_sizes = [hidden_size // g] * g
        return clock_periods or exponential_periods(g), module_sizes

    def recurrent_matrix(self) -> torch.Tensor:
        """The block upper-triangular ``H × H`` matrix W_H (zero blocks below the diagonal)."""
        rows = [nn.functional.pad(block, (offset, 0)) for block, offset in
                zip(self.recurrent_blocks, self.module_offsets[:-1], strict=True)]
        return torch.cat(rows, 0)

    def schedule(self, steps: int, device: torch.device | str = "cpu") -> list[tuple[int, torch.Tensor | None]]:
        """Per step: the number n of leading units to compute, and a ``[n]`` mask of the active ones among
        them (None when all n are active, always the case when the periods divide each other)."""
        plan, cache = [], {}
        for t in range(steps):
            active = tuple(t % period == 0 for period in self.clock_periods)
            if active not in cache:
                last = max(i for i, a in enumerate(active) if a)
                n = self.module_offsets[last + 1]
                mask = None
                if not all(active[:last + 1]):
                    mask = torch.cat([torch.full((k,), a, device=device)
                                      for k, a in zip(self.module_sizes[:last + 1], active[:last + 1], strict=True)])
                cache[active] = (n, mask)
            plan.append(cache[active])
        return plan

    def forward(self, x: torch.Tensor, state: torch.Tensor | None = None, *, times=None):
        """x ``[B, T, I]`` → outputs ``[B, T, H]``, final state ``[B, H]``."""
        h0 = x.new_zeros(x.shape[0], self.hidden_size) if state is None else state
        projected = self.input_proj(x.transpose(0, 1))                      # W_I x_t + b, time-major [T, B, H]
        return ElmanRecurrence.apply(projected, h0, self.recurrent_matrix(), self.nonlinearity, None,
                                     self.schedule(x.shape[1], x.device))
