"""expRNN, EURNN and nnRNN against their equations: dense references, invariants under training, bad input."""

import json
import math
from functools import partial

import numpy as np
import pytest
import scipy.linalg
import torch

from rnnbench.config_checks import ConfigError
from rnnbench.models.eurnn import EURNN, rotation_pairs
from rnnbench.models.exprnn import ExpRNN
from rnnbench.models.nnrnn import NNRNN
from rnnbench.optim import Optimization

from conftest import TINY, run_main

torch.manual_seed(0)


def modrelu(z, bias):
    return np.sign(z) * np.maximum(np.abs(z) + bias, 0)


def numpy_rnn(W, U, x, f):
    """h_t = f(W h_{t−1} + U x_t) from h_0 = 0, one step at a time."""
    h = np.zeros((x.shape[0], W.shape[0]))
    outputs = []
    for t in range(x.shape[1]):
        h = f(h @ W.T + x[:, t] @ U.T)
        outputs.append(h)
    return np.stack(outputs, 1)


def assert_matches_numpy_loop(model, W_reference):
    """The model's recurrent matrix equals ``W_reference`` and its outputs equal a plain numpy loop with it."""
    with torch.no_grad():
        model.activation.bias.uniform_(-0.5, 0.1)                     # a bias that matters
    x = torch.randn(2, 5, 3, dtype=torch.float64)
    out, _ = model(x)
    np.testing.assert_allclose(model.recurrent_matrix().detach().numpy(), W_reference, atol=1e-12)
    U = model.input_proj.weight.detach().numpy()
    bias = model.activation.bias.detach().numpy()
    expected = numpy_rnn(W_reference, U, x.numpy(), lambda z: modrelu(z, bias))
    np.testing.assert_allclose(out.detach().numpy(), expected, atol=1e-12)


def givens_product(n, layers, angles):
    """W = R_L ⋯ R_1 with each R_ℓ an explicit n × n matrix of 2×2 rotations, built entry by entry."""
    W, k = np.eye(n), 0
    for pairs in layers:
        R = np.eye(n)
        for i, j in pairs:
            c, s = math.cos(angles[k]), math.sin(angles[k])
            R[i, i], R[i, j], R[j, i], R[j, j] = c, -s, s, c
            k += 1
        W = R @ W
    return W


def skew_from_upper(upper, n):
    S = np.zeros((n, n))
    S[np.triu_indices(n, 1)] = upper
    return S - S.T


# --- dense references -------------------------------------------------------------------------------------


@pytest.mark.parametrize("init", ["henaff", "cayley"])
def test_exprnn_matches_scipy_expm_and_numpy_loop(init):
    model = ExpRNN(3, 6, recurrent_init=init).double()
    with torch.no_grad():
        model.orthogonal.upper.normal_()                             # a dense skew matrix, not just the init
    A = skew_from_upper(model.orthogonal.upper.detach().numpy(), 6)
    assert_matches_numpy_loop(model, scipy.linalg.expm(A))


@pytest.mark.parametrize("style, capacity", [("tunable", 3), ("tunable", 4), ("fft", 2)])
def test_eurnn_matches_explicit_givens_product_and_numpy_loop(style, capacity):
    n = 8
    model = EURNN(3, n, style=style, capacity=capacity).double()
    layers = [list(zip(first.tolist(), second.tolist(), strict=True))
              for first, second in rotation_pairs(style, n, capacity)]
    assert model.angles.numel() == sum(len(pairs) for pairs in layers)
    assert_matches_numpy_loop(model, givens_product(n, layers, model.angles.detach().numpy()))


def test_eurnn_odd_hidden_size_leaves_the_unpaired_unit_alone():
    model = EURNN(3, 5, capacity=1).double()
    W = model.recurrent_matrix().detach().numpy()
    layers = [[(0, 1), (2, 3)]]
    np.testing.assert_allclose(W, givens_product(5, layers, model.angles.detach().numpy()), atol=1e-12)
    assert W[4, 4] == 1 and not W[4, :4].any() and not W[:4, 4].any()


