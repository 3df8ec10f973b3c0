"""TensorBoard beside metrics.csv: the same scalars, read back from the event file."""

import csv

import pytest

from conftest import SMALL, run_inprocess


def test_tensorboard_events_hold_the_scalars_of_metrics_csv(tmp_path):
    event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    code, _ = run_inprocess(tmp_path, ["model=rnn", *SMALL, "trainer.max_steps=20", "trainer.eval_every=10",
                                       "trainer.log_every=5", "trainer.checkpoint_every=0",
                                       "logger.tensorboard.enabled=true"])
    assert code == 0
    events = event_accumulator.EventAccumulator(str(tmp_path / "tensorboard"))
    events.Reload()
    with open(tmp_path / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    for name in ("train/loss", "train/grad_norm", "val/loss", "test/accuracy"):
        logged = {int(r["step"]): float(r[name]) for r in rows if r[name]}
        scalars = {e.step: e.value for e in events.Scalars(name)}
        assert scalars.keys() == logged.keys() and logged
        assert all(scalars[step] == pytest.approx(value, rel=1e-6) for step, value in logged.items())


def test_tensorboard_off_by_default_writes_nothing(tmp_path):
    code, _ = run_inprocess(tmp_path, ["model=rnn", *SMALL, "trainer.max_steps=2", "trainer.checkpoint_every=0"])
    assert code == 0 and not (tmp_path / "tensorboard").exists()
