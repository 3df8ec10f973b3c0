"""RNN, LSTM and GRU against independent hand computations, and the recurrent initialisers."""

import math

import numpy as np
import pytest
import torch

from rnnbench.experiment import build
from rnnbench.models.activations import ModReLU
from rnnbench.models.gated import GRU, LSTM
from rnnbench.models.initializers import recurrent_init, skew_init
from rnnbench.models.rnn import RNN

from conftest import compose_config

torch.manual_seed(0)


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def numpy_params(module):
    return {k: v.detach().double().numpy() for k, v in module.named_parameters()}


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu", "modrelu"])
def test_rnn_matches_hand_loop(nonlinearity):
    model = RNN(3, 4, nonlinearity=nonlinearity, recurrent_init="orthogonal").double()
    if nonlinearity == "modrelu":
        torch.nn.init.uniform_(model.activation.bias, -0.5, 0.1)   # make the bias matter
    x = torch.randn(2, 5, 3, dtype=torch.float64)
    h0 = torch.randn(2, 4, dtype=torch.float64)
    out, h_last = model(x, h0)
    p = numpy_params(model)
    W, U, b = p["recurrent"], p["input_proj.weight"], p["input_proj.bias"]
    f = {"tanh": np.tanh, "relu": lambda z: np.maximum(z, 0),
         "modrelu": lambda z: np.sign(z) * np.maximum(np.abs(z) + p.get("activation.bias", 0), 0)}[nonlinearity]
    h = h0.numpy()
    for t in range(5):
        h = f(h @ W.T + x[:, t].numpy() @ U.T + b)
        np.testing.assert_allclose(out[:, t].detach().numpy(), h, atol=1e-12)
    np.testing.assert_allclose(h_last.detach().numpy(), h, atol=1e-12)


def autograd_elman(model, x, h0):
    """The same recurrence, one autograd op at a time through the activation module."""
    W, h, outputs = model.recurrent_matrix(), h0, []
    for u in model.input_proj(x).unbind(1):
        h = model.activation(u + h @ W.T)
        outputs.append(h)
    return torch.stack(outputs, 1), h


@pytest.mark.parametrize("model_name, nonlinearity", [("rnn", "tanh"), ("rnn", "relu"), ("rnn", "modrelu"),
                                                      ("exprnn", "modrelu"), ("nnrnn", "modrelu")])