def test_nnrnn_matches_numpy_schur_form_and_numpy_loop():
    n = 6
    model = NNRNN(3, n, recurrent_init="cayley").double()
    with torch.no_grad():
        model.orthogonal.upper.normal_()
        model.gamma.uniform_(0.5, 1.5)
        model.lower.normal_()
    theta, gamma = model.theta.detach().numpy(), model.gamma.detach().numpy()
    Lam = np.zeros((n, n))
    for i in range(n // 2):
        c, s = math.cos(theta[i]), math.sin(theta[i])
        Lam[2 * i:2 * i + 2, 2 * i:2 * i + 2] = gamma[i] * np.array([[c, -s], [s, c]])
    T = np.zeros((n, n))
    T[np.tril_indices(n, -1)] = model.lower.detach().numpy()
    P = scipy.linalg.expm(skew_from_upper(model.orthogonal.upper.detach().numpy(), n))
    assert_matches_numpy_loop(model, P @ (Lam + T) @ P.T)


# --- initialisation and structure ----------------------------------------------------------------------------


def test_nnrnn_init_and_eigenvalues_with_zero_T():
    model = NNRNN(3, 8, recurrent_init="henaff").double()
    theta = model.theta.detach()
    assert theta.min() >= 0 and theta.max() <= 2 * math.pi
    assert torch.equal(model.gamma, torch.ones(4, dtype=torch.float64))
    assert not model.triangular().any()
    P = model.orthogonal().detach()
    assert not torch.allclose(P, torch.eye(8, dtype=torch.float64))  # the skew init is really applied
    with torch.no_grad():
        model.gamma.copy_(torch.tensor([0.5, 0.9, 1.2, 2.0]))
    eigenvalues = np.linalg.eigvals(model.recurrent_matrix().detach().numpy())
    gamma = model.gamma.detach().numpy()
    expected = np.concatenate([gamma * np.exp(1j * theta.numpy()), gamma * np.exp(-1j * theta.numpy())])
    for value in expected:
        assert np.abs(eigenvalues - value).min() < 1e-9


def test_nnrnn_regularizer_is_delta_times_squared_gamma_distance():
    model = NNRNN(3, 4, delta=0.3)
    assert model.regularizer().item() == 0.0
    with torch.no_grad():
        model.gamma.copy_(torch.tensor([1.5, 0.0]))
    assert model.regularizer().item() == pytest.approx(0.3 * (0.25 + 1.0))


def test_eurnn_angles_start_uniform_in_minus_pi_pi():
    angles = EURNN(3, 64, capacity=64).angles.detach()
    assert angles.abs().max() <= math.pi
    assert angles.mean().abs() < 0.15 and angles.std().item() == pytest.approx(math.pi / math.sqrt(3), rel=0.05)


def test_rotation_pairs_tunable():
    def as_lists(layers):
        return [list(zip(a.tolist(), b.tolist(), strict=True)) for a, b in layers]
    assert as_lists(rotation_pairs("tunable", 6, 3)) == [[(0, 1), (2, 3), (4, 5)], [(1, 2), (3, 4)],
                                                         [(0, 1), (2, 3), (4, 5)]]
    assert as_lists(rotation_pairs("tunable", 5, 2)) == [[(0, 1), (2, 3)], [(1, 2), (3, 4)]]
    assert as_lists(rotation_pairs("fft", 8)) == [[(0, 4), (1, 5), (2, 6), (3, 7)],
                                                  [(0, 2), (1, 3), (4, 6), (5, 7)],
                                                  [(0, 1), (2, 3), (4, 5), (6, 7)]]
    for first, second in rotation_pairs("fft", 16):                  # layer j: distance 16 / 2^(j+1)
        assert len(first) == 8 and len(set(first.tolist()) | set(second.tolist())) == 16
    assert [int((b - a)[0]) for a, b in rotation_pairs("fft", 16)] == [8, 4, 2, 1]


@pytest.mark.parametrize("make", [lambda: ExpRNN(3, 6), lambda: NNRNN(3, 6)], ids=["exprnn", "nnrnn"])
def test_matrix_exponential_once_per_forward_pass(make, monkeypatch):
    model, calls = make(), []
    matrix_exp = torch.linalg.matrix_exp
    monkeypatch.setattr(torch.linalg, "matrix_exp", lambda A: calls.append(A) or matrix_exp(A))
    model(torch.randn(2, 9, 3))
    assert len(calls) == 1


# --- invariants under training -------------------------------------------------------------------------------


def train(model, steps, **optimizer):
    optimization = Optimization(model, partial(torch.optim.RMSprop, lr=optimizer.pop("lr")), **optimizer)
    x = torch.randn(4, 6, 3, dtype=next(model.parameters()).dtype)
    target = torch.randn(4, 6, model.hidden_size, dtype=x.dtype)
    for _ in range(steps):
        out, _ = model(x)
        ((out - target).pow(2).mean() + out.pow(3).mean()).backward()
        optimization.step(model)
    return optimization


@pytest.mark.parametrize("dtype, tolerance", [(torch.float32, 1e-5), (torch.float64, 1e-12)])
@pytest.mark.parametrize("make", [lambda: ExpRNN(3, 8), lambda: ExpRNN(3, 8, recurrent_init="cayley"),
                                  lambda: EURNN(3, 8, capacity=6), lambda: EURNN(3, 8, style="fft")],
                         ids=["exprnn-henaff", "exprnn-cayley", "eurnn-tunable", "eurnn-fft"])
def test_orthogonal_after_training_with_a_large_learning_rate(make, dtype, tolerance):
    torch.manual_seed(0)          # the same draw whichever tests ran before in this process (pytest-xdist)
    model = make().to(dtype)
    before = model.recurrent_matrix().detach().clone()
    train(model, 100, lr=0.1, lr_orth=0.1)
    W = model.recurrent_matrix().detach()
    assert (W - before).abs().max() > 0.1                             # it really moved
    error = torch.linalg.matrix_norm(W.T @ W - torch.eye(8, dtype=dtype), ord=2)
    assert error < tolerance


def test_nnrnn_T_stays_strictly_lower_triangular_and_P_orthogonal():
    model = NNRNN(3, 8).double()
    train(model, 30, lr=0.05, lr_orth=0.05)
    T = model.triangular().detach()
    assert torch.count_nonzero(T) == 8 * 7 // 2                       # it was trained away from 0 ...
    assert torch.equal(T, torch.tril(T, -1))                          # ... and stayed strictly lower triangular
    P = model.orthogonal().detach()
    assert torch.allclose(P.T @ P, torch.eye(8, dtype=torch.float64), atol=1e-12)


def test_parameter_groups_get_lr_orth_and_triangular_decay():
    for model in (ExpRNN(3, 6), NNRNN(3, 6)):
        optimization = Optimization(model, partial(torch.optim.RMSprop, lr=1e-3), lr_orth=1e-5, triangular_decay=0.25)
        groups = {g["name"]: g for g in optimization.optimizer.param_groups}
        assert groups["orthogonal"]["lr"] == 1e-5 and groups["orthogonal"]["weight_decay"] == 0.0
        assert groups["main"]["lr"] == 1e-3
        assert [p is model.orthogonal.upper for p in groups["orthogonal"]["params"]] == [True]
        if isinstance(model, NNRNN):
            assert groups["triangular"]["weight_decay"] == 0.25 and groups["triangular"]["lr"] == 1e-3
            assert [p is model.lower for p in groups["triangular"]["params"]] == [True]
            assert not any(p is model.lower or p is model.orthogonal.upper for p in groups["main"]["params"])
        else:
            assert "triangular" not in groups


# --- non-linearities ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("make", [lambda nl: ExpRNN(3, 6, nonlinearity=nl), lambda nl: EURNN(3, 6, nonlinearity=nl),
                                  lambda nl: NNRNN(3, 6, nonlinearity=nl)], ids=["exprnn", "eurnn", "nnrnn"])
