"""Linear Recurrent Unit, LRU (Orvieto et al., ICML 2023, "Resurrecting Recurrent Neural Networks for Long
Sequences", arXiv 2303.06349; the layer as in the paper's Appendix A).

Each layer runs a diagonal complex linear recurrence of size N (``state_size``) on its input u_k ∈ ℝ^H:

    x_k = Λ ⊙ x_{k−1} + γ ⊙ (B u_k),   Λ = exp(−exp(ν) + i exp(θ)),   y_k = Re(C x_k) + D ⊙ u_k

ν, θ, log γ ∈ ℝ^N, B ∈ ℂ^{N×H}, C ∈ ℂ^{H×N} (real and imaginary parts stored apart), D ∈ ℝ^H. Initialisation
(Appendix A): Λ uniform on the ring r_min ≤ |λ| ≤ r_max of the complex plane (|λ|² ~ U(r_min², r_max²)) with
phase in [0, max_phase] (u₁, u₂ ~ U(0, 1): ν = log(−½ log(u₁ (r_max² − r_min²) + r_min²)), θ = log(max_phase u₂));
γ = √(1 − |Λ|²), after which log γ is a parameter of its own; Re B, Im B ~ N(0, 1/(2H)), Re C, Im C ~ N(0, 1/N),
D ~ N(0, 1).

The network (the paper's Fig. 1, Norm-Recurrence-GLU-Skip; GELU and dropout placed as in minimal-LRU,
github.com/NicolasZucchet/minimal-LRU at bbd71b1, ``lru/model.py``): a linear encoder ℝ^I → ℝ^H, then ``layers``
blocks

    v = LayerNorm(u);  g = dropout(GELU(y(v)));  u ← u + dropout(W₁ g ⊙ σ(W₂ g))      (``glu=false``: W₁ g)

whose last output, ``[B, T, H]``, is the model's. The paper's results use a stack of such blocks (e.g. 6 on the
Long Range Arena) and batch or layer norm; only layer norm here, which acts on each step alone and so keeps
the outputs independent of how a sequence is cut into calls. Encoder and GLU: torch's ``nn.Linear`` init.

``scan=parallel`` computes every x_k at once with an associative scan over time (:func:`parallel_scan`: odd-even
reduction, depth 2⌈log₂ T⌉, O(T) work and memory); ``scan=sequential`` is the step-by-step loop
(:func:`sequential_scan`), the reference the tests compare it to. ``times`` is ignored.
State: a tuple of one complex tensor ``[B, N]`` per layer, its x_T (complex64 for a float32 model); ``[B, H]``, as
the model contract's rule asks, when ``state_size`` = ``hidden_size`` (the default).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from rnnbench.config_checks import positive_float, positive_int, require, require_choice

SCANS = ("parallel", "sequential")


def parallel_scan(a: torch.Tensor, b: torch.Tensor, x0: torch.Tensor) -> torch.Tensor:
    """x_t = a_t ⊙ x_{t−1} + b_t for t = 1..T from x0 ``[..., N]``; ``a`` ``[T, N]`` (or broadcastable to
    ``b``), ``b`` ``[..., T, N]`` → x ``[..., T, N]``: the prefixes of :func:`prefix_compositions` (x from a zero
    start, and a_1 ⋯ a_t), x0 entering as + a_1 ⋯ a_t ⊙ x0."""
    products, states = prefix_compositions(a, b)
    return states + products * x0.unsqueeze(-2)


def prefix_compositions(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The inclusive scan along dim −2 of the steps (a_t, b_t) under the associative operator
    (a₁, b₁) ∘ (a₂, b₂) = (a₁ a₂, a₂ b₁ + b₂), by odd-even reduction (Blelloch's work-efficient scheme):
    compose the pairs of steps (t = 2i, 2i + 1; t from 0), scan those ⌊T/2⌋ recursively (the prefixes ending at
    odd t), then extend the prefixes ending at t − 1 by one step to the even t ≥ 2. Depth 2⌈log₂ T⌉, work O(T)."""
    steps = b.shape[-2]
    if steps == 1:
        return a, b
    a_even, b_even, a_odd, b_odd = a[..., 0::2, :], b[..., 0::2, :], a[..., 1::2, :], b[..., 1::2, :]
    pairs = a_odd.shape[-2]
    odd = prefix_compositions(a_odd * a_even[..., :pairs, :], a_odd * b_even[..., :pairs, :] + b_odd)
    rest = b_even.shape[-2] - 1                                           # the even t ≥ 2
    even = (torch.cat([a_even[..., :1, :], a_even[..., 1:, :] * odd[0][..., :rest, :]], -2),
            torch.cat([b_even[..., :1, :], a_even[..., 1:, :] * odd[1][..., :rest, :] + b_even[..., 1:, :]], -2))
    return tuple(interleave(e, o) for e, o in zip(even, odd, strict=True))


