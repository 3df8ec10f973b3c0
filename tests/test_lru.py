"""The LRU (rnnbench/models/lru.py): the recurrence against plain complex arithmetic, the parallel scan against the
sequential loop (values and gradients), the ring initialisation, state continuation and the YAML."""

import cmath
import math

import pytest
import torch

from rnnbench.config_checks import ConfigError
from rnnbench.experiment import build
from rnnbench.models.lru import LRU, LRULayer, parallel_scan, sequential_scan

from conftest import compose_config

SCANS = ["parallel", "sequential"]


@pytest.mark.parametrize("scan", SCANS)
@pytest.mark.parametrize("start", [None, [0.3 - 0.2j, -0.1 + 0.4j]])
def test_layer_matches_the_equation_by_hand(scan, start):
    """N = H = 2, T = 3, every parameter set by hand: x_k and y_k from the equation in Python complex numbers."""
    layer = LRULayer(hidden_size=2, state_size=2, r_min=0.5, r_max=0.9, max_phase=1.0, scan=scan).double()
    nu, theta, gamma_log = [-1.2, -2.0], [0.3, -0.7], [-0.4, -0.9]            # γ_log free, not √(1 − |λ|²)
    B = [[0.5 - 0.3j, 1.1 + 0.2j], [-0.7 + 0.9j, 0.25 - 0.6j]]               # N × H
    C = [[0.8 + 0.1j, -0.4 + 0.5j], [0.3 - 1.2j, 0.6 + 0.7j]]               # H × N
    D = [0.2, -1.5]
    with torch.no_grad():
        for param, value in ((layer.nu_log, nu), (layer.theta_log, theta), (layer.gamma_log, gamma_log), (layer.D, D),
                             (layer.B_re, [[z.real for z in row] for row in B]),
                             (layer.B_im, [[z.imag for z in row] for row in B]),
                             (layer.C_re, [[z.real for z in row] for row in C]),
                             (layer.C_im, [[z.imag for z in row] for row in C])):
            param.copy_(torch.tensor(value, dtype=torch.float64))
    u = [[1.0, -0.5], [0.25, 2.0], [-1.5, 0.75]]
    x0 = None if start is None else torch.tensor([start], dtype=torch.complex128)
    y, x = layer(torch.tensor([u], dtype=torch.float64), x0)

    lam = [cmath.exp(-math.exp(nu[n]) + 1j * math.exp(theta[n])) for n in range(2)]
    state = list(start or [0j, 0j])
    for k in range(3):
        state = [lam[n] * state[n] + math.exp(gamma_log[n]) * sum(B[n][h] * u[k][h] for h in range(2))
                 for n in range(2)]
        out = [sum(C[h][n] * state[n] for n in range(2)).real + D[h] * u[k][h] for h in range(2)]
        torch.testing.assert_close(x[0, k], torch.tensor(state, dtype=torch.complex128), rtol=1e-13, atol=1e-13)
        torch.testing.assert_close(y[0, k], torch.tensor(out, dtype=torch.float64), rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("steps", [1, 7, 64, 784])
@pytest.mark.parametrize("with_start", [False, True])
def test_parallel_scan_equals_the_sequential_loop(steps, with_start):
    generator = torch.Generator().manual_seed(steps)
    radius = 0.9 + 0.0999 * torch.rand(5, dtype=torch.float64, generator=generator)
    a = torch.polar(radius, 2 * math.pi * torch.rand(5, dtype=torch.float64, generator=generator)).expand(steps, -1)
    b = torch.randn(3, steps, 5, dtype=torch.complex128, generator=generator)
    x0 = torch.randn(3, 5, dtype=torch.complex128, generator=generator) * with_start
    torch.testing.assert_close(parallel_scan(a, b, x0), sequential_scan(a, b, x0), rtol=1e-10, atol=1e-10)


def test_scan_takes_a_varying_a_per_step():
    """The operator does not assume a time-invariant Λ: a ``[B, T, N]`` works the same."""
    a = torch.randn(2, 13, 3, dtype=torch.complex128) * 0.5
    b, x0 = torch.randn(2, 13, 3, dtype=torch.complex128), torch.randn(2, 3, dtype=torch.complex128)
    torch.testing.assert_close(parallel_scan(a, b, x0), sequential_scan(a, b, x0), rtol=1e-12, atol=1e-12)


def test_ring_initialisation():
    """|λ| in [r_min, r_max] with |λ|² uniform there (uniform on the ring's area), phase in [0, max_phase],
    γ = √(1 − |λ|²); B and C with the variances of Appendix A."""
    torch.manual_seed(0)
    r_min, r_max, max_phase = 0.4, 0.8, math.pi / 10
    layer = LRULayer(hidden_size=32, state_size=4096, r_min=r_min, r_max=r_max, max_phase=max_phase)
    lam, eps = layer.double().eigenvalues().detach(), 1e-7                          # eps: the float32 draws' rounding
    assert r_min - eps <= lam.abs().min() and lam.abs().max() <= r_max + eps
    assert 0 <= lam.angle().min() and lam.angle().max() <= max_phase + eps
    assert abs(lam.abs().square().mean() - (r_min ** 2 + r_max ** 2) / 2) < 0.01     # ±0.0022 std. error
    assert abs(lam.angle().mean() - max_phase / 2) < 0.01 * max_phase
    torch.testing.assert_close(layer.gamma_log.exp().double(), (1 - lam.abs().square()).sqrt(), rtol=1e-6, atol=0)
    for part, variance in ((layer.B_re, 1 / 64), (layer.B_im, 1 / 64), (layer.C_re, 1 / 4096),
                           (layer.C_im, 1 / 4096)):
        assert abs(part.var().item() / variance - 1) < 0.05


@pytest.mark.parametrize("scan", SCANS)
def test_state_continues_the_sequence(scan):
    """T = 10 in one call equals 4 + 6 with the state passed on; the state: one complex [B, N] per layer."""
    torch.manual_seed(0)
    model = LRU(3, 4, state_size=5, layers=2, scan=scan).double()
    x = torch.randn(2, 10, 3, dtype=torch.float64)
    whole, last = model(x)
    first, state = model(x[:, :4])
    second, state = model(x[:, 4:], state)
    assert len(state) == 2 and all(s.shape == (2, 5) and s.dtype == torch.complex128 for s in state)
    torch.testing.assert_close(torch.cat([first, second], 1), whole, rtol=1e-12, atol=1e-12)
    for a, b in zip(state, last, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_parallel_scan_gradients_equal_the_sequential_loop():
    """float64, two layers, an initial state: outputs and every gradient (parameters, initial state) agree."""
    x = torch.randn(3, 64, 2, dtype=torch.float64)
    start = tuple(torch.randn(3, 6, dtype=torch.complex128, requires_grad=True) for _ in range(2))
    weights = torch.randn(3, 64, 4, dtype=torch.float64)
    results = []
    for scan in SCANS:
        torch.manual_seed(1)
        model = LRU(2, 4, state_size=6, layers=2, max_phase=math.pi, scan=scan).double()
        out, last = model(x, start)
        loss = (out * weights).sum() + sum(s.abs().square().sum() for s in last)
        results.append((out, torch.autograd.grad(loss, [*model.parameters(), *start])))
    (out, grads), (ref_out, ref_grads) = results
    torch.testing.assert_close(out, ref_out, rtol=1e-10, atol=1e-10)
    names = [name for name, _ in model.named_parameters()] + ["state0", "state1"]
    for name, a, b in zip(names, grads, ref_grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10, msg=name)


def test_yaml_composes_and_instantiates():
    cfg = compose_config(["model=lru", "~paper"])
    model = build(cfg.model, "model", input_size=3)
    assert isinstance(model, LRU) and (model.hidden_size, model.state_size, len(model.blocks)) == (128, 128, 1)
    layer = model.blocks[0].lru
    assert (layer.r_min, layer.r_max, layer.max_phase, layer.scan) == (0.9, 0.999, 2 * math.pi, "parallel")
    assert model.blocks[0].gate is not None and model.dropout == 0.0
    out, (state,) = model(torch.randn(2, 5, 3))
    assert out.shape == (2, 5, 128) and state.shape == (2, 128) and state.dtype == torch.complex64
    assert "hidden_size=128, state_size=128, layers=1, glu=True" in repr(model)
    stacked = build(compose_config(["model=lru", "~paper", "model.layers=3", "model.state_size=16",
                                    "model.glu=false"]).model, "model", input_size=1)
    assert len(stacked.blocks) == 3 and stacked.blocks[0].gate is None and stacked.state_size == 16
    with pytest.raises(ConfigError, match="model.scan"):
        build(compose_config(["model=lru", "~paper", "model.scan=blelloch"]).model, "model", input_size=1)
