"""coRNN (Rusch & Mishra 2021) against a hand computation, the damped linear oscillator it reduces to, finite
differences, and its YAML file."""

import math

import pytest
import torch
from torch.func import functional_call

from rnnbench.config_checks import ConfigError
from rnnbench.experiment import build
from rnnbench.models.cornn import CoRNN

from conftest import compose_config


def test_cornn_matches_hand_computation():
    """H = 2, I = 1, T = 2 from the zero state, every term of eq. 3 written out with plain floats."""
    dt, gamma, epsilon = 0.5, 0.4, 1.0
    model = CoRNN(1, 2, dt=dt, gamma=gamma, epsilon=epsilon).double()
    weights = {"weight_y": [[0.5, -0.2], [0.1, 0.3]], "weight_z": [[0.2, 0.0], [-0.1, 0.4]],   # W, 𝒲
               "input_proj.weight": [[1.0], [-0.5]], "input_proj.bias": [0.1, -0.2]}          # V, b
    with torch.no_grad():
        for name, param in model.named_parameters():
            param.copy_(torch.tensor(weights[name], dtype=torch.float64))
    u1, u2 = 0.8, -0.3
    # step 1: y_0 = z_0 = 0, so the pre-activation is V u_1 + b and the −γ y, −ε z terms vanish
    a1 = (1.0 * u1 + 0.1, -0.5 * u1 - 0.2)
    z1 = (dt * math.tanh(a1[0]), dt * math.tanh(a1[1]))
    y1 = (dt * z1[0], dt * z1[1])
    # step 2: W y_1 + 𝒲 z_1 + V u_2 + b, then z_2 from (y_1, z_1), then y_2 with the new z_2
    a2 = (0.5 * y1[0] - 0.2 * y1[1] + 0.2 * z1[0] + 0.0 * z1[1] + 1.0 * u2 + 0.1,
          0.1 * y1[0] + 0.3 * y1[1] - 0.1 * z1[0] + 0.4 * z1[1] - 0.5 * u2 - 0.2)
    z2 = (z1[0] + dt * (math.tanh(a2[0]) - gamma * y1[0] - epsilon * z1[0]),
          z1[1] + dt * (math.tanh(a2[1]) - gamma * y1[1] - epsilon * z1[1]))
    y2 = (y1[0] + dt * z2[0], y1[1] + dt * z2[1])
    assert z1 == pytest.approx((0.358149, -0.268525), abs=1e-6)            # dt tanh(0.9), dt tanh(−0.6)
    assert y2 == pytest.approx((0.247709, -0.241047), abs=1e-6)

    outputs, (y, z) = model(torch.tensor([[[u1], [u2]]], dtype=torch.float64))
    torch.testing.assert_close(outputs, torch.tensor([[y1, y2]], dtype=torch.float64), rtol=0, atol=1e-15)
    torch.testing.assert_close(y, torch.tensor([y2], dtype=torch.float64), rtol=0, atol=1e-15)
    torch.testing.assert_close(z, torch.tensor([z2], dtype=torch.float64), rtol=0, atol=1e-15)


def test_cornn_state_continues_the_sequence():
    torch.manual_seed(0)
    model = CoRNN(3, 5, dt=0.3, gamma=1.5, epsilon=0.5).double()
    x = torch.randn(2, 6, 3, dtype=torch.float64)
    whole, (y, z) = model(x)
    first, state = model(x[:, :3])
    assert [part.shape for part in state] == [(2, 5), (2, 5)]
    second, (y_parts, z_parts) = model(x[:, 3:], state)
    torch.testing.assert_close(torch.cat([first, second], 1), whole, rtol=0, atol=1e-14)
    torch.testing.assert_close((y_parts, z_parts), (y, z), rtol=0, atol=1e-14)
    assert not torch.equal(second, model(x[:, 3:])[0])                      # the state matters


