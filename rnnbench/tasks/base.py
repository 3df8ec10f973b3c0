"""The task base class (defaults for the task contract of :mod:`rnnbench.contracts`), samplers and the network
a task wraps around a recurrent core.

A task owns its data on the run's device, its loss and its metrics. The trainer only calls:

``train_batch(step) -> Batch``      the training batch for a global step (deterministic in (seed, step),
                                    so a resumed run sees exactly the batches it would have seen);
``eval_batches(split) -> Batches``  fixed validation ("val") and test ("test") batches;
``loss(outputs, batch)``            the scalar training loss: ``criterion(outputs, batch, "mean")``, the same
                                    criterion whose "sum" is the ``loss`` metric;
``metrics(outputs, batch)``         ``{name: (sum, count)}`` tensors, summed over eval batches;
``network(core)``                   encoder → core → readout head (:class:`SequenceNetwork`);
``report(net, run_dir)``            optional artifacts after training (plots), recorded as ``artifacts``.

Attributes: ``input_size``, ``output_size``, ``readout`` ("every" step or "last" step),
``head_init`` (the readout's initialisation, :data:`HEAD_INITS`; a task with its own head accepts only
``default``), ``carries_state`` (TBPTT: the final state of one batch starts the next; the trainer detaches it and
resets it every ``steps_per_epoch`` steps), ``steps_per_epoch`` and ``epochs`` (the default budget, in epochs;
the trainer owns the budget: ``trainer.max_steps`` or ``trainer.epochs`` override it), ``constants``
(reference values such as a task's trivial baseline, copied into the run record).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from rnnbench.config_checks import positive_int, require_choice
from rnnbench.contracts import Batch

# The readout's initialisation: torch's nn.Linear default; TensorFlow's dense layer (xavier_initializer: Glorot-
# uniform weights, zero bias); the nnRNN scripts' (xavier_normal_ weights, torch's default bias).
HEAD_INITS = ("default", "tf_glorot_uniform", "xavier_normal")


def make_generator(device: torch.device | str, *key) -> torch.Generator:
    """A torch generator on ``device`` seeded from any hashable key, e.g. ``("copy", "train", seed, step)``."""
    digest = hashlib.sha256(repr(key).encode()).digest()
    return torch.Generator(device=device).manual_seed(int.from_bytes(digest[:8], "little") >> 1)


class SequenceNetwork(nn.Module):
    """encoder (optional) → recurrent core → readout head, at every step or at the last real step."""

    def __init__(self, core: nn.Module, head: nn.Module, readout: str = "every",
                 encoder: nn.Module | None = None):
        super().__init__()
        require_choice("readout", readout, ("every", "last"))
        self.encoder, self.core, self.head, self.readout = encoder, core, head, readout

    def forward(self, batch: Batch, state=None):
        x = batch.inputs if self.encoder is None else self.encoder(batch.inputs)
        hidden, state = self.core(x, state, times=batch.times)
        if self.readout == "last":
            if batch.lengths is None:
                hidden = hidden[:, -1]
            else:
                hidden = hidden[torch.arange(hidden.shape[0], device=hidden.device), batch.lengths - 1]
        return self.head(hidden), state


class Task:
    input_size: int
    output_size: int
    readout: str = "every"
    carries_state: bool = False
    head_inits: tuple[str, ...] = HEAD_INITS       # a task that builds its own head: ("default",)

    def __init__(self, *, device: torch.device | str = "cpu", seed: int = 0, batch_size: int = 10,
                 epochs: int = 10, steps_per_epoch: int = 100, head_init: str = "default"):
        positive_int("batch_size", batch_size)
        positive_int("epochs", epochs)
        positive_int("steps_per_epoch", steps_per_epoch)
        require_choice("head_init", head_init, self.head_inits)
        self.device, self.seed, self.batch_size = torch.device(device), seed, batch_size
        self.epochs, self.steps_per_epoch, self.head_init = epochs, steps_per_epoch, head_init
        self.constants: dict[str, float] = {}

    def network(self, core: nn.Module) -> SequenceNetwork:
        head = nn.Linear(core.hidden_size, self.output_size)
        if self.head_init == "tf_glorot_uniform":
            nn.init.xavier_uniform_(head.weight)
            nn.init.zeros_(head.bias)
        elif self.head_init == "xavier_normal":
            nn.init.xavier_normal_(head.weight)
        return SequenceNetwork(core, head, self.readout)

    def train_batch(self, step: int) -> Batch:
        raise NotImplementedError

    def eval_batches(self, split: str) -> Iterable[Batch]:
        raise NotImplementedError

    def criterion(self, outputs: torch.Tensor, batch: Batch, reduction: str) -> torch.Tensor:
        """The task's loss over the batch: ``reduction`` "mean" for training, "sum" for the ``loss`` metric."""
        raise NotImplementedError

    def loss(self, outputs: torch.Tensor, batch: Batch) -> torch.Tensor:
        return self.criterion(outputs, batch, "mean")

    def metrics(self, outputs: torch.Tensor, batch: Batch) -> dict[str, tuple[torch.Tensor, int]]:
        raise NotImplementedError

    def report(self, net: nn.Module, run_dir) -> dict[str, str]:
        """Optional artifacts (e.g. plots) written into ``run_dir`` after training: ``{name: path}``."""
        return {}