def test_fused_recurrence_backward_matches_autograd(model_name, nonlinearity):
    """ElmanRecurrence's hand-written backward gives autograd's gradients for every parameter and h0."""
    torch.manual_seed(1)
    model = build(compose_config([f"model={model_name}", "~paper", "model.hidden_size=6",
                                  f"model.nonlinearity={nonlinearity}"]).model, "model", input_size=3).double()
    if nonlinearity == "modrelu":
        torch.nn.init.uniform_(model.activation.bias, -0.5, 0.2)     # some units cut off, some passed
    x = torch.randn(4, 7, 3, dtype=torch.float64)
    h0 = torch.randn(4, 6, dtype=torch.float64, requires_grad=True)
    inputs = [h0, *model.parameters()]
    names = ["h0", *(name for name, _ in model.named_parameters())]
    out_weights, last_weights = torch.randn(4, 7, 6, dtype=torch.float64), torch.randn(4, 6, dtype=torch.float64)
    results = []
    for forward in (model, lambda x, h: autograd_elman(model, x, h)):
        out, last = forward(x, h0)
        results.append((out, last, torch.autograd.grad((out * out_weights).sum() + (last * last_weights).sum(),
                                                       inputs)))
    (out, last, grads), (ref_out, ref_last, ref_grads) = results
    torch.testing.assert_close(out, ref_out, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(last, ref_last, rtol=1e-12, atol=1e-12)
    if nonlinearity != "tanh":
        assert (out == 0).any() and (out != 0).any()                  # both branches of the kink exercised
    for name, a, b in zip(names, grads, ref_grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12, msg=f"gradient of {name}")


def test_modrelu_definition():
    act = ModReLU(3)
    with torch.no_grad():
        act.bias.copy_(torch.tensor([-0.5, 0.2, -2.0]))
    z = torch.tensor([[1.0, -1.0, 1.5]])
    # sign(z) relu(|z| + b): 1·relu(0.5), −1·relu(1.2), 1·relu(−0.5)
    assert torch.allclose(act(z), torch.tensor([[0.5, -1.2, 0.0]]))


def test_lstm_matches_hand_computation():
    model = LSTM(3, 4).double()
    x = torch.randn(2, 6, 3, dtype=torch.float64)
    out, (h_n, c_n) = model(x)
    p = numpy_params(model.rnn)
    W, R = p["weight_ih_l0"], p["weight_hh_l0"]
    b = p["bias_ih_l0"] + p["bias_hh_l0"]
    h, c = np.zeros((2, 4)), np.zeros((2, 4))
    for t in range(6):
        z = x[:, t].numpy() @ W.T + h @ R.T + b
        i, f, g, o = np.split(z, 4, axis=1)
        c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
        h = sigmoid(o) * np.tanh(c)
        np.testing.assert_allclose(out[:, t].detach().numpy(), h, atol=1e-12)
    assert h_n.shape == c_n.shape == (2, 4)                   # the contract: [B, H] state tensors
    np.testing.assert_allclose(c_n.detach().numpy(), c, atol=1e-12)


def test_gru_matches_hand_computation():
    model = GRU(3, 4, weight_init="glorot_normal").double()
    with torch.no_grad():
        for name, param in model.rnn.named_parameters():
            if "bias" in name:
                param.normal_()
    x = torch.randn(2, 6, 3, dtype=torch.float64)
    out, _ = model(x)
    p = numpy_params(model.rnn)
    Wr, Wz, Wn = np.split(p["weight_ih_l0"], 3)
    Ur, Uz, Un = np.split(p["weight_hh_l0"], 3)
    br, bz, bn = np.split(p["bias_ih_l0"], 3)
    cr, cz, cn = np.split(p["bias_hh_l0"], 3)
    h = np.zeros((2, 4))
    for t in range(6):
        xt = x[:, t].numpy()
        r = sigmoid(xt @ Wr.T + br + h @ Ur.T + cr)
        z = sigmoid(xt @ Wz.T + bz + h @ Uz.T + cz)
        n = np.tanh(xt @ Wn.T + bn + r * (h @ Un.T + cn))
        h = (1 - z) * n + z * h
        np.testing.assert_allclose(out[:, t].detach().numpy(), h, atol=1e-12)


def test_state_continues_a_sequence():
    """Running in two halves, passing the state, equals running once (the contract's state)."""
    for model in (RNN(3, 5), LSTM(3, 5), GRU(3, 5)):
        x = torch.randn(2, 8, 3)
        whole, _ = model(x)
        first, state = model(x[:, :4])
        second, _ = model(x[:, 4:], state)
        assert torch.allclose(torch.cat([first, second], 1), whole, atol=1e-6)


@pytest.mark.parametrize("name", ["orthogonal", "henaff", "cayley"])
def test_orthogonal_inits(name):
    W = recurrent_init(name, 16).double()
    assert torch.allclose(W.T @ W, torch.eye(16, dtype=torch.float64), atol=1e-5)


@pytest.mark.parametrize("name", ["henaff", "cayley"])
def test_skew_init_block_structure(name):
    A = skew_init(name, 10)
    assert torch.allclose(A, -A.T)
    blocks = torch.block_diag(*[A[i:i + 2, i:i + 2] for i in range(0, 10, 2)])
    assert torch.equal(A, blocks)                                   # 2×2 blocks only
    s = A[torch.arange(0, 10, 2), torch.arange(1, 10, 2)]
    if name == "henaff":
        assert s.abs().max() <= math.pi
    else:  # s = −sqrt((1 − cos t)/(1 + cos t)) = −tan(t/2) with t in [0, π/2] → s in [−1, 0]
        assert s.max() <= 0 and s.min() >= -1
    # eigenvalues of expm(A) are e^{±i s}: on the unit circle with those angles
    eig = torch.linalg.eigvals(torch.linalg.matrix_exp(A.double()))
    assert torch.allclose(eig.abs(), torch.ones(10, dtype=torch.float64), atol=1e-10)
    angles = torch.sort(eig.angle().abs()).values
    expected = torch.sort(torch.cat([s.abs(), s.abs()]).double()).values
    assert torch.allclose(angles, expected, atol=1e-6)


def test_identity_and_glorot_inits():
    assert torch.equal(recurrent_init("identity", 5), torch.eye(5))
    W = recurrent_init("glorot_normal", 400)
    assert W.std().item() == pytest.approx(math.sqrt(2 / 800), rel=0.02)
    K = recurrent_init("kaiming", 400)
    assert K.std().item() == pytest.approx(math.sqrt(2 / 400), rel=0.02)
