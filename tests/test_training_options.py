"""Options that reproduce the authors' training set-ups, each against a hand-computed case: TF1 RMSProp, the
continuous exponential decay, clipping by value, the LSTM's forget bias and one bias per gate; the explosion flag
and the code revision in the record."""

import math
from functools import partial

import pytest
import torch
from torch import nn
from torch.optim.lr_scheduler import ReduceLROnPlateau

from rnnbench.models.gated import LSTM
from rnnbench.optim import Optimization
from rnnbench.schedules import ContinuousExponentialLR
from rnnbench.tf_rmsprop import TFRMSprop
from rnnbench.train import explosion

from conftest import TINY, run_inprocess


def test_tf_rmsprop_first_steps_by_hand():
    param = nn.Parameter(torch.tensor([1.0, -2.0], dtype=torch.float64))
    optimizer = TFRMSprop([param], lr=0.1, decay=0.9, eps=1e-10)
    expected, mean_square = param.detach().clone(), torch.ones(2, dtype=torch.float64)   # TF1: ms starts at 1
    for grad in ([0.5, -1.0], [2.0, 0.25]):
        g = torch.tensor(grad, dtype=torch.float64)
        param.grad = g.clone()
        optimizer.step()
        mean_square = 0.9 * mean_square + 0.1 * g * g
        expected -= 0.1 * g / torch.sqrt(mean_square + 1e-10)
        torch.testing.assert_close(param.detach(), expected, rtol=1e-15, atol=0)
    # first step by hand: ms = 0.9 + 0.1·0.25 = 0.925, θ = 1 − 0.1·0.5/√(0.925 + ε)
    first = 1 - 0.1 * 0.5 / math.sqrt(0.925 + 1e-10)
    param2 = nn.Parameter(torch.tensor([1.0], dtype=torch.float64))
    step = TFRMSprop([param2], lr=0.1)
    param2.grad = torch.tensor([0.5], dtype=torch.float64)
    step.step()
    assert param2.item() == pytest.approx(first, rel=1e-14)
    # torch's RMSprop (mean square from 0, ε outside the root) takes a ~3× larger first step
    param3 = nn.Parameter(torch.tensor([1.0], dtype=torch.float64))
    torch_step = torch.optim.RMSprop([param3], lr=0.1, alpha=0.9)
    param3.grad = torch.tensor([0.5], dtype=torch.float64)
    torch_step.step()
    assert (1 - param3.item()) / (1 - param2.item()) == pytest.approx(math.sqrt(0.925 / 0.025), rel=1e-6)


def test_tf_rmsprop_momentum_and_bad_values():
    param = nn.Parameter(torch.tensor([0.0], dtype=torch.float64))
    optimizer = TFRMSprop([param], lr=1.0, decay=0.0, momentum=0.5, eps=0.0)
    for _ in range(2):                                        # ms = g² = 1: update = 1, momentum 0.5: 1 then 1.5
        param.grad = torch.tensor([1.0], dtype=torch.float64)
        optimizer.step()
    assert param.item() == pytest.approx(-2.5)
    with pytest.raises(ValueError, match="decay"):
        TFRMSprop([param], decay=1.5)


def one_parameter_net(value=1.0):
    net = nn.Linear(1, 1, bias=False)
    nn.init.constant_(net.weight, value)
    return net


def test_exponential_decay_is_continuous():
    net = one_parameter_net()
    optimization = Optimization(net, partial(torch.optim.SGD, lr=0.01),
                                partial(ContinuousExponentialLR, decay_rate=0.9, decay_steps=50))
    rates = []
    for _ in range(101):
        rates.append(optimization.optimizer.param_groups[0]["lr"])
        net(torch.ones(1, 1)).sum().backward()
        optimization.step(net)
    for step in (0, 1, 25, 50, 100):                          # lr · 0.9^(step / 50), no staircase
        assert rates[step] == pytest.approx(0.01 * 0.9 ** (step / 50), rel=1e-12)


def test_clip_by_value_then_norm():
    net = nn.Linear(3, 1, bias=False)
    with torch.no_grad():
        net.weight.zero_()
    optimization = Optimization(net, partial(torch.optim.SGD, lr=1.0), clip_value=2.0)
    (net(torch.tensor([[5.0, -0.5, -30.0]]))).sum().backward()     # gradient (5, −0.5, −30)
    norm = optimization.step(net)
    assert norm.item() == pytest.approx(math.sqrt(25 + 0.25 + 900))  # reported before clipping
    torch.testing.assert_close(net.weight.detach(), torch.tensor([[-2.0, 0.5, 2.0]]))
    both = Optimization(net, partial(torch.optim.SGD, lr=1.0), clip_value=2.0, clip_norm=1.0)
    with torch.no_grad():
        net.weight.zero_()
    (net(torch.tensor([[5.0, -0.5, -30.0]]))).sum().backward()
    both.step(net)
    clipped = torch.tensor([2.0, -0.5, -2.0])
    torch.testing.assert_close(net.weight.detach()[0], -clipped / clipped.norm())


