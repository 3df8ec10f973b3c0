"""Options that let a preset follow an author's script: each against a hand-computed case or its formula.

The Phased LSTM reproduction's MNIST script (TF): BasicLSTMCell's forget bias inside the gate, a random initial
state, τ = exp(U(0, 6)) and s ~ U(0, τ), TF's Glorot-uniform kernels, its dense readout. The nnRNN scripts
(torch): Xavier-normal input weights, torch's default input bias, one Linear per LSTM gate, the copy task's scalar
input, the Xavier-normal readout.
"""

import math

import pytest
import torch

from rnnbench.models.gated import LSTM
from rnnbench.models.plstm import PhasedLSTM
from rnnbench.models.rnn import RNN
from rnnbench.tasks.copy import CopyTask


def tf_basic_lstm_step(x, h, c, kernel, bias, forget_bias):
    """TF1 BasicLSTMCell, one step: [i, j, f, o] = [x, h] K + b; c' = c σ(f + forget_bias) + σ(i) tanh(j)."""
    i, j, f, o = (torch.cat([x, h], 1) @ kernel + bias).chunk(4, 1)
    c = c * torch.sigmoid(f + forget_bias) + torch.sigmoid(i) * torch.tanh(j)
    return torch.tanh(c) * torch.sigmoid(o), c


def test_forget_bias_inside_the_gate_equals_a_bias_initialised_at_it():
    """Ours (one trainable bias per gate, the forget gate's initialised to 1) and TF's constant 1 added inside the
    gate to a zero bias: the same outputs, and the same gradients for every weight and bias."""
    torch.manual_seed(0)
    lstm = LSTM(3, 4, weight_init="tf_glorot_uniform", hidden_bias=False, forget_bias=1.0).double()
    rnn = lstm.rnn
    assert torch.equal(rnn.bias_ih_l0[4:8], torch.ones(4, dtype=torch.float64))
    # torch's gate order i, f, g, o -> TF's i, j(=g), f, o, as one [I + H, 4H] kernel
    order = [0, 2, 1, 3]
    blocks = lambda w: torch.cat([w[4 * k:4 * (k + 1)] for k in order])          # noqa: E731
    kernel = torch.cat([blocks(rnn.weight_ih_l0), blocks(rnn.weight_hh_l0)], 1).t().detach().requires_grad_()
    bias = (blocks(rnn.bias_ih_l0) - torch.tensor([0.0] * 8 + [1.0] * 4 + [0.0] * 4, dtype=torch.float64)
            ).detach().requires_grad_()
    assert torch.equal(bias, torch.zeros(16, dtype=torch.float64))
    x = torch.randn(2, 5, 3, dtype=torch.float64)
    h = c = torch.zeros(2, 4, dtype=torch.float64)
    outputs = []
    for t in range(5):
        h, c = tf_basic_lstm_step(x[:, t], h, c, kernel, bias, forget_bias=1.0)
        outputs.append(h)
    ours, _ = lstm(x)
    torch.testing.assert_close(ours, torch.stack(outputs, 1))
    ours.sum().backward()
    torch.stack(outputs, 1).sum().backward()
    torch.testing.assert_close(kernel.grad.t(), torch.cat([blocks(rnn.weight_ih_l0.grad),
                                                           blocks(rnn.weight_hh_l0.grad)], 1))
    torch.testing.assert_close(bias.grad, blocks(rnn.bias_ih_l0.grad))
    assert not rnn.bias_hh_l0.requires_grad


@pytest.mark.parametrize("model", [lambda: LSTM(1, 6, initial_state_std=0.1),
                                   lambda: PhasedLSTM(1, 6, initial_state_std=0.1)])
def test_a_random_initial_state_is_drawn_n_0_std2_for_every_call(model):
    """With no state given, (h, c) are torch.randn(B, H) · std from the global generator, a new draw per call;
    passing that state explicitly gives the same outputs."""
    torch.manual_seed(1)
    core = model()
    x = torch.rand(3, 4, 1)
    torch.manual_seed(7)
    first, _ = core(x)
    second, _ = core(x)
    torch.manual_seed(7)
    h0, c0 = torch.randn(3, 6) * 0.1, torch.randn(3, 6) * 0.1
    explicit, _ = core(x, (h0, c0))
    torch.testing.assert_close(first, explicit)
    assert not torch.equal(first, second)
    zero_state = type(core)(1, 6) if isinstance(core, LSTM) else None
    if zero_state is not None:                       # the default is unchanged: zeros
        torch.testing.assert_close(zero_state(x)[0], zero_state(x, (torch.zeros(3, 6),) * 2)[0])


def test_random_exp_initializer_is_log_uniform_and_the_shift_uniform_below_each_period():
    """τ = exp(U(0, 6)) (the MNIST script's random_exp_initializer with tau_init 6): log τ has mean 3 and variance
    3, τ has mean (e⁶ − 1)/6 ≈ 67.1; s ~ U(0, τ) per unit: s/τ has mean 1/2 and variance 1/12."""
    torch.manual_seed(0)
    model = PhasedLSTM(1, 500, period_init_low=0.0, period_init_high=6.0, shift_max="period")
    draws = []
    for _ in range(80):                                         # 40,000 units' draws
        model.reset_parameters()
        draws.append((model.periods_and_open_ratios()[0], model.shift.detach().clone()))
    period, shift = (torch.cat(parts) for parts in zip(*draws, strict=True))
    log_period = period.log()
    assert abs(log_period.mean() - 3.0) < 0.03 and abs(log_period.var() - 3.0) < 0.05
    assert log_period.min() >= 0 and log_period.max() <= 6
    assert abs(period.mean() - (math.exp(6) - 1) / 6) < 2.0
    ratio = shift / period
    assert ratio.min() >= 0 and ratio.max() <= 1
    assert abs(ratio.mean() - 0.5) < 0.01 and abs(ratio.var() - 1 / 12) < 0.003