def test_cornn_backward_matches_finite_differences():
    """Gradients of every parameter and of both initial states, through outputs and the final z."""
    torch.manual_seed(1)
    model = CoRNN(2, 3, dt=0.4, gamma=1.2, epsilon=0.7).double()
    names = [name for name, _ in model.named_parameters()]
    x = torch.randn(2, 4, 2, dtype=torch.float64, requires_grad=True)
    y0, z0 = (torch.randn(2, 3, dtype=torch.float64, requires_grad=True) for _ in range(2))
    params = [p.detach().clone().requires_grad_() for p in model.parameters()]

    def run(x, y0, z0, *params):
        outputs, (_, z) = functional_call(model, dict(zip(names, params, strict=True)), (x, (y0, z0)))
        return outputs, z

    assert torch.autograd.gradcheck(run, (x, y0, z0, *params))


def test_cornn_without_weights_is_a_damped_linear_oscillator():
    """W = 𝒲 = V = 0, b = 0: tanh(0) = 0 and the step is linear, (y, z) ← M (y, z) with
    M = [[1 − Δt²γ, Δt(1 − Δtε)], [−Δtγ, 1 − Δtε]] (z_n = (1 − Δtε) z − Δtγ y, then y_n = y + Δt z_n),
    whatever the input; here underdamped (complex eigenvalues of modulus √det M = √(1 − Δtε) < 1)."""
    dt, gamma, epsilon, steps = 0.2, 3.0, 0.5, 60
    model = CoRNN(2, 4, dt=dt, gamma=gamma, epsilon=epsilon).double()
    with torch.no_grad():
        for param in model.parameters():
            param.zero_()
    M = torch.tensor([[1 - dt * dt * gamma, dt * (1 - dt * epsilon)], [-dt * gamma, 1 - dt * epsilon]],
                     dtype=torch.float64)
    torch.manual_seed(2)
    y0, z0 = torch.randn(3, 4, dtype=torch.float64), torch.randn(3, 4, dtype=torch.float64)
    outputs, (y, z) = model(torch.randn(3, steps, 2, dtype=torch.float64), (y0, z0))
    start = torch.stack([y0, z0]).reshape(2, -1)                               # one (y, z) column per unit
    expected = [torch.linalg.matrix_power(M, n) @ start for n in range(1, steps + 1)]
    expected_y = torch.stack([e[0].reshape(3, 4) for e in expected], 1)
    torch.testing.assert_close(outputs, expected_y, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(z, expected[-1][1].reshape(3, 4), rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(outputs, model(torch.randn(3, steps, 2, dtype=torch.float64), (y0, z0))[0])
    assert (outputs[:, 1:] * outputs[:, :-1] < 0).any(1).all()                # every unit oscillates …
    assert (torch.hypot(y, z) < 0.1 * torch.hypot(y0, z0)).all()              # … and is damped: ‖M⁶⁰‖₂ ≈ 0.07


def test_cornn_yaml_composes_and_instantiates():
    cfg = compose_config(["model=cornn", "~paper"])
    assert (cfg.model.dt, cfg.model.gamma, cfg.model.epsilon) == (0.076, 0.4, 8.0)   # the authors' psMNIST values
    model = build(cfg.model, "model", input_size=1)
    assert isinstance(model, CoRNN) and model.hidden_size == 128
    assert model.extra_repr() == "hidden_size=128, dt=0.076, gamma=0.4, epsilon=8.0"
    authors = build(compose_config(["model=cornn", "model.hidden_size=256", "~paper"]).model, "model", input_size=1)
    params = torch.cat([p.detach().flatten() for p in authors.parameters()])
    assert params.numel() == (1 + 2 * 256) * 256 + 256         # the authors' psMNIST cell: nn.Linear(1 + 2·256, 256)
    bound = 1 / math.sqrt(1 + 2 * 256)
    assert params.abs().max() <= bound and params.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.02)
    with pytest.raises(ConfigError, match="model.dt=0"):
        build(compose_config(["model=cornn", "model.dt=0", "~paper"]).model, "model", input_size=1)
