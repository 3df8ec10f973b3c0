"""Figures in the tables' hand-written notes that come from records are read from the records, so a note cannot go
stale silently: the audio target variance, the psMNIST LSTM's init, the copy task's budget and input encoding, the PTB
RNN's diverged seeds."""

import pytest

from rnnbench.report import tables

from conftest import CONF, ROOT


def notes(name: str, scale: str = "cpu") -> str:
    spec = tables.load_spec(CONF / "table" / f"{name}.yaml", scale)
    return " ".join(" ".join(spec.get("notes") or []).split())


def records(experiment: str, **select) -> list[dict]:
    found = tables.load_records(ROOT / "results" / "records" / experiment / "cpu")
    return [r for r in found if tables.matches(r, select)]


def test_audio_note_gives_the_records_target_variance():
    variances = {round(r["constants"]["target_variance"], 3) for r in records("audio")}
    [variance] = variances
    assert f"{variance:.3f} for the packaged vibe_ace_1s_44k.wav read at 22.05 kHz" in notes("audio")
    assert {r["config"]["task"]["sample_rate"] for r in records("audio")} == {22050}


INIT_NAMES = {"glorot_normal": "Glorot-normal init, each of torch's weight matrices",
              "gate_glorot_normal": "one Xavier-normal nn.Linear per gate"}


def test_psmnist_lstm_note_names_the_records_init():
    [init] = {r["config"]["model"]["weight_init"] for r in records("psmnist", model="lstm")}
    assert INIT_NAMES[init] in notes("psmnist")


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
