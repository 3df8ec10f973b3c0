"""Agreement with the authors' code (rnnbench.report.agreement): their log parsed, both sides' settings from one
table and equal to our presets, the comparison table on synthetic records (no authors' code, no training)."""

import csv
import io
import math
import subprocess
import sys

import numpy as np
import pytest
from omegaconf import OmegaConf

from rnnbench.records import read_record, write_curves, write_record
from rnnbench.report import agreement

from conftest import CONF, ROOT, compose_config

# copytask.py's stdout: its header, the parameter print-out, then one line per update.
LOG = """Copy task
nnRNN
Cuda: False
modrelu
128
rnn.log_P tensor([[ 0.0000, -2.0768,  0.0000,  ...,  0.0000,  0.0000,  0.0000],
        [ 2.0768,  0.0000,  0.0000,  ...,  0.0000,  0.0000,  0.0000]])
Update 1, Time for Update: 0.06351423263549805 , Average Loss: 4.407588005065918, Accuracy: 0.14
Update 2, Time for Update: 0.05790090560913086 , Average Loss: 2.4773647785186768, Accuracy: 0.15
Update 3, Time for Update: 0.0581200122833252 , Average Loss: 2.3661956787109375, Accuracy: 0.16
Update 4, Time for Update: 0.05698060989379883 , Average Loss: 0.05948963761329651, Accuracy: 0.51
Update 5, Time for Update: 0.05652022361755371 , Average Loss: nan, Accuracy: 0.0
"""


def test_parse_copytask_log():
    rows = agreement.parse_copytask_log(LOG)
    assert [r["step"] for r in rows] == [1, 2, 3, 4, 5]
    assert rows[0] == {"step": 1, "train/loss": 4.407588005065918, "train/accuracy": 0.14,
                       "train/update_s": 0.06351423263549805}
    assert rows[3]["train/accuracy"] == 0.51 and math.isnan(rows[4]["train/loss"])


def test_authors_record(tmp_path):
    """Fewer updates than the script's 1500 is a failed run; a non-finite loss in a full run a diverged one."""
    full = "".join(f"Update {i}, Time for Update: 0.04 , Average Loss: {0.1 if i < 1500 else 'nan'}, Accuracy: 0.5\n"
                   for i in range(1, 1501))
    common = {"model": "nnrnn", "seed": 0, "comparison": "copy", "returncode": 0, "error": "", "wall_s": 60.0,
              "config": {"argv": ["copytask.py"]}}
    short = agreement.write_authors_record(tmp_path / "a", stdout=LOG, **common)
    assert short["status"] == "failed" and short["steps"] == 5 and short["implementation"] == "authors"
    diverged = agreement.write_authors_record(tmp_path / "b", stdout=full, **common)
    assert diverged["status"] == "diverged" and diverged["diverged_at"] == 1500
    assert read_record(tmp_path / "b")["task"] == "copy"
    header = (tmp_path / "b" / "metrics.csv").read_text().splitlines()[0]
    assert header == "step,train/loss,train/accuracy,train/update_s"


def test_shim_module_compiles(tmp_path):
    compile((agreement.write_shims(tmp_path) / "nnrnn_shims.py").read_text(), "nnrnn_shims.py", "exec")