class LazyBatches(Sequence):
    """``count`` batches, each built by ``make(i)`` when read: a sized evaluation split (progress with an ETA,
    capped reads) that never holds more than one batch."""

    def __init__(self, count: int, make: Callable[[int], Batch]):
        self.count, self.make = count, make

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int) -> Batch:
        if not 0 <= index < self.count:
            raise IndexError(index)
        return self.make(index)


class EpochSampler:
    """The example indices of training batch ``step`` for a data set of ``size`` examples: epoch e = step //
    steps_per_epoch visits them in a fresh permutation, drawn from a generator keyed by (name, seed, e), so a
    batch depends only on (seed, step). Keeps the current epoch's permutation."""

    def __init__(self, name: str, size: int, task: Task):
        self.name, self.size, self.task = name, size, task
        self.order: tuple[int, torch.Tensor] | None = None

    def __call__(self, step: int) -> torch.Tensor:
        task = self.task
        epoch, index = divmod(step, task.steps_per_epoch)
        if self.order is None or self.order[0] != epoch:
            generator = make_generator(task.device, self.name, "train", task.seed, epoch)
            self.order = (epoch, torch.randperm(self.size, generator=generator, device=task.device))
        return self.order[1][index * task.batch_size:(index + 1) * task.batch_size]


def split_batches(batch: Batch, eval_batch_size: int) -> list[Batch]:
    """Cut one large fixed evaluation set into batches (views, no copies)."""
    fields = ("inputs", "targets", "times", "lengths")
    chunks = {f: None if getattr(batch, f) is None else getattr(batch, f).split(eval_batch_size) for f in fields}
    return [Batch(**{f: None if chunks[f] is None else chunks[f][i] for f in fields})
            for i in range(len(chunks["inputs"]))]


class GeneratedTask(Task):
    """A synthetic task: ``generate(n, generator)`` draws ``n`` examples on the task's device.

    Training batches are drawn fresh at every step from a generator keyed by (seed, step); the
    validation and test sets are drawn once from generators keyed by ``data_seed`` (the same for every
    run seed, so all runs are evaluated on the same examples) and never overlap the training stream's keys.
    """

    name = "generated"

    def __init__(self, *, eval_size: int = 1000, eval_batch_size: int = 1000, data_seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        positive_int("eval_size", eval_size)
        positive_int("eval_batch_size", eval_batch_size)
        self.eval_size, self.eval_batch_size, self.data_seed = eval_size, eval_batch_size, data_seed
        self._eval_sets: dict[str, list[Batch]] = {}

    def generate(self, n: int, generator: torch.Generator) -> Batch:
        raise NotImplementedError

    def train_batch(self, step: int) -> Batch:
        return self.generate(self.batch_size, make_generator(self.device, self.name, "train", self.seed, step))

    def eval_batches(self, split: str) -> list[Batch]:
        require_choice("split", split, ("val", "test"))
        if split not in self._eval_sets:
            data = self.generate(self.eval_size, make_generator(self.device, self.name, split, self.data_seed))
            self._eval_sets[split] = split_batches(data, self.eval_batch_size)
        return self._eval_sets[split]


class SequenceClassification:
    """Mixin for tasks that classify a whole sequence at its last real step: cross-entropy loss; metrics
    ``loss`` (mean CE) and ``accuracy``. Put it before the Task base: ``class X(SequenceClassification, Task)``."""

    readout = "last"

    def criterion(self, outputs, batch, reduction):
        return F.cross_entropy(outputs, batch.targets, reduction=reduction)

    def metrics(self, outputs, batch):
        ce = self.criterion(outputs, batch, "sum")
        correct = (outputs.argmax(-1) == batch.targets).sum()
        return {"loss": (ce, batch.size), "accuracy": (correct, batch.size)}
