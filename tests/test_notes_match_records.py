"""Figures in the tables' hand-written notes that come from records are read from the records, so a note cannot go
stale silently: the audio target variance, the psMNIST LSTM's init, the copy task's budget and input encoding."""

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


def test_psmnist_lstm_note_names_the_records_init():
    inits = {r["config"]["model"]["weight_init"] for r in records("psmnist", model="lstm")}
    assert inits == {"glorot_normal"} and "Glorot-normal init" in notes("psmnist")


@pytest.mark.parametrize("name, budget", [("copy", "1500 RMSprop updates")])
def test_copy_note_gives_the_records_budget(name, budget):
    assert {r["config"]["trainer"]["max_steps"] for r in records("copy")} == {int(budget.split()[0])}
    assert budget in notes(name)
