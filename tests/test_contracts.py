"""Every model in conf/model/ and every task in conf/task/ against the contracts of rnnbench.contracts, and the
README's promise: a new model or task is one Python file plus one YAML file, nothing else edited."""

import shutil
import subprocess
import sys
import textwrap

import pytest
import torch
from hydra.utils import instantiate

from rnnbench.contracts import REQUIRED_METRICS, RecurrentModel, TaskContract, missing_metrics
from rnnbench.tasks.base import Batch

from conftest import CONF, ROOT, compose_config

MODELS = sorted(p.stem for p in (CONF / "model").glob("*.yaml"))
TASKS = sorted(p.stem for p in (CONF / "task").glob("*.yaml"))
SMALL_MODEL = {"cwrnn": ["model.num_modules=2"], "eurnn": ["model.hidden_size=8"]}   # periods 1, 2


@pytest.mark.parametrize("name", MODELS)
def test_every_model_keeps_the_model_contract(name):
    """Outputs ``[B, T, hidden_size]``; the returned state continues the sequence: two calls (the second given
    the first's state, and the timestamps of its steps) give the outputs of one call over the whole sequence."""
    cfg = compose_config([f"model={name}", "model.hidden_size=8", *SMALL_MODEL.get(name, []), "~paper"])
    torch.manual_seed(0)
    model = instantiate(cfg.model, input_size=3).double()
    assert isinstance(model, RecurrentModel)
    x = torch.randn(2, 8, 3, dtype=torch.float64)
    times = torch.arange(8, dtype=torch.float64) * torch.tensor([[1.0], [0.7]], dtype=torch.float64)
    whole, _ = model(x, times=times)
    assert whole.shape == (2, 8, model.hidden_size)
    first, state = model(x[:, :4], times=times[:, :4])
    for part in state if isinstance(state, tuple) else (state,):           # one rule: [B, H] tensors
        assert part.shape == (2, model.hidden_size)
    second, _ = model(x[:, 4:], state, times=times[:, 4:])
    torch.testing.assert_close(torch.cat([first, second], 1), whole)
    shared, _ = model(x, times=times[:1])                                   # [1, T]: shared by the batch
    torch.testing.assert_close(shared, model(x, times=times[:1].expand(2, 8).contiguous())[0])
    assert type(model).extra_repr is not torch.nn.Module.extra_repr        # print(model) shows its settings


@pytest.mark.parametrize("name", MODELS)
def test_reset_parameters_draws_every_parameter_again(name):
    """After training has moved every parameter, ``reset_parameters()`` restores the deterministically initialised
    ones exactly (equal at two seeds: biases, γ = 1, T = 0, r_on) and draws the random ones again."""
    cfg = compose_config([f"model={name}", "model.hidden_size=8", *SMALL_MODEL.get(name, []), "~paper"])
    built = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        built.append(instantiate(cfg.model, input_size=3))
    model, other = built
    initial = {k: v.detach().clone() for k, v in model.named_parameters()}
    with torch.no_grad():
        for param in model.parameters():
            param.add_(0.5)
    model.reset_parameters()
    for key, param in model.named_parameters():
        if torch.equal(initial[key], dict(other.named_parameters())[key]):       # a deterministic init
            assert torch.equal(param, initial[key]), key
        else:
            assert not torch.equal(param, initial[key] + 0.5) and param.std() > 0, key


def test_print_shows_the_configuration():
    from rnnbench.models.nnrnn import NNRNN
    from rnnbench.models.plstm import PhasedLSTM
    assert NNRNN(2, 8, delta=0.15).extra_repr() == "hidden_size=8, nonlinearity=modrelu, delta=0.15"
    assert "clock_periods=[1, 2]" in repr(instantiate(compose_config(["model=cwrnn", "model.hidden_size=4",
                                                                      "model.num_modules=2", "~paper"]).model,
                                                       input_size=1))
    assert PhasedLSTM(1, 4, time_gate=False).extra_repr() == \
        "hidden_size=4, peepholes=True, time_gate=False, grad_clip=10.0, weight_init=normal"


