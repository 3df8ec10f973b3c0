"""Agreement with the authors' code (issue 27): the nnRNN authors' scripts (copytask.py, language_task.py) and ours,
the same settings and budget on the same machine, compared within seed spread.

One table of settings per comparison and model (:data:`SETTINGS`: the supplement's copy-task hyper-parameters, as
in ``conf/paper/copy/<model>.yaml``; the README's PTB settings, as ``conf/paper/ptb/<model>.yaml`` with its README
variant) gives both command lines: :func:`authors_arguments` (the script's flags) and :func:`our_overrides`
(``run.py`` overrides). The authors' script runs under :data:`SHIM_MODULE`, written by :func:`write_shims` into a
scratch directory (``python -m nnrnn_shims SCRIPT.py ...``): torch ≥ 2 compatibility and the fix of an
initialisation bug of their last commits (:data:`SHIMS` says what each does). Its stdout is parsed
(:func:`parse_copytask_log`: one line per update; :func:`parse_language_log`: one line per log interval, one per
epoch, the test line) and kept as a run record in our format (:func:`write_authors_record`), ``implementation:
authors``; our runs' records get ``implementation: rnnbench`` added after the run (:func:`mark_ours`).
:func:`agreement_table` compares the two sides per comparison and model: each quantity of the spec (the mean of a
curve over the last ``window`` updates, or a metric of the record) with a Welch t-test, and the median time per
update.
"""

from __future__ import annotations

import csv
import io
import math
import re
import statistics
import warnings
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf
from scipy import stats

from rnnbench.records import CURVES, RESULTS, read_record, scan, write_curves, write_record
from rnnbench.tasks.ptb import PACKAGED_SIZES, SPLITS
from rnnbench.train import TrainerConfig, explosion

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "conf" / "table" / "agreement.yaml"
AUTHORS_REPOSITORY = "KyleGoyette/nnRNN"
AUTHORS_COMMIT = "294d4ff"
IMPLEMENTATIONS = ("rnnbench", "authors")
SCRIPTS = {"copy": "copytask.py", "language": "language_task.py"}
TASKS = {"copy": "copy", "language": "ptb"}       # our task per comparison
LN2 = math.log(2.0)
COPY_UPDATES = 1500             # copytask.py's n_steps, hard-coded; our budget is set to match
LOG_EVERY = 10                  # both sides' log interval (our trainer.log_every; language_task.py's --log-interval)
RECORD_WINDOW = 50              # the record's train/* metrics: the last 50 updates (ours: the last row at log_every 50)

# Settings shared by every model of a comparison (the script's flags).
COMMON = {"copy": {"nhid": 128, "T": 200, "batch": 10, "optimizer": "RMSprop"},
          "language": {"nhid": 128, "emsize": 200, "bptt": 150, "batch": 128, "epochs": 1,
                       "log-interval": LOG_EVERY}}
# Per model, in the script's flags; ``label`` is the paper's name. copy: the supplement's copy-task table (Kerg et
# al. 2019); language: the README's "Hyperparameters for reported results" at TBPTT 150 (conf/paper/ptb/<model>.yaml
# with conf/variant/ptb_readme_nnrnn_t150, ptb_readme_exprnn, ptb_rnn_orth_cayley), without the README's gradient
# clipping, which language_task.py at 294d4ff does not do.
SETTINGS = {"copy": {
    "rnn": {"label": "RNN", "net-type": "RNN", "lr": 1e-3, "alpha": 0.9, "rinit": "xavier"},
    "rnn_orth": {"label": "RNN-orth", "net-type": "RNN", "lr": 2e-4, "alpha": 0.99, "rinit": "random"},
    "exprnn": {"label": "expRNN", "net-type": "expRNN", "lr": 1e-3, "lr_orth": 1e-4, "alpha": 0.99,
               "rinit": "henaff"},
    "nnrnn": {"label": "nnRNN", "net-type": "nnRNN", "lr": 5e-4, "lr_orth": 1e-6, "alpha": 0.99, "alam": 1e-4,
              "Tdecay": 1e-6, "rinit": "henaff"},
    "lstm": {"label": "LSTM", "net-type": "LSTM", "lr": 5e-4, "alpha": 0.99},
}, "language": {
    "rnn_orth": {"label": "RNN-orth", "net-type": "RNN", "optimizer": "RMSprop", "lr": 1e-4, "alpha": 0.9,
                 "rinit": "cayley"},
    "exprnn": {"label": "expRNN", "net-type": "expRNN", "optimizer": "RMSprop", "lr": 1e-3, "lr_orth": 1e-4,
               "alpha": 0.9, "rinit": "cayley"},
    "nnrnn": {"label": "nnRNN", "net-type": "nnRNN", "optimizer": "Adam", "betas": [0.0, 0.9], "lr": 2e-3,
              "lr_orth": 2e-4, "alam": 1e-4, "Tdecay": 1e-5, "rinit": "cayley"},
}}
# Flags of the scripts' RNN cells (their LSTM has one fixed init and no non-linearity option): copytask.py run with
# --iinit xavier as the supplement says; language_task.py's defaults (kaiming) written out.
CELL_FLAGS = {"copy": {"iinit": "xavier", "nonlin": "modrelu"}, "language": {"iinit": "kaiming", "nonlin": "modrelu"}}
# Script flag → our config key; its values where ours differ.
OUR_KEYS = {"nhid": "model.hidden_size", "T": "task.T", "batch": "task.batch_size", "lr": "optimizer.lr",
            "alpha": "optimizer.alpha", "lr_orth": "param_groups.lr_orth", "alam": "model.delta",
            "Tdecay": "param_groups.triangular_decay", "rinit": "model.recurrent_init",
            "iinit": "model.input_init", "nonlin": "model.nonlinearity", "optimizer": "optimizer._target_",
            "emsize": "task.embedding_size", "bptt": "task.bptt", "epochs": "trainer.epochs",
            "betas": "++optimizer.betas"}      # ++: the RMSprop preset has no betas key
