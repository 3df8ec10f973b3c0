"""Initialisers for recurrent matrices.

``recurrent_init(name, n)`` returns an ``n × n`` matrix; ``skew_init(name, n)`` returns the skew-symmetric
``A`` whose exponential ``expm(A)`` is the orthogonal matrix (the form used by expRNN and nnRNN).

- glorot_normal: N(0, 2 / (fan_in + fan_out)).
- kaiming: N(0, 2 / fan_in) (He et al. 2015, ReLU gain).
- orthogonal: a Haar-random orthogonal matrix (QR of a Gaussian matrix, signs fixed).
- identity: I (Le et al. 2015).
- henaff: ``A`` block-diagonal with 2×2 blocks [[0, s], [−s, 0]], s ~ U(−π, π) (Henaff et al. 2016).
- cayley: the same blocks with s = −sqrt((1 − cos t) / (1 + cos t)), t ~ U(0, π/2)
  (Helfrich et al. 2018; definitions as in Lezcano-Casado & Martínez-Rubio 2019).
  For odd ``n`` the last row and column of ``A`` stay zero (a fixed unit eigenvalue).

And for gated cells: :func:`tf_glorot_uniform_bound`, the bound of TensorFlow's default (Glorot-uniform) init of
a cell's one joint kernel ``[I + H, gates·H]``, and :func:`initial_state`, a zero or random initial state.
"""

from __future__ import annotations

import math

import torch

from rnnbench.config_checks import require_choice

SKEW_INITS = ("henaff", "cayley")
RECURRENT_INITS = ("glorot_normal", "kaiming", "orthogonal", "identity", *SKEW_INITS)


def block_skew(s: torch.Tensor, n: int) -> torch.Tensor:
    """Skew matrix with 2×2 blocks [[0, s_i], [−s_i, 0]] on the diagonal; ``s`` has ``n // 2`` entries."""
    A = torch.zeros(n, n, dtype=s.dtype)
    idx = torch.arange(0, 2 * len(s), 2)
    A[idx, idx + 1] = s
    A[idx + 1, idx] = -s
    return A


def skew_init(name: str, n: int) -> torch.Tensor:
    require_choice("recurrent_init", name, SKEW_INITS)
    if name == "henaff":
        s = torch.empty(n // 2).uniform_(-math.pi, math.pi)
    else:
        t = torch.empty(n // 2).uniform_(0.0, math.pi / 2)
        s = -torch.sqrt((1 - torch.cos(t)) / (1 + torch.cos(t)))
    return block_skew(s, n)


def random_orthogonal(n: int) -> torch.Tensor:
    return torch.nn.init.orthogonal_(torch.empty(n, n))


def recurrent_init(name: str, n: int) -> torch.Tensor:
    require_choice("recurrent_init", name, RECURRENT_INITS)
    if name in SKEW_INITS:
        return torch.linalg.matrix_exp(skew_init(name, n))
    if name == "orthogonal":
        return random_orthogonal(n)
    if name == "identity":
        return torch.eye(n)
    W = torch.empty(n, n)
    if name == "kaiming":
        return torch.nn.init.kaiming_normal_(W, nonlinearity="relu")
    return torch.nn.init.xavier_normal_(W)


def tf_glorot_uniform_bound(input_size: int, hidden_size: int, gates: int) -> float:
    """√(6 / (fan_in + fan_out)) of TF's joint cell kernel ``[I + H, gates·H]``: U(±bound) for both W and U."""
    return math.sqrt(6 / (input_size + hidden_size + gates * hidden_size))


def initial_state(x: torch.Tensor, hidden_size: int, parts: int, std: float) -> tuple[torch.Tensor, ...]:
    """``parts`` state tensors ``[B, H]`` for input ``x`` ``[B, T, I]``: zeros, or with ``std`` > 0 drawn
    N(0, std²) afresh for every call (torch's global generator, seeded per run and kept in checkpoints), as a
    script that feeds ``tf.random_normal([B, H], stddev=std)`` as the initial (c, h) does."""
    shape = (x.shape[0], hidden_size)
    if not std:
        return tuple(x.new_zeros(shape) for _ in range(parts))
    return tuple(torch.randn(shape, dtype=x.dtype).to(x.device).mul_(std) for _ in range(parts))