@pytest.mark.parametrize("nonlinearity", ["modrelu", "relu"])
def test_nonlinearity_is_applied(make, nonlinearity):
    model = make(nonlinearity).double()
    if nonlinearity == "modrelu":
        with torch.no_grad():
            model.activation.bias.fill_(-0.3)
    x = torch.randn(2, 4, 3, dtype=torch.float64)
    out, _ = model(x)
    W = model.recurrent_matrix().detach().numpy()
    U = model.input_proj.weight.detach().numpy()
    f = (lambda z: modrelu(z, -0.3)) if nonlinearity == "modrelu" else (lambda z: np.maximum(z, 0))
    np.testing.assert_allclose(out.detach().numpy(), numpy_rnn(W, U, x.numpy(), f), atol=1e-12)
    linear = numpy_rnn(W, U, x.numpy(), lambda z: z)
    assert np.abs(out.detach().numpy() - linear).max() > 0.1


# --- bad input -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("make, field", [
    (lambda: NNRNN(3, 7), "hidden_size"),
    (lambda: EURNN(3, 12, style="fft"), "hidden_size"),
    (lambda: EURNN(3, 8, capacity=0), "capacity"),
    (lambda: EURNN(3, 8, style="butterfly"), "style"),
    (lambda: ExpRNN(3, 8, recurrent_init="orthogonal"), "recurrent_init"),
    (lambda: NNRNN(3, 8, delta=-1.0), "delta"),
])
def test_bad_arguments_raise_config_error(make, field):
    with pytest.raises(ConfigError) as error:
        make()
    assert error.value.field == field and "\n" not in str(error.value)


@pytest.mark.parametrize("args, needle", [
    (["model=nnrnn", "model.hidden_size=7"], "error: model.hidden_size=7 is invalid: expected an even number"),
    (["model=eurnn", "model.style=fft", "model.hidden_size=12"],
     "error: model.hidden_size=12 is invalid: expected a power of two"),
    (["model=eurnn", "model.capacity=0"], "error: model.capacity=0 is invalid: expected a positive integer"),
])
def test_bad_input_cli_one_line_error(tmp_path, monkeypatch, args, needle):
    result = run_main([*args, *TINY, f"hydra.run.dir={tmp_path}"], monkeypatch)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(needle), result.stderr
    record = tmp_path / "result.json"
    assert not record.exists() or json.loads(record.read_text())["status"] == "failed"