OUR_VALUES = {"rinit": {"xavier": "glorot_normal", "random": "orthogonal", "henaff": "henaff", "cayley": "cayley"},
              "optimizer": {"RMSprop": "torch.optim.RMSprop", "Adam": "torch.optim.Adam"}}
# What the script does without a flag, as our settings: copytask.py's budget, input (no --onehot) and output layer;
# its RNN cell's input bias (nn.Linear's default) and its LSTM's per-gate xavier_normal_ layers (one bias per gate).
# language_task.py's embedding, decoder and loop are our PTB preset's (conf/paper/ptb/language_task.yaml).
IMPLIED = {"copy": [f"trainer.max_steps={COPY_UPDATES}", "task.encoding=scalar", "task.head_init=xavier_normal"],
           "language": []}
IMPLIED_MODEL = {"rnn": ["model.bias_init=default"], "rnn_orth": ["model.bias_init=default"],
                 "lstm": ["model.weight_init=gate_glorot_normal", "model.hidden_bias=false"]}
# Our trainer's extra settings per comparison: copy evaluates held-out sequences (no effect on training);
# language evaluates once per epoch only, as the script (an extra evaluation could move the best validation point).
OUR_TRAINER = {"copy": ["trainer.eval_every=250", "trainer.checkpoint_every=500"], "language": []}

SHIMS = [
    "torch.solve(B, A), removed in torch 1.9 (expRNN/exp_numpy.py's Padé step of expm, used by every RNN cell but "
    "LSTM) → torch.linalg.solve(A, B)",
    "RNN_Cell.OrthoRNNCell.reset_parameters (nnRNN) as at 9b5a647: since 53eea4a it builds P from the uninitialised "
    "log_P (torch.Tensor memory; here expm failed on a NaN) instead of the --rinit draw and leaves the input weights "
    "at torch's default instead of --iinit; the shim sets U by --iinit, log_P by --rinit, P = expm(log_P)",
    "torch.load(f) of a whole pickled model (language_task.py reloads its best model for the test evaluation): "
    "torch ≥ 2.6 loads weights only by default and refuses it → torch.load(f, weights_only=False)",
]
# Diagnostics: a change to the authors' code that is not a compatibility shim, run apart to measure the cause of a
# difference (scripts/agreement.py --diagnostic NAME; records under <records>/<comparison>-<NAME>/authors/...).
DIAGNOSTICS = {"rnncell-rinit": "their RNNCell started from its --rinit draw (V = expm(A_rinit)) instead of the "
                                "exponential of the skew part of nn.Linear's default init, which it uses because _B "
                                "ignores its argument"}