def flat(node, prefix=""):
    """Dotted keys of a nested dict."""
    out = {}
    for key, value in node.items():
        if isinstance(value, dict):
            out.update(flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def same(a, b) -> bool:
    try:
        return math.isclose(float(a), float(b))
    except (TypeError, ValueError):
        return str(a).lower() == str(b).lower()


@pytest.mark.parametrize("model", list(agreement.SETTINGS["copy"]))
def test_our_settings_are_the_preset(model):
    """Every value of conf/paper/copy/<model>.yaml is among our overrides, with the same value."""
    preset = flat(OmegaConf.to_container(OmegaConf.load(CONF / "paper" / "copy" / f"{model}.yaml")))
    overrides = dict(o.split("=", 1) for o in agreement.our_overrides("copy", model, 1))
    assert overrides["model"] == model and overrides["seed"] == "1" and overrides["trainer.max_steps"] == "1500"
    assert {k: v for k, v in preset.items() if not same(overrides.get(k), v)} == {}


def script_flags(argv: list[str]) -> dict:
    """``--flag value [value ...]`` → {flag: [values]}."""
    flags, flag = {}, None
    for part in argv:
        if part.startswith("--"):
            flag = part[2:]
            flags[flag] = []
        else:
            flags[flag].append(part)
    return flags


@pytest.mark.parametrize("comparison,model", [(c, m) for c in agreement.SETTINGS for m in agreement.SETTINGS[c]])
def test_both_sides_from_one_table(comparison, model):
    """Each of the script's flags with a counterpart of ours has the same value on both sides."""
    flags = script_flags(agreement.authors_arguments(comparison, model, 2))
    overrides = dict(o.split("=", 1) for o in agreement.our_overrides(comparison, model, 2))
    assert flags["random-seed"] == ["2"] and flags["net-type"] == [agreement.SETTINGS[comparison][model]["net-type"]]
    for flag, values in flags.items():
        key = agreement.OUR_KEYS.get(flag)
        if key and len(values) == 1:
            assert same(overrides[key], agreement.OUR_VALUES.get(flag, {}).get(values[0], values[0])), flag
        elif key:
            assert [float(v) for v in overrides[key].strip("[]").split(",")] == [float(v) for v in values], flag


README_VARIANTS = {"nnrnn": "ptb_readme_nnrnn_t150", "exprnn": "ptb_readme_exprnn", "rnn_orth": "ptb_rnn_orth_cayley"}


@pytest.mark.parametrize("model", list(agreement.SETTINGS["language"]))
def test_language_settings_are_the_readme_preset(model):
    """Our side of the PTB comparison composes to the PTB table's README setting (preset + README variant) except
    the comparison's scale (N=128, one epoch) and the README's clipping, which language_task.py does not do."""
    ours = flat(OmegaConf.to_container(compose_config(agreement.our_overrides("language", model, 0)), resolve=True))
    table = flat(OmegaConf.to_container(compose_config(
        ["task=ptb", f"model={model}", f"+variant={README_VARIANTS[model]}"]), resolve=True))
    differ = {k: (table.get(k), ours.get(k)) for k in set(ours) | set(table) if ours.get(k) != table.get(k)}
    assert differ.pop("model.hidden_size") == (1024, 128) and differ.pop("trainer.epochs") == (None, 1)
    assert differ == ({"clip.norm": (10, None)} if model == "nnrnn" else {})


# language_task.py's stdout (--log-interval 10, one epoch): its header, interval lines, the epoch line, the test line.
LANGUAGE_LOG = "\n".join([
    'Language Task',
    'nnRNN',
    "Namespace(net_type='nnRNN', emsize=200, nhid=128, epochs=1, bptt=150)",
    '| epoch   1 |    10/  261 batches | lr 0.00 | ms/batch 412.35 | loss  3.61 | ppl    36.97 | bpc    5.208',
    '| epoch   1 |    20/  261 batches | lr 0.00 | ms/batch 398.02 | loss  2.95 | ppl    19.11 | bpc    4.256',
    '-----------------------------------------------------------------------------------------',
    '| end of epoch   1 | time: 118.52s | valid loss  1.71 | valid ppl     5.53 | valid bpc    2.467 | '
    'valid accuracy  0.48 ',
    '-----------------------------------------------------------------------------------------',
    '=========================================================================================',
    '| End of training | test loss  1.69 | test ppl     5.42, test bpc     2.44 | test acc     0.48',
    '=========================================================================================',
]) + "\n"


def test_parse_language_log():
    rows, metrics = agreement.parse_language_log(LANGUAGE_LOG, 262)
    assert [r["step"] for r in rows] == [11, 21, 262]             # batch b (0-based) ends update b + 1
    assert rows[0] == {"step": 11, "train/loss": pytest.approx(5.208 * math.log(2)), "train/bpc": 5.208,
                       "train/update_s": pytest.approx(0.41235)}
    assert rows[2] == {"step": 262, "val/bpc": 2.467, "val/accuracy": 0.48}
    assert metrics == {"val/bpc": 2.467, "val/accuracy": 0.48, "test/bpc": 2.44, "test/accuracy": 0.48}
    second_epoch = LANGUAGE_LOG.replace("| epoch   1 |", "| epoch   2 |")
    assert agreement.parse_language_log(second_epoch, 262)[0][0]["step"] == 273


def test_language_authors_record(tmp_path):
    """Completed with the test line (its exact values from testdat.txt), failed without it."""
    exact = agreement.testdat_metrics("Test loss: 1.6912345 Test Accuracy: 0.4843\n")
    assert exact == {"test/bpc": pytest.approx(1.6912345 / math.log(2)), "test/accuracy": 0.4843}
    common = {"model": "nnrnn", "seed": 0, "comparison": "language", "returncode": 0, "error": "", "wall_s": 90.0,
              "config": {"argv": ["language_task.py"]}}
    done = agreement.write_authors_record(tmp_path / "a", stdout=LANGUAGE_LOG, exact=exact, **common)
    assert done["status"] == "completed" and done["task"] == "ptb" and done["steps"] == 262
    assert done["metrics"]["test/bpc"] == pytest.approx(2.43995, abs=1e-4) and done["metrics"]["val/bpc"] == 2.467
    cut = agreement.write_authors_record(tmp_path / "b", stdout=LANGUAGE_LOG.split("=====")[0], **common)
    assert cut["status"] == "failed"


def test_pennchar_files_give_the_same_stream(tmp_path):
    """language_task.py's reader (line.split() + ['<eos>'] per line) on the files we write reads our stream."""
    text = {"train": "a_b\nc\n", "valid": "b_a\n", "test": "c_c_a\n"}
    codes = np.unique(np.frombuffer(text["train"].encode(), dtype=np.uint8))
    arrays = {"vocabulary": codes, **{split: np.searchsorted(codes, np.frombuffer(t.encode(), dtype=np.uint8))
                                      for split, t in text.items()}}
    agreement.write_pennchar(arrays, tmp_path)
    for split, t in text.items():
        theirs = [w for line in (tmp_path / f"{split}.txt").read_text().splitlines() for w in line.split() + ["<eos>"]]
        assert theirs == ["<eos>" if c == "\n" else c for c in t]


def test_nnrnn_arguments():
    argv = agreement.authors_arguments("copy", "nnrnn", 0)
    text = " ".join(argv)
    for part in ("--net-type nnRNN", "--lr 0.0005", "--lr_orth 1e-06", "--alpha 0.99", "--alam 0.0001",
                 "--Tdecay 1e-06", "--rinit henaff", "--iinit xavier", "--nonlin modrelu", "--nhid 128", "--T 200",
                 "--batch 10", "--optimizer RMSprop", "--random-seed 0"):
        assert part in text
    assert "--rinit" not in agreement.authors_arguments("copy", "lstm", 0)     # its LSTM has one fixed init


def test_per_update_weights_log_intervals():
    """Our rows are means since the previous row: the last-k mean weighs each by the updates it covers."""
    rows = [{"step": 1, "x": 4.0}, {"step": 10, "x": 2.0}, {"step": 20, "x": 1.0}]
    assert agreement.per_update(rows, "x").tolist() == [4.0] + [2.0] * 9 + [1.0] * 10
    assert agreement.tail_mean(rows, "x", 15) == pytest.approx((5 * 2.0 + 10 * 1.0) / 15)
    assert agreement.tail_mean(rows + [{"step": 30, "x": math.nan}], "x", 5) is None


def fake_run(root, side, model, seed, losses, accuracy):
    """A completed run of ``side`` with per-update ``losses`` (the authors' rows) or 10-update means (ours)."""
    run_dir = root / "copy" / side / model / f"seed={seed}"      # results/records/agreement/<scale>/<comparison>
    if side == "authors":
        rows = [{"step": i + 1, "train/loss": v, "train/accuracy": accuracy, "train/update_s": 0.05}
                for i, v in enumerate(losses)]
        extra = {"config": {"commit": "294d4ff" + "0" * 33, "shims": agreement.SHIMS}}
    else:
        rows = [{"step": s, "train/loss": float(np.mean(losses[max(s - 10, 0):s])), "train/accuracy": accuracy,
                 "train/steps_per_s": 40.0} for s in [1, *range(10, len(losses) + 1, 10)]]
        extra = {"code": {"commit": "abcdef0" + "0" * 33, "dirty": False}}
    write_curves(run_dir, rows)
    write_record(run_dir, {"status": "completed", "implementation": side, "model": model, "task": "copy",
                           "seed": seed, "wall_s": 60.0, **extra})


@pytest.fixture
def records(tmp_path):
    """RNN: both sides from one distribution; LSTM: ours 0.05 lower."""
    rng = np.random.default_rng(0)
    for seed in range(3):
        for side in agreement.IMPLEMENTATIONS:
            level = 0.09 + 0.002 * rng.standard_normal()
            fake_run(tmp_path, side, "rnn", seed, list(level + 0.001 * rng.standard_normal(200)), 0.12)
            shift = 0.05 if side == "rnnbench" else 0.0
            fake_run(tmp_path, side, "lstm", seed, list(level - shift + 0.001 * rng.standard_normal(200)), 0.1)
    return tmp_path


def test_agreement_table(records, tmp_path):
    page = agreement.agreement_table(records)
    lines = {line.split(" | ")[0] + " | " + line.split(" | ")[1]: line for line in page.splitlines()
             if line.startswith("| RNN |") or line.startswith("| LSTM |")}
    assert lines["| RNN | train loss (last 100)"].endswith("| agrees |")
    assert lines["| LSTM | train loss (last 100)"].endswith("| differs (p < 0.05, difference beyond ±0.01) |")
    assert lines["| LSTM | train accuracy (last 100)"].endswith("| agrees |")     # constant and equal: no test
    assert "(n=3)" in lines["| RNN | train loss (last 100)"]
    assert "| RNN | 0.0250 | 0.0500 | 2.00 |" in page                             # median s/update, ours 1/40
    assert "KyleGoyette/nnRNN@294d4ff (6)" in page and "rnnbench@abcdef0 (6)" in page
    assert all(shim in page for shim in agreement.SHIMS)
    rows = list(csv.DictReader(io.StringIO(agreement.agreement_csv(records))))
    lstm = next(r for r in rows if r["model"] == "lstm" and r["quantity"] == "train/loss")
    assert float(lstm["difference"]) == pytest.approx(-0.05, abs=0.005) and float(lstm["welch_p"]) < 0.05
    figure = agreement.agreement_figure(records, tmp_path / "figure.png", "copy")
    assert figure is not None and figure.stat().st_size > 0


def test_script_asks_for_the_authors_checkout():
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "agreement.py")], capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stdout.strip().splitlines() == [
        "error: --authors PATH: a checkout of KyleGoyette/nnRNN at 294d4ff (git clone "
        "https://github.com/KyleGoyette/nnRNN && git -C nnRNN checkout 294d4ff)"]