def interleave(even: torch.Tensor, odd: torch.Tensor) -> torch.Tensor:
    """Steps 0, 2, 4, … and 1, 3, 5, … (dim −2) back in order."""
    pairs = odd.shape[-2]
    return torch.cat([torch.stack([even[..., :pairs, :], odd], -2).flatten(-3, -2), even[..., pairs:, :]], -2)


def sequential_scan(a: torch.Tensor, b: torch.Tensor, x0: torch.Tensor) -> torch.Tensor:
    """The same recurrence as :func:`parallel_scan`, one step at a time."""
    x, states = x0, []
    for a_t, b_t in zip(a.expand_as(b).unbind(-2), b.unbind(-2), strict=True):
        x = a_t * x + b_t
        states.append(x)
    return torch.stack(states, -2)


class LRULayer(nn.Module):
    """The recurrence: ``forward(u [B, T, H], x0 [B, N] or None)`` → outputs y ``[B, T, H]``, states x ``[B, T, N]``."""

    def __init__(self, hidden_size: int, state_size: int, r_min: float, r_max: float, max_phase: float,
                 scan: str = "parallel"):
        super().__init__()
        self.r_min, self.r_max, self.max_phase, self.scan = r_min, r_max, max_phase, scan
        self.nu_log, self.theta_log, self.gamma_log = (nn.Parameter(torch.empty(state_size)) for _ in range(3))
        self.B_re, self.B_im = (nn.Parameter(torch.empty(state_size, hidden_size)) for _ in range(2))
        self.C_re, self.C_im = (nn.Parameter(torch.empty(hidden_size, state_size)) for _ in range(2))
        self.D = nn.Parameter(torch.empty(hidden_size))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        state_size, hidden_size = self.B_re.shape
        with torch.no_grad():
            ring = torch.rand(state_size) * (self.r_max ** 2 - self.r_min ** 2) + self.r_min ** 2    # |λ|²
            self.nu_log.copy_(torch.log(-0.5 * torch.log(ring)))
            self.theta_log.copy_(torch.log(self.max_phase * torch.rand(state_size)))
            self.gamma_log.copy_(0.5 * torch.log1p(-ring))                                       # log √(1 − |λ|²)
        for part in (self.B_re, self.B_im):
            nn.init.normal_(part, std=1 / math.sqrt(2 * hidden_size))
        for part in (self.C_re, self.C_im):
            nn.init.normal_(part, std=1 / math.sqrt(state_size))
        nn.init.normal_(self.D)

    def extra_repr(self) -> str:
        state_size, hidden_size = self.B_re.shape
        return (f"hidden_size={hidden_size}, state_size={state_size}, r_min={self.r_min}, r_max={self.r_max}, "
                f"max_phase={self.max_phase:.4g}, scan={self.scan}")

    def eigenvalues(self) -> torch.Tensor:
        """Λ = exp(−exp(ν) + i exp(θ)), ``[N]`` complex."""
        return torch.exp(torch.complex(-torch.exp(self.nu_log), torch.exp(self.theta_log)))

    def forward(self, u: torch.Tensor, x0: torch.Tensor | None = None):
        lam, gamma = self.eigenvalues(), torch.exp(self.gamma_log).unsqueeze(1)
        bu = torch.complex(F.linear(u, gamma * self.B_re), F.linear(u, gamma * self.B_im))   # γ ⊙ (B u_k)
        x0 = bu.new_zeros(bu.shape[0], bu.shape[2]) if x0 is None else x0
        scan = parallel_scan if self.scan == "parallel" else sequential_scan
        x = scan(lam.expand(u.shape[1], -1), bu, x0)
        return F.linear(x.real, self.C_re) - F.linear(x.imag, self.C_im) + self.D * u, x