SHIM_MODULE = '''"""Compatibility shims for KyleGoyette/nnRNN under torch >= 2, written by rnnbench/report/agreement.py.

    python -m nnrnn_shims SCRIPT.py [ARGS]      (from the nnRNN checkout, this directory on PYTHONPATH)
"""
import collections
import functools
import os
import runpy
import sys

import torch

Solution = collections.namedtuple("Solution", ["solution", "LU"])


def solve(B, A, *, out=None):
    """torch < 1.9's torch.solve(B, A): X with A X = B (LU is not computed; the scripts read only X)."""
    return Solution(torch.linalg.solve(A, B), None)


def orthornncell_init(cell):
    """OrthoRNNCell's initialisation at 9b5a647: U by the input initialiser, the skew log_P by the recurrent one,
    P its exponential."""
    cell.i_initializer(cell.U.weight.data)
    cell.log_P.data = torch.as_tensor(cell.r_initializer(cell.hidden_size))
    cell.P.data = cell._B(False)


def rnncell_rinit_init(cell):
    """Diagnostic only (NNRNN_DIAGNOSTIC=rnncell-rinit): RNNCell's V from its --rinit draw, V = expm(A_rinit), which
    its reset_parameters passes to _B and _B ignores (it exponentiates the skew part of V's default init instead)."""
    from expRNN.exp_numpy import expm
    from expRNN.initialization import cayley_init, henaff_init, random_orthogonal_init
    cell.i_initializer(cell.U.weight.data)
    if cell.r_initializer in (random_orthogonal_init, henaff_init, cayley_init):
        cell.V.weight.data = expm(torch.as_tensor(cell.r_initializer(cell.hidden_size)))
    else:
        cell.r_initializer(cell.V.weight.data)


if __name__ == "__main__":
    torch.solve = solve
    torch.load = functools.partial(torch.load, weights_only=False)
    import RNN_Cell
    RNN_Cell.OrthoRNNCell.reset_parameters = orthornncell_init
    if os.environ.get("NNRNN_DIAGNOSTIC") == "rnncell-rinit":
        RNN_Cell.RNNCell.reset_parameters = rnncell_rinit_init
    script, sys.argv = sys.argv[1], sys.argv[1:]
    runpy.run_path(script, run_name="__main__")
'''
UPDATE_LINE = re.compile(r"^Update (\d+), Time for Update: (\S+) , Average Loss: (\S+), Accuracy: (\S+)$")
INTERVAL_LINE = re.compile(r"^\| epoch +(\d+) \| +(\d+)/ *\d+ batches \| lr \S+ \| ms/batch +(\S+) \| "
                           r"loss +\S+ \| ppl +\S+ \| bpc +(\S+)$")
EPOCH_LINE = re.compile(r"^\| end of epoch +(\d+) \| time: +\S+s \| valid loss +\S+ \| valid ppl +\S+ \| "
                        r"valid bpc +(\S+) \| valid accuracy +(\S+)")
TEST_LINE = re.compile(r"^\| End of training \| test loss +\S+ \| test ppl +\S+, test bpc +(\S+) \| "
                       r"test acc +(\S+)")
TESTDAT_LINE = re.compile(r"^Test loss: (\S+) Test Accuracy: (\S+)$")


def parse_copytask_log(text: str) -> list[dict]:
    """Rows ``{step, train/loss, train/accuracy, train/update_s}`` from copytask.py's stdout, one per update line
    (``Update i, Time for Update: s , Average Loss: l, Accuracy: a``); other lines are skipped."""
    rows = []
    for line in text.splitlines():
        match = UPDATE_LINE.match(line.strip())
        if match:
            step, seconds, loss, accuracy = match.groups()
            rows.append({"step": int(step), "train/loss": float(loss), "train/accuracy": float(accuracy),
                         "train/update_s": float(seconds)})
    return rows