def test_lstm_forget_bias_and_one_bias_per_gate():
    torch.manual_seed(0)
    model = LSTM(1, 3, weight_init="tf_glorot_uniform", hidden_bias=False, forget_bias=5.0)
    rnn = model.rnn
    assert torch.equal(rnn.bias_ih_l0[3:6], torch.full((3,), 5.0)) and not rnn.bias_ih_l0[:3].any()
    assert not rnn.bias_hh_l0.any() and not rnn.bias_hh_l0.requires_grad
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == 4 * (3 * (1 + 3) + 3)   # TF's count
    bound = math.sqrt(6 / (1 + 3 + 12))                      # TF's joint [I + H, 4H] kernel
    assert rnn.weight_ih_l0.abs().max() <= bound and rnn.weight_hh_l0.abs().max() <= bound
    # the forget gate at zero input and state: σ(5) keeps the cell; c₁ = σ(5)·c₀ + σ(0)·tanh(0)
    c0 = torch.ones(1, 3)
    _, (_, c1) = model(torch.zeros(1, 1, 1), (torch.zeros(1, 3), c0))
    torch.testing.assert_close(c1, torch.sigmoid(torch.tensor(5.0)) * c0)


def test_explosion_flag_on_synthetic_curves():
    def rows(losses):
        return [{"step": 50 * (i + 1), "train/loss": loss} for i, loss in enumerate(losses)]
    assert explosion(rows([2.2, 1.0, 0.5, 0.01]), 10) is None
    assert explosion(rows([2.2, 6.3e8, 0.9]), 10) == {"step": 100, "loss": 6.3e8, "threshold": 22.0}
    assert explosion(rows([0.2, 0.3, 2.5]), 10)["step"] == 150
    assert explosion([], 10) is None
    # never above 10x, but ended worse than untrained (the cross table's EURNN on PTB: 4.04 ... 23.5)
    assert explosion(rows([4.04, 2.55, 9.3, 23.5]), 10) == {"step": 200, "loss": 23.5, "threshold": 1.5 * 4.04}
    assert explosion(rows([4.04, 2.55, 9.3, 3.0]), 10) is None          # a spike it recovered from
    assert explosion(rows([0.597, 0.69, 0.707]), 10) is None            # never learned (binary, ln 2): 1.18x


def test_record_states_code_revision_and_explosion(tmp_path):
    code, record = run_inprocess(tmp_path, ["model=rnn", "model.hidden_size=8", "task=copy", "task.T=10", *TINY])
    assert code == 0 and record["status"] == "completed"
    assert set(record["code"]) == {"commit", "dirty"}
    assert record["code"]["commit"] is None or len(record["code"]["commit"]) == 40
    assert record["exploded"] is False and "explosion" not in record


def test_the_first_log_point_is_the_first_step(tmp_path):
    """Curves start at the untrained network's loss, so a blow-up inside the first log_every steps (the PTB RNN
    preset: loss 7e10 averaged over steps 1-100) is measured against it and flagged."""
    args = ["model=rnn", "model.hidden_size=8", "task=copy", "task.T=10", *TINY, "trainer.log_every=3",
            "trainer.max_steps=6", "trainer.eval_every=6"]
    assert run_inprocess(tmp_path, args)[0] == 0
    steps = [int(line.split(",")[0]) for line in (tmp_path / "metrics.csv").read_text().splitlines()[1:]]
    assert steps == [1, 3, 6]


def test_a_huge_finite_gradient_is_not_an_infinite_norm():
    net = one_parameter_net()
    optimization = Optimization(net, partial(torch.optim.SGD, lr=1e-3), clip_value=10.0)
    (1e21 * net(torch.ones(1, 1))).sum().backward()             # float32 g² overflows, g does not
    norm = optimization.step(net)
    assert math.isfinite(norm.item()) and norm.item() == pytest.approx(1e21, rel=1e-6)
    assert net.weight.item() == pytest.approx(1.0 - 1e-3 * 10.0)  # clipped to 10, then one SGD step


def test_halving_on_plateau_as_in_the_authors_language_task():
    net = one_parameter_net()
    optimization = Optimization(net, partial(torch.optim.SGD, lr=1.0),
                                partial(ReduceLROnPlateau, factor=0.5, patience=0, threshold=0))
    rates = []
    for val_loss in [3.0, 2.5, 2.5, 2.4, 2.6, 2.7, 2.39]:     # halve after every evaluation without a new best
        optimization.after_eval(val_loss)
        rates.append(optimization.optimizer.param_groups[0]["lr"])
    assert rates == [1.0, 1.0, 0.5, 0.5, 0.25, 0.125, 0.125]
