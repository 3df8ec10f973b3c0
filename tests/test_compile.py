"""torch.compile (trainer.compile=true) gives the same outputs and gradients as eager mode."""

import pytest
import torch

from rnnbench.experiment import build
from rnnbench.tasks.base import Batch, SequenceNetwork

from conftest import compose_config


@pytest.mark.xdist_group("native")                 # the plstm case compiles around the C++ kernel
@pytest.mark.parametrize("model, overrides", [("rnn", []), ("nnrnn", []), ("cwrnn", ["model.num_modules=2"]),
                                             ("plstm", [])])
def test_compiled_matches_eager(model, overrides, monkeypatch):
    monkeypatch.setenv("RNNBENCH_NATIVE", "1")
    torch.manual_seed(0)
    cfg = compose_config([f"model={model}", "~paper", "model.hidden_size=4", *overrides])
    net = SequenceNetwork(build(cfg.model, "model", input_size=3), torch.nn.Linear(4, 2))
    batch = Batch(torch.randn(2, 5, 3), torch.zeros(2, 5, dtype=torch.long))
    compiled = torch.compile(net, backend="aot_eager", fullgraph=False)

    def outputs_and_grads(fn):
        net.zero_grad()
        out, _ = fn(batch)
        out.square().sum().backward()
        return out.detach(), [p.grad.clone() for p in net.parameters()]

    eager_out, eager_grads = outputs_and_grads(net)
    compiled_out, compiled_grads = outputs_and_grads(compiled)
    torch.testing.assert_close(compiled_out, eager_out)
    for a, b in zip(compiled_grads, eager_grads, strict=True):
        torch.testing.assert_close(a, b)