def language_steps_per_epoch(batch: int, bptt: int) -> int:
    """language_task.py's updates per epoch on the PTB character training split (as our task counts them):
    ``range(0, len(train_data) - 1, bptt)`` over its ``N // batch`` columns."""
    return math.ceil((PACKAGED_SIZES["train"] // batch - 1) / bptt)


def parse_language_log(text: str, steps_per_epoch: int) -> tuple[list[dict], dict]:
    """language_task.py's stdout as curve rows and final metrics. Each interval line (``| epoch e | b/n batches |
    ... | ms/batch t | loss l | ppl p | bpc c``, printed at batch b > 0 with b % --log-interval == 0) is a row at
    step (e − 1)·steps_per_epoch + b + 1 holding the interval's mean loss (from its bpc, printed to 3 decimals:
    ln 2 · c), bpc and time per update; each ``| end of epoch`` line a row with val/bpc and val/accuracy; the
    ``| End of training`` line gives test/bpc and test/accuracy (printed to 2 decimals; :func:`testdat_metrics`
    has them exactly). ``metrics`` holds the last validation and the test values."""
    rows, metrics = [], {}
    for line in text.splitlines():
        line = line.strip()
        if match := INTERVAL_LINE.match(line):
            epoch, batch, ms, bpc = match.groups()
            rows.append({"step": (int(epoch) - 1) * steps_per_epoch + int(batch) + 1,
                         "train/loss": float(bpc) * LN2, "train/bpc": float(bpc), "train/update_s": float(ms) / 1e3})
        elif match := EPOCH_LINE.match(line):
            epoch, bpc, accuracy = match.groups()
            metrics.update({"val/bpc": float(bpc), "val/accuracy": float(accuracy)})
            rows.append({"step": int(epoch) * steps_per_epoch, **metrics})
        elif match := TEST_LINE.match(line):
            metrics.update({"test/bpc": float(match.group(1)), "test/accuracy": float(match.group(2))})
    return rows, metrics


def testdat_metrics(text: str) -> dict:
    """test/bpc and test/accuracy at full precision from language_task.py's ``<savedir>testdat.txt``
    (``Test loss: l Test Accuracy: a``, the loss in nats); empty if the line is not there."""
    match = TESTDAT_LINE.match(text.strip())
    return {"test/bpc": float(match.group(1)) / LN2, "test/accuracy": float(match.group(2))} if match else {}


def write_pennchar(arrays: dict, directory: Path) -> Path:
    """Our PTB character splits (rnnbench.tasks.ptb: uint8 ids over ``vocabulary``'s byte codes) as
    language_task.py reads them: ``<directory>/{train,valid,test}.txt``, one sentence per line, its characters
    separated by spaces, so its reader (``line.split() + ['<eos>']``) gives the same symbol stream."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    codes = np.asarray(arrays["vocabulary"])
    for split in SPLITS:
        text = codes[np.asarray(arrays[split])].tobytes().decode("ascii")
        if not text.endswith("\n"):
            raise ValueError(f"{split}: the stream must end with an end-of-line symbol")
        (directory / f"{split}.txt").write_text("".join(" ".join(line) + "\n" for line in text.split("\n")[:-1]))
    return directory


def script_flags(comparison: str, model: str) -> dict:
    """The script's flags for ``model`` (our model name), the seed left out: one row of :data:`SETTINGS`."""
    setting = SETTINGS[comparison][model]
    flags = {"net-type": setting["net-type"], **COMMON[comparison]}
    flags.update((key, value) for key, value in setting.items() if key not in ("label", "net-type"))
    if setting["net-type"] != "LSTM":
        flags.update(CELL_FLAGS[comparison])
    return flags


def authors_arguments(comparison: str, model: str, seed: int) -> list[str]:
    """The script's command-line arguments for ``model`` and ``seed`` (a list value: one argument per item)."""
    flags = {**script_flags(comparison, model), "random-seed": seed}
    return [part for key, value in flags.items()
            for part in (f"--{key}", *map(str, value if isinstance(value, list) else [value]))]


def our_value(key: str, value) -> str:
    if isinstance(value, list):
        return "[" + ",".join(map(str, value)) + "]"
    return str(OUR_VALUES.get(key, {}).get(value, value))


def our_overrides(comparison: str, model: str, seed: int) -> list[str]:
    """``run.py`` overrides for the same settings and budget as :func:`authors_arguments`."""
    flags = script_flags(comparison, model)
    overrides = [f"task={TASKS[comparison]}", f"model={model}", f"seed={seed}"]
    overrides += [f"{OUR_KEYS[key]}={our_value(key, value)}" for key, value in flags.items() if key in OUR_KEYS]
    if flags.get("optimizer") == "Adam":
        overrides.append("optimizer.alpha=null")          # the PTB preset's RMSprop key, which Adam does not take
    return overrides + IMPLIED[comparison] + IMPLIED_MODEL.get(model, [])


def write_shims(directory: Path) -> Path:
    """Write :data:`SHIM_MODULE` as ``nnrnn_shims.py`` into ``directory`` (for PYTHONPATH); return it."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "nnrnn_shims.py").write_text(SHIM_MODULE)
    return directory


def per_update(rows: list[dict], name: str) -> np.ndarray:
    """``name`` at every update 1..last: a row at step s holds the mean of the updates since the row before it
    (one update for the authors' rows, ``log_every`` for ours), so its value fills those updates."""
    points = [(int(r["step"]), float(r[name])) for r in rows if r.get(name) not in (None, "")]
    values = np.full(points[-1][0] if points else 0, np.nan)
    previous = 0
    for step, value in points:
        values[previous:step] = value
        previous = step
    return values


def tail_mean(rows: list[dict], name: str, window: int) -> float | None:
    """Mean of ``name`` over the last ``window`` updates; None without rows or with a non-finite value there."""
    values = per_update(rows, name)[-window:]
    return float(values.mean()) if len(values) and np.isfinite(values).all() else None


def exploded(rows: list[dict]) -> bool:
    """Our trainer's explosion rule (rnnbench.train.explosion, its default factor) on the log points our runs
    have at ``trainer.log_every`` :data:`LOG_EVERY`, either side's rows: step 1 alone, then the mean to each
    multiple of it."""
    losses = per_update(rows, "train/loss")
    if not len(losses):
        return False
    ends = [1, *range(LOG_EVERY, len(losses) + 1, LOG_EVERY)]
    logged = [{"step": end, "train/loss": float(losses[start:end].mean())}
              for start, end in zip([0, *ends[:-1]], ends, strict=True)]
    return explosion(logged, TrainerConfig.explosion_factor) is not None


def write_authors_record(run_dir: Path, *, model: str, seed: int, comparison: str, stdout: str, returncode: int,
                         error: str, wall_s: float, config: dict, exact: dict | None = None) -> dict:
    """One authors' run as our run record: ``result.json`` (``implementation: authors``; status completed, or
    diverged at the first non-finite training loss, or failed when the script exited early: copytask.py before
    its 1500 updates, language_task.py before its test line) and ``metrics.csv`` (its rows). ``metrics``: the
    training loss (and accuracy) over the last 50 updates; for language_task.py also the validation and test
    values, ``exact`` (:func:`testdat_metrics`) replacing the printed ones."""
    if comparison == "copy":
        rows, metrics = parse_copytask_log(stdout), {}
        finished = len(rows) >= COPY_UPDATES
    else:
        flags = COMMON[comparison]
        rows, metrics = parse_language_log(stdout, language_steps_per_epoch(flags["batch"], flags["bptt"]))
        metrics.update(exact or {})
        finished = "test/bpc" in metrics
    train = [r for r in rows if "train/loss" in r]
    tails = {name: tail_mean(train, name, RECORD_WINDOW) for name in ("train/loss", "train/accuracy")
             if any(name in r for r in train)}
    record = {"status": "completed", "implementation": "authors", "model": model, "task": TASKS[comparison],
              "seed": seed, "steps": rows[-1]["step"] if rows else 0, "wall_s": wall_s, "config": config,
              "metrics": {**tails, **metrics}}
    if config.get("diagnostic"):
        record["diagnostic"] = config["diagnostic"]["name"]
    bad = next((r["step"] for r in train if not math.isfinite(r["train/loss"])), None)
    if returncode != 0 or not finished:
        record.update(status="failed", error=error or f"exit {returncode} after {record['steps']} updates")
    elif bad is not None:
        record.update(status="diverged", diverged_at=bad)
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_curves(run_dir, rows)
    write_record(run_dir, record)
    return record


def mark_ours(run_dir: Path) -> dict | None:
    """Add ``implementation: rnnbench`` to our run's record (once); return the record."""
    record = read_record(run_dir)
    if record is not None and "implementation" not in record:
        record["implementation"] = "rnnbench"
        write_record(run_dir, record)
    return record


def has_result(run_dir: Path) -> bool:
    record = read_record(run_dir)
    return record is not None and record.get("status") in RESULTS


def read_curves(record: dict) -> list[dict]:
    path = Path(record["run_dir"]) / CURVES
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def seconds_per_update(record: dict, rows: list[dict]) -> float | None:
    """The run's median time per update: the authors' per-update times; ours from ``train/steps_per_s`` of each
    log interval after the first step."""
    if record.get("implementation") == "authors":
        times = [float(r["train/update_s"]) for r in rows if r.get("train/update_s")]
    else:
        times = [1 / float(r["train/steps_per_s"]) for r in rows
                 if r.get("train/steps_per_s") and int(r["step"]) > 1 and float(r["train/steps_per_s"]) > 0]
    return statistics.median(times) if times else None


def load_spec(spec: dict | Path | None = None) -> dict:
    if isinstance(spec, dict):
        return spec
    return OmegaConf.to_container(OmegaConf.load(spec or SPEC), resolve=True)


def welch(a: list[float], b: list[float]) -> float:
    """Two-sided Welch t-test p-value (NaN for two constant samples)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(stats.ttest_ind(a, b, equal_var=False).pvalue)


def summary(values: list[float]) -> tuple[float, float, int]:
    """(mean, sample std, n); NaN mean without values, std 0 with one."""
    if not values:
        return math.nan, math.nan, 0
    return float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else 0.0, len(values)


def verdict(ours: list[float], theirs: list[float], tolerance: float, alpha: float) -> tuple[float, str]:
    """The Welch p-value and ``agrees`` (the test cannot tell the sides apart, p ≥ alpha or both samples
    constant, and the means differ by at most ``tolerance``) or ``differs``, with the criterion it fails;
    ``too few runs`` under two a side."""
    if min(len(ours), len(theirs)) < 2:
        return math.nan, "too few runs"
    p = welch(ours, theirs)
    reasons = [f"p < {alpha:g}"] if p < alpha else []                       # a NaN p cannot separate them
    if abs(np.mean(ours) - np.mean(theirs)) > tolerance:
        reasons.append(f"difference beyond ±{tolerance:g}")
    return p, f"differs ({', '.join(reasons)})" if reasons else "agrees"


def quantity_value(record: dict, rows: list[dict], quantity: dict, window: int) -> float | None:
    """A run's value of a spec quantity: its curve's mean over the last ``window`` updates (``from: curve``, the
    default) or the record's metric (``from: metrics``)."""
    if quantity.get("from", "curve") == "metrics":
        value = (record.get("metrics") or {}).get(quantity["name"])
        return float(value) if value is not None and math.isfinite(value) else None
    return tail_mean(rows, quantity["name"], window)


def comparisons(records: list[dict], spec: dict) -> list[dict]:
    """Per (comparison, model) with records, per quantity of the comparison's spec: each side's (mean, std, n) over
    its completed runs, the difference ours − authors', the Welch p and the verdict; ``exploded``: each side's
    completed runs the explosion rule flags; ``timing``: each side's median over runs of the run's median
    s/update; ``other``: the statuses of each side's runs that did not complete."""
    groups: dict[tuple, list[dict]] = {}
    for record in records:
        groups.setdefault((record.get("task"), record.get("model"), record.get("implementation")), []).append(record)
    results = []
    for comparison, part in spec["comparisons"].items():
        for model, setting in SETTINGS[comparison].items():
            runs = {side: groups.get((TASKS[comparison], model, side), []) for side in IMPLEMENTATIONS}
            if not any(runs.values()):
                continue
            done = {side: [(r, read_curves(r)) for r in rs if r["status"] == "completed"] for side, rs in runs.items()}
            quantities = []
            for quantity in part["quantities"]:
                values = {side: [v for v in (quantity_value(r, rows, quantity, part.get("window", 0))
                                             for r, rows in pairs) if v is not None] for side, pairs in done.items()}
                p, outcome = verdict(values["rnnbench"], values["authors"], quantity["tolerance"], spec["alpha"])
                quantities.append({**quantity, **{side: summary(v) for side, v in values.items()},
                                   "difference": summary(values["rnnbench"])[0] - summary(values["authors"])[0],
                                   "p": p, "verdict": outcome})
            blown = {side: sum(exploded(rows) for _, rows in pairs) for side, pairs in done.items()}
            timing = {side: [t for t in (seconds_per_update(r, rows) for r, rows in pairs) if t is not None]
                      for side, pairs in done.items()}
            results.append({"comparison": comparison, "model": model, "label": setting["label"],
                            "quantities": quantities, "exploded": blown,
                            "timing": {side: statistics.median(t) if t else math.nan for side, t in timing.items()},
                            "other": {side: [r["status"] for r in rs if r["status"] != "completed"]
                                      for side, rs in runs.items()}})
    return results


def number(value: float, fmt: str) -> str:
    return "—" if value is None or math.isnan(value) else f"{value:{fmt}}"


def side_text(result: dict, quantity: dict, side: str) -> str:
    """A side's mean ± std (n), the runs among them that exploded, and its runs that did not complete."""
    (mean, std, n), fmt = quantity[side], quantity.get("format", ".4g")
    blown, other = result["exploded"][side], result["other"][side]
    text = f"{number(mean, fmt)} ± {number(std, fmt)} (n={n}{f'; {blown} exploded' if blown else ''})" if n else "—"
    return text + (f" (+{len(other)} {'/'.join(sorted(set(other)))})" if other else "")


def revisions(records: list[dict]) -> str:
    """Our records' code revisions (``+dirty`` where tracked files differed) and the authors' commits, counted."""
    counts: dict[str, int] = {}
    for record in records:
        if record.get("implementation") == "authors":
            name = f"{AUTHORS_REPOSITORY}@{(record['config'].get('commit') or '?')[:7]}"
        else:
            code = record.get("code") or {}
            name = f"rnnbench@{(code.get('commit') or '?')[:7]}{'+dirty' if code.get('dirty') else ''}"
        counts[name] = counts.get(name, 0) + 1
    return ", ".join(f"{name} ({count})" for name, count in sorted(counts.items()))


def table_name(records_dir: Path) -> str:
    """``agreement_<scale>``: the page's name for records in ``results/records/agreement/<scale>``."""
    return f"agreement_{Path(records_dir).name}"


def figure_name(records_dir: Path, comparison: str) -> str:
    return f"{table_name(records_dir)}_{comparison}.png"


def load_records(records_dir: Path) -> tuple[list[dict], list[dict]]:
    """The records under ``records_dir``: the compared ones, and those of diagnostic runs (``diagnostic`` set)."""
    found = scan(records_dir) if Path(records_dir).exists() else []
    return [r for r in found if not r.get("diagnostic")], [r for r in found if r.get("diagnostic")]


def quantity_rows(results: list[dict], theirs: str = "authors'") -> list[str]:
    """The Markdown table of :func:`comparisons`' results: a row per (model, quantity), ``theirs`` the authors'
    column header."""
    lines = [f"| model | quantity | ours | {theirs} | ours − authors' | Welch p | verdict |",
             "|---|---|---|---|---|---|---|"]
    for result in results:
        for q in result["quantities"]:
            cells = [result["label"], q["label"], side_text(result, q, "rnnbench"), side_text(result, q, "authors"),
                     number(q["difference"], "+" + q.get("format", ".4g")), number(q["p"], ".3f"), q["verdict"]]
            lines.append("| " + " | ".join(cells) + " |")
    return lines


def diagnostic_lines(records: list[dict], diagnostics: list[dict], spec: dict, comparison: str) -> list[str]:
    """Per diagnostic with runs: our records against the authors' code with the diagnostic change, per quantity."""
    lines = []
    for name in sorted({r["diagnostic"] for r in diagnostics}):
        runs = [r for r in diagnostics if r["diagnostic"] == name and r.get("task") == TASKS[comparison]]
        models = {r["model"] for r in runs}
        ours = [r for r in records if r.get("implementation") == "rnnbench" and r.get("model") in models
                and r.get("task") == TASKS[comparison]]
        rows = comparisons(ours + runs, {**spec, "comparisons": {comparison: spec["comparisons"][comparison]}})
        if rows:
            lines += [f"Diagnostic **{name}** ({DIAGNOSTICS[name]}; not a shim, run apart with --diagnostic {name}): "
                      "ours against the authors' code so changed.", "",
                      *quantity_rows(rows, "authors' (diagnostic)"), ""]
    return lines


def agreement_table(records_dir: Path, spec: dict | Path | None = None) -> str:
    """The agreement page (Markdown) from the records under ``records_dir`` and the table spec (default
    ``conf/table/agreement.yaml``): one section per comparison."""
    spec = load_spec(spec)
    records, diagnostics = load_records(records_dir)
    results = comparisons(records, spec)
    wall = {side: sum(r.get("wall_s") or 0.0 for r in records if r.get("implementation") == side)
            for side in IMPLEMENTATIONS}
    lines = [f"# {spec['title']}", "",
             f"Cells: mean ± std over the completed runs (n; those among them our trainer's explosion rule flags, a "
             f"logged loss above 10× the first, counted), runs that did not complete counted beside; difference "
             f"ours − authors'; Welch: two-sided Welch t-test. Verdict **agrees**: p ≥ {spec['alpha']} and "
             f"|difference| ≤ the quantity's tolerance; **differs** otherwise.", "",
             f"Runs: {len(records)}, {revisions(records) or 'none'}; wall time ours "
             f"{wall['rnnbench'] / 60:.0f} min, authors' {wall['authors'] / 60:.0f} min (sum of wall_s).", ""]
    for comparison, part in spec["comparisons"].items():
        shown = [r for r in results if r["comparison"] == comparison]
        tolerances = ", ".join(f"{q['label']} {q['tolerance']:g}" for q in part["quantities"])
        lines += [f"## {part['title']}", "", f"Authors' code: {part['source']}. Compared: {part['metric']}. "
                  f"Tolerances: {tolerances}.", ""]
        if not shown:
            lines += ["No runs yet.", ""]
            continue
        lines += quantity_rows(shown)
        lines += ["", "Time per update (s; each side's median over runs of the run's median; the authors' from "
                  "their log's per-update times, ours from train/steps_per_s):", "",
                  "| model | ours | authors' | authors' / ours |", "|---|---|---|---|"]
        for result in shown:
            ours, theirs = result["timing"]["rnnbench"], result["timing"]["authors"]
            lines.append(f"| {result['label']} | {number(ours, '.4f')} | {number(theirs, '.4f')} | "
                         f"{number(theirs / ours if ours else math.nan, '.2f')} |")
        figure = figure_name(records_dir, comparison)
        lines += ["", f"Training-loss curves: [{figure}](../figures/{figure}).", ""]
        lines += diagnostic_lines(records, diagnostics, spec, comparison)
        lines += [f"Note: {' '.join(note.split())}" for note in part.get("notes", [])] + [""]
    shims = sorted({s for r in records if r.get("implementation") == "authors" for s in r["config"].get("shims", [])})
    if shims:
        lines += ["## Shims applied to the authors' code (from its records)", ""] + [f"- {s}" for s in shims] + [""]
    lines += [f"Note: {' '.join(note.split())}" for note in spec.get("notes", [])]
    return "\n".join(lines).rstrip("\n") + "\n"


def agreement_csv(records_dir: Path, spec: dict | Path | None = None) -> str:
    """The table's numbers, one row per (comparison, model, quantity), then one of s/update per model."""
    spec = load_spec(spec)
    records = load_records(records_dir)[0]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["comparison", "model", "quantity", "ours_mean", "ours_std", "ours_n", "authors_mean",
                     "authors_std", "authors_n", "difference", "welch_p", "verdict"])
    for result in comparisons(records, spec):
        head = [result["comparison"], result["model"]]
        for q in result["quantities"]:
            writer.writerow([*head, q["name"], *q["rnnbench"], *q["authors"], q["difference"], q["p"], q["verdict"]])
        writer.writerow([*head, "s_per_update", result["timing"]["rnnbench"], "", "", result["timing"]["authors"],
                         "", "", "", "", ""])
    return buffer.getvalue()


def agreement_figure(records_dir: Path, out: Path, comparison: str, spec: dict | Path | None = None,
                     width: int = 10) -> Path | None:
    """Both sides' training-loss curves per model (means over ``width``-update bins: the mean over runs and the
    min–max band; the axis cut at the comparison's ``figure_top``, above which losses are explosions) with the
    task's baseline (copy: the memoryless predictor; language: the uniform one over 50 symbols); None without
    completed runs."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from rnnbench.tasks.copy import copy_baseline
    from rnnbench.tasks.ptb import PACKAGED_VOCABULARY

    spec = load_spec(spec)
    records = [r for r in load_records(records_dir)[0]
               if r.get("task") == TASKS[comparison] and r["status"] == "completed"]
    models = [m for m in SETTINGS[comparison] if any(r.get("model") == m for r in records)]
    if not models:
        return None
    part = spec["comparisons"][comparison]
    top = part.get("figure_top", 10.0)
    baseline, baseline_label = ((copy_baseline(COMMON[comparison]["T"]), "memoryless baseline") if comparison == "copy"
                                else (math.log(PACKAGED_VOCABULARY), "uniform prediction"))
    fig, axes = plt.subplots(1, len(models), figsize=(3.2 * len(models), 3.4), squeeze=False)
    for ax, model in zip(axes[0], models, strict=True):
        lowest = baseline
        for color, side in zip(("C0", "C3"), IMPLEMENTATIONS, strict=True):
            curves = [per_update(read_curves(r), "train/loss") for r in records
                      if r.get("model") == model and r.get("implementation") == side]
            length = min((len(c) for c in curves), default=0) // width * width
            if not length:
                continue
            binned = np.stack([c[:length].reshape(-1, width).mean(axis=1) for c in curves])
            steps = np.arange(width, length + 1, width)
            name = "ours" if side == "rnnbench" else "authors'"
            ax.plot(steps, binned.mean(axis=0), color=color, label=f"{name} (n={len(curves)})", linewidth=1)
            ax.fill_between(steps, binned.min(axis=0), binned.max(axis=0), color=color, alpha=0.2, linewidth=0)
            lowest = min(lowest, float(np.nanmin(binned)))
        ax.axhline(baseline, color="gray", linestyle="--", linewidth=0.8, label=baseline_label)
        ax.set(title=SETTINGS[comparison][model]["label"], xlabel="update", yscale="log", ylim=(0.7 * lowest, top))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    axes[0][0].set_ylabel(f"training loss ({width}-update means)")
    fig.suptitle(f"{part['title']}; axes cut at {top:g}", fontsize=9)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110, metadata={"Software": None})
    plt.close(fig)
    return out