def test_tf_glorot_uniform_kernels_and_peepholes():
    """The joint kernel [I + H, 4H]: U(±√(6 / (I + 5H))) for W and U; peephole vectors [H]: U(±√(3 / H))."""
    torch.manual_seed(0)
    inputs, hidden = 3, 256
    model = PhasedLSTM(inputs, hidden, weight_init="tf_glorot_uniform")
    bound = math.sqrt(6 / (inputs + 5 * hidden))
    for weight in (model.input_proj.weight, model.recurrent.weight):
        assert weight.abs().max() <= bound and abs(weight.std() - bound / math.sqrt(3)) < 0.02 * bound
    peephole_bound = math.sqrt(3 / hidden)
    assert model.peepholes.abs().max() <= peephole_bound
    assert abs(model.peepholes.std() - peephole_bound / math.sqrt(3)) < 0.06 * peephole_bound
    lstm = LSTM(inputs, hidden, weight_init="tf_glorot_uniform")
    assert lstm.rnn.weight_hh_l0.abs().max() <= bound


def test_rnn_input_init_xavier_and_default_bias():
    """``input_init: xavier``: std √(2 / (fan_in + fan_out)) (torch's xavier_normal_, the scripts' --iinit xavier);
    ``bias_init: default``: U(±1/√fan_in), torch's nn.Linear bias."""
    torch.manual_seed(0)
    model = RNN(64, 512, input_init="xavier", bias_init="default")
    weight, bias = model.input_proj.weight, model.input_proj.bias
    assert abs(weight.std() - math.sqrt(2 / (64 + 512))) < 0.01 * math.sqrt(2 / 576)
    assert bias.abs().max() <= 1 / 8 and abs(bias.std() - (1 / 8) / math.sqrt(3)) < 0.01
    kaiming = RNN(64, 512).input_proj
    assert abs(kaiming.weight.std() - math.sqrt(2 / 64)) < 0.01 * math.sqrt(2 / 64) and not kaiming.bias.any()


def test_lstm_gate_glorot_normal_is_one_xavier_linear_per_gate():
    """The nnRNN authors' LSTM.py: each gate nn.Linear(I + H, H) with xavier_normal_ weights, std
    √(2 / (I + 2H)), over [W_g | U_g]; its bias torch's default U(±1/√(I + H)); the hidden bias 0."""
    torch.manual_seed(0)
    inputs, hidden = 40, 200
    rnn = LSTM(inputs, hidden, weight_init="gate_glorot_normal", hidden_bias=False).rnn
    std = math.sqrt(2 / (inputs + 2 * hidden))
    for gate in range(4):
        rows = slice(gate * hidden, (gate + 1) * hidden)
        joint = torch.cat([rnn.weight_ih_l0[rows], rnn.weight_hh_l0[rows]], 1)
        assert abs(joint.std() - std) < 0.02 * std and abs(joint.mean()) < 0.05 * std
    bound = 1 / math.sqrt(inputs + hidden)
    assert rnn.bias_ih_l0.abs().max() <= bound and not rnn.bias_hh_l0.any()


def test_copy_scalar_encoding_is_the_symbol_id():
    onehot = CopyTask(T=5, encoding="onehot").train_batch(0)
    scalar = CopyTask(T=5, encoding="scalar").train_batch(0)
    assert CopyTask(T=5, encoding="scalar").input_size == 1 and scalar.inputs.shape == (10, 25, 1)
    assert torch.equal(scalar.inputs[..., 0].long(), onehot.inputs.argmax(-1))
    assert torch.equal(scalar.targets, onehot.targets)


def test_head_inits():
    """``tf_glorot_uniform``: U(±√(6 / (H + O))) weights, zero bias (TF's dense layer); ``xavier_normal``:
    N(0, 2 / (H + O)) weights and torch's default bias (the nnRNN scripts)."""
    torch.manual_seed(0)
    core = RNN(1, 400)
    tf_head = CopyTask(T=5, encoding="scalar", head_init="tf_glorot_uniform").network(core).head
    bound = math.sqrt(6 / (400 + 9))
    assert tf_head.weight.abs().max() <= bound and abs(tf_head.weight.std() - bound / math.sqrt(3)) < 0.03 * bound
    assert not tf_head.bias.any()
    normal = CopyTask(T=5, encoding="scalar", head_init="xavier_normal").network(core).head
    assert abs(normal.weight.std() - math.sqrt(2 / 409)) < 0.03 * math.sqrt(2 / 409) and normal.bias.any()


def test_head_init_refused_where_the_task_builds_its_own_head():
    from rnnbench.config_checks import ConfigError
    from rnnbench.tasks.frequency import FrequencyTask
    with pytest.raises(ConfigError, match="head_init='xavier_normal' is invalid"):
        FrequencyTask(head_init="xavier_normal")
    with pytest.raises(ConfigError, match="head_init='x' is invalid"):
        CopyTask(T=5, head_init="x")