def small_task(name: str):
    overrides = {"copy": ["task.T=5", "task.eval_size=4"], "adding": ["task.T=6", "task.eval_size=4"],
                 "frequency": ["task.eval_size=4", "task.batch_size=2"], "ptb": ["task.bptt=5", "task.batch_size=2"],
                 "mnist": ["task.pixels_per_step=28", "task.batch_size=2"], "spoken": ["task.batch_size=2"]}
    cfg = compose_config([f"task={name}", "model=rnn", *overrides.get(name, []), "~paper"])
    return instantiate(cfg.task, device=torch.device("cpu"), seed=0)


@pytest.mark.parametrize("name", TASKS)
def test_every_task_keeps_the_task_contract(name):
    """Members present; a batch through a network built by the task gives a finite scalar loss and metrics
    that include ``loss``, for the training batch and the first validation and test batches."""
    task = small_task(name)
    assert isinstance(task, TaskContract)
    assert task.readout in ("every", "last") and task.steps_per_epoch > 0 and task.epochs > 0
    torch.manual_seed(0)
    net = task.network(instantiate(compose_config(["model=rnn", "model.hidden_size=4", "~paper"]).model,
                                   input_size=task.input_size))
    batches = [task.train_batch(0), next(iter(task.eval_batches("val"))), next(iter(task.eval_batches("test")))]
    for batch in batches:
        assert isinstance(batch, Batch)
        outputs, _ = net(batch)
        loss = task.loss(outputs, batch)
        assert loss.ndim == 0 and torch.isfinite(loss)
        metrics = task.metrics(outputs, batch)
        assert missing_metrics(metrics) == [] and set(REQUIRED_METRICS) <= set(metrics)
        total, count = metrics["loss"]
        assert count > 0 and torch.isfinite(torch.as_tensor(total))


TOY_MODEL = '''
"""A toy recurrent model: h_t = tanh(W x_t + a * h_{t-1})."""
import torch
from torch import nn


class LeakyToy(nn.Module):
    def __init__(self, input_size, hidden_size, decay=0.5):
        super().__init__()
        self.hidden_size, self.decay = hidden_size, decay
        self.input_proj = nn.Linear(input_size, hidden_size)

    def forward(self, x, state=None, *, times=None):
        h = x.new_zeros(x.shape[0], self.hidden_size) if state is None else state
        outputs = []
        for u in self.input_proj(x).unbind(1):
            h = torch.tanh(u + self.decay * h)
            outputs.append(h)
        return torch.stack(outputs, 1), h
'''

TOY_TASK = '''
"""A toy task: is the sum of the sequence positive?"""
import torch
import torch.nn.functional as F

from rnnbench.tasks.base import Batch, GeneratedTask, SequenceClassification


class SignTask(SequenceClassification, GeneratedTask):
    name = "sign"
    input_size, output_size = 1, 2

    def __init__(self, length=6, **kwargs):
        super().__init__(**kwargs)
        self.length = length

    def generate(self, n, generator):
        x = torch.randn(n, self.length, 1, generator=generator, device=self.device)
        return Batch(inputs=x, targets=(x.sum((1, 2)) > 0).long())
'''


def test_a_new_model_and_task_are_one_file_and_one_yaml_each(tmp_path):
    """The toy model and task above, each a module plus a YAML file in a copy of conf/, train through run.py."""
    shutil.copytree(CONF, tmp_path / "conf")
    shutil.copy(ROOT / "run.py", tmp_path / "run.py")
    (tmp_path / "toy_model.py").write_text(TOY_MODEL)
    (tmp_path / "toy_task.py").write_text(TOY_TASK)
    (tmp_path / "conf" / "model" / "toy.yaml").write_text("_target_: toy_model.LeakyToy\nhidden_size: 8\ndecay: 0.5\n")
    (tmp_path / "conf" / "task" / "sign.yaml").write_text(textwrap.dedent("""\
        _target_: toy_task.SignTask
        length: 6
        batch_size: 16
        eval_size: 64
        eval_batch_size: 64
        epochs: 2
        steps_per_epoch: 10
    """))
    result = subprocess.run([sys.executable, "run.py", "model=toy", "task=sign", "trainer.eval_every=10",
                             "trainer.progress=false", "device=cpu", f"hydra.run.dir={tmp_path / 'run'}"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    record = (tmp_path / "run" / "result.json").read_text()
    assert '"status": "completed"' in record and '"test/accuracy"' in record
    assert "sign / toy" in result.stdout
