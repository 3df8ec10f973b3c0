"""Copy task (Hochreiter & Schmidhuber 1997; the definition of Arjovsky et al. 2016 used by Kerg et al. 2019).

Input of length T + 20: 10 symbols drawn uniformly from 8 (ids 1..8), T − 1 blanks (id 0), the cue (id 9),
then 10 blanks; ``encoding``: ``onehot`` over the 10 ids, or ``scalar``, one input channel holding the id as a
number (the nnRNN authors' copytask.py, which one-hot encodes only with ``--onehot``). Target: T + 10 blanks,
then the 10 symbols (9 classes: 0..8).
Loss: cross-entropy averaged over all T + 20 steps. Accuracy: over the 10 recalled symbols.
A memoryless model that outputs blank for the first T + 10 steps and a uniform guess over the 8 symbols
afterwards reaches the baseline loss 10 · ln 8 / (T + 20).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from rnnbench.config_checks import positive_int, require_choice
from rnnbench.tasks.base import Batch, GeneratedTask

RECALL, SYMBOLS, CUE = 10, 8, 9
ENCODINGS = {"onehot": SYMBOLS + 2, "scalar": 1}    # input channels


class CopyTask(GeneratedTask):
    name = "copy"
    output_size = 9
    readout = "every"

    def __init__(self, T: int = 200, encoding: str = "onehot", **kwargs):
        super().__init__(**kwargs)
        positive_int("T", T)
        require_choice("encoding", encoding, tuple(ENCODINGS))
        self.T, self.encoding, self.input_size = T, encoding, ENCODINGS[encoding]
        self.constants = {"baseline_loss": copy_baseline(T)}

    def generate(self, n: int, generator: torch.Generator) -> Batch:
        T, length = self.T, self.T + 2 * RECALL
        symbols = torch.randint(1, SYMBOLS + 1, (n, RECALL), generator=generator, device=self.device)
        sequence = torch.zeros(n, length, dtype=torch.long, device=self.device)
        sequence[:, :RECALL] = symbols
        sequence[:, T + RECALL - 1] = CUE
        targets = torch.zeros(n, length, dtype=torch.long, device=self.device)
        targets[:, -RECALL:] = symbols
        inputs = (F.one_hot(sequence, SYMBOLS + 2).float() if self.encoding == "onehot"
                  else sequence.float().unsqueeze(-1))
        return Batch(inputs, targets)

    def criterion(self, outputs, batch, reduction):
        return F.cross_entropy(outputs.flatten(0, 1), batch.targets.flatten(), reduction=reduction)

    def metrics(self, outputs, batch):
        ce = self.criterion(outputs, batch, "sum")
        correct = (outputs[:, -RECALL:].argmax(-1) == batch.targets[:, -RECALL:]).sum()
        return {"loss": (ce, batch.targets.numel()), "accuracy": (correct, batch.size * RECALL)}


def copy_baseline(T: int) -> float:
    """Cross-entropy of the best memoryless predictor: 10 · ln 8 / (T + 20)."""
    return RECALL * math.log(SYMBOLS) / (T + 2 * RECALL)