class LRUBlock(nn.Module):
    """u ← u + dropout(GLU(dropout(GELU(LRU(LayerNorm(u)))))); ``forward(u, x0)`` → (u, x_T)."""

    def __init__(self, hidden_size: int, state_size: int, r_min: float, r_max: float, max_phase: float, glu: bool,
                 dropout: float, scan: str):
        super().__init__()
        self.norm = nn.LayerNorm(hidden_size)
        self.lru = LRULayer(hidden_size, state_size, r_min, r_max, max_phase, scan)
        self.out = nn.Linear(hidden_size, hidden_size)
        self.gate = nn.Linear(hidden_size, hidden_size) if glu else None
        self.drop = nn.Dropout(dropout)

    def reset_parameters(self) -> None:
        for module in (self.norm, self.lru, self.out, self.gate):
            if module is not None:
                module.reset_parameters()

    def forward(self, u: torch.Tensor, x0: torch.Tensor | None):
        y, x = self.lru(self.norm(u), x0)
        g = self.drop(F.gelu(y))
        mixed = self.out(g) if self.gate is None else self.out(g) * torch.sigmoid(self.gate(g))
        return u + self.drop(mixed), x[:, -1]


class LRU(nn.Module):
    def __init__(self, input_size: int, hidden_size: int, state_size: int | None = None, layers: int = 1,
                 r_min: float = 0.9, r_max: float = 0.999, max_phase: float = 2 * math.pi, glu: bool = True,
                 dropout: float = 0.0, scan: str = "parallel"):
        super().__init__()
        state_size = hidden_size if state_size is None else state_size
        for name, value in (("input_size", input_size), ("hidden_size", hidden_size), ("state_size", state_size),
                            ("layers", layers)):
            positive_int(name, value)
        require(isinstance(r_min, (int, float)) and 0 <= r_min, "r_min", r_min, "a number >= 0")
        require(isinstance(r_max, (int, float)) and r_min < r_max <= 1, "r_max", r_max, "a number in (r_min, 1]")
        positive_float("max_phase", max_phase)
        require(isinstance(dropout, (int, float)) and 0 <= dropout < 1, "dropout", dropout, "a number in [0, 1)")
        require_choice("scan", scan, SCANS)
        self.hidden_size, self.state_size, self.glu, self.dropout = hidden_size, state_size, glu, dropout
        self.encoder = nn.Linear(input_size, hidden_size)
        self.blocks = nn.ModuleList(LRUBlock(hidden_size, state_size, r_min, r_max, max_phase, glu, dropout, scan)
                                    for _ in range(layers))

    def reset_parameters(self) -> None:
        """Draw every parameter again from its initial distribution."""
        self.encoder.reset_parameters()
        for block in self.blocks:
            block.reset_parameters()

    def extra_repr(self) -> str:
        drop = f", dropout={self.dropout}" if self.dropout else ""
        return f"hidden_size={self.hidden_size}, state_size={self.state_size}, layers={len(self.blocks)}, " \
               f"glu={self.glu}{drop}"

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, ...] | None = None, *, times=None):
        """x ``[B, T, I]`` → outputs ``[B, T, H]``, final state: one complex x_T ``[B, N]`` per layer."""
        u, finals = self.encoder(x), []
        for block, x0 in zip(self.blocks, state or (None,) * len(self.blocks), strict=True):
            u, last = block(u, x0)
            finals.append(last)
        return u, tuple(finals)
