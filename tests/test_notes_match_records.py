"""Figures in the tables' hand-written notes that come from records are read from the records, so a note cannot go
stale silently: the audio target variance, the psMNIST LSTM's init, the copy task's budget and input encoding, the PTB
RNN's diverged seeds."""

import math
import re

import pytest
import yaml

from rnnbench.report import sweeps, tables

from conftest import CONF, ROOT


def notes(name: str, scale: str = "cpu") -> str:
    spec = tables.load_spec(CONF / "table" / f"{name}.yaml", scale)
    return " ".join(" ".join(spec.get("notes") or []).split())


def records(experiment: str, **select) -> list[dict]:
    found = tables.load_records(ROOT / "results" / "records" / experiment / "cpu")
    return [r for r in found if tables.matches(r, select)]


def test_audio_note_gives_the_records_target_variance():
    ours = records("audio", **{"config.task.path": None})
    [variance] = {round(r["constants"]["target_variance"], 3) for r in ours}
    assert f"{variance:.3f} for the packaged vibe_ace_1s_44k.wav read at 22.05 kHz" in notes("audio")
    assert {r["config"]["task"]["sample_rate"] for r in records("audio")} == {22050}


@pytest.mark.parametrize("path, where", [(None, "vibe_ace_1s_44k.wav samples 0–319"),
                                         ("vibe_ace_14s_22k.wav", "vibe_ace_14s_22k.wav at offset 21890")])
def test_audio_note_gives_the_records_clip_statistics(path, where):
    """The matched-clip note's statistics of both clips are the records' constants (AudioTask's window_statistics)."""
    [stats] = {(round(r["constants"]["target_variance"], 3), r["constants"]["zero_crossings"],
                round(r["constants"]["spectral_centroid_hz"])) for r in records("audio", **{"config.task.path": path})}
    assert (f"{where}: variance {stats[0]:.3f}, {stats[1]} zero crossings, spectral centroid {stats[2]:,} Hz"
            in notes("audio"))


INIT_NAMES = {"glorot_normal": "Glorot-normal init, each of torch's weight matrices",
              "gate_glorot_normal": "one Xavier-normal nn.Linear per gate"}


def test_psmnist_lstm_note_names_the_records_init():
    """Every init the LSTM records used (two while a re-run replaces them) is named in the notes."""
    inits = {r["config"]["model"]["weight_init"] for r in records("psmnist", model="lstm")}
    assert inits and all(INIT_NAMES[init] in notes("psmnist") for init in inits)


@pytest.mark.parametrize("name", ["ptb_bpc", "ptb_accuracy"])
def test_ptb_rnn_note_counts_the_records_diverged_seeds(name):
    runs = records(name, model="rnn")
    diverged = sorted(r["seed"] for r in runs if r["status"] == "diverged")
    assert f"{len(diverged)} of {len(runs)} seeds diverged" in notes(name)
    assert "seeds " + " and ".join(map(str, diverged)) in notes(name)


@pytest.mark.parametrize("name, budget", [("copy", "1500 RMSprop updates")])
def test_copy_note_gives_the_records_budget(name, budget):
    assert {r["config"]["trainer"]["max_steps"] for r in records("copy")} == {int(budget.split()[0])}
    assert budget in notes(name)


def published_anywhere() -> list[float]:
    """Every published value in conf/table/ (rows' and cells' ``published``)."""
    found = []

    def walk(node, under_published=False):
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, under_published or key == "published")
        elif isinstance(node, list):
            for item in node:
                walk(item, under_published)
        elif under_published and isinstance(node, (int, float)) and not isinstance(node, bool):
            found.append(float(node))
    for path in (CONF / "table").glob("*.yaml"):
        walk(yaml.safe_load(path.read_text()))
    return found


SUMMARY_NUMBER = re.compile(r"(?<![~\d.,±-])(\d+\.\d+(?:e-?\d+)?)(?![\d.-])")


@pytest.mark.parametrize("name", sorted(p.stem for p in (CONF / "table").glob("*.yaml")
                                        if "summary" in p.read_text()))
def test_summary_numbers_are_cells_of_the_table(name):
    """Every exact figure of a table's written summary (a decimal, not ``~x`` or a range) is, at the summary's
    precision, a cell's mean, std or published value, a gap between a cell and its published value or between a
    claim's sides, a published value of another table, a run's first training loss or one of its task's constants:
    the prose cannot drift from the records."""
    spec = tables.load_spec(CONF / "table" / f"{name}.yaml", "cpu")
    experiment = spec.get("experiment") or name
    search = sweeps.search_of(CONF, experiment, "cpu")
    if search:                                   # as make tables reads it: the setting the sweep chose
        spec["tune"] = sweeps.tune_of(search)
    cells, _ = tables.build_table(spec, records(experiment))
    values = [v for c in cells for v in (c.mean, c.std, c.published) if v is not None]
    index = {(c.row, c.column): [c.mean] + ([c.published] if c.published is not None else []) for c in cells}
    sides = [[[float(x)] if isinstance(x, (int, float)) else index[tuple(x)] for x in claim["compare"][::2]]
             for claim in spec.get("claims") or []]      # each side: a cell's mean or published value, or a number
    gaps = [abs(c.mean - c.published) for c in cells if c.published is not None]
    gaps += [abs(a - b) for left, right in sides for a in left for b in right]
    values += published_anywhere()                # a number quoted from another table's paper
    values += [losses[0][1] for r in records(experiment) if (losses := tables.train_losses(r))]   # a first loss
    values += [v for r in records(experiment) for v in (r.get("constants") or {}).values()   # e.g. a baseline
               if isinstance(v, (int, float))]
    values = [v for v in values + gaps if not math.isnan(v)]
    missing = []
    for text in SUMMARY_NUMBER.findall(spec["summary"]):
        digits = len(text.split("e")[0].replace(".", "").lstrip("0"))
        figure = float(text)
        half_unit = 0.5 * 10 ** (math.floor(math.log10(figure)) - digits + 1) * 1.0001
        missing += [] if any(abs(v - figure) <= half_unit for v in values) else [text]
    assert not missing, f"{name}: {missing} are no cell's value"