def test_diagnostic_runs_are_shown_apart_not_compared(tmp_path):
    """Records of a --diagnostic run (their code changed, not shimmed) stay out of the comparison and get their own
    lines against ours."""
    values = {("rnnbench", None): [4.120, 4.122, 4.124], ("authors", None): [4.210, 4.212, 4.214],
              ("authors", "rnncell-rinit"): [4.131, 4.111, 4.121]}
    for (side, diagnostic), runs in values.items():
        for seed, value in enumerate(runs):
            where = "language" if diagnostic is None else f"language-{diagnostic}"
            run_dir = tmp_path / where / side / "rnn_orth" / f"seed={seed}"
            write_curves(run_dir, [{"step": 262, "val/bpc": value}])
            provenance = ({"config": {"commit": "294d4ff" + "0" * 33}} if side == "authors" else
                          {"code": {"commit": "abcdef0" + "0" * 33, "dirty": False}})
            write_record(run_dir, {"status": "completed", "implementation": side, "model": "rnn_orth", "task": "ptb",
                                   "seed": seed, "wall_s": 1.0, **provenance,
                                   "metrics": {"val/bpc": value, "test/bpc": value, "test/accuracy": 0.2},
                                   **({"diagnostic": diagnostic} if diagnostic else {})})
    page = agreement.agreement_table(tmp_path)
    compared = [line for line in page.splitlines() if line.startswith("| RNN-orth | valid BPC")]
    assert len(compared) == 2
    assert "(n=3)" in compared[0] and "| -0.090 |" in compared[0] and "differs" in compared[0]
    assert "| +0.001 |" in compared[1] and compared[1].endswith("| agrees |")
    assert "Diagnostic **rnncell-rinit**" in page and "KyleGoyette/nnRNN@294d4ff (3)" in page   # not counted: 3
