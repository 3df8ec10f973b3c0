"""The README's usage commands (its "One run, one sweep" block) run as written, with a tiny budget appended."""

import re
import shlex
import subprocess
import sys

import pytest

from conftest import ROOT

TINY = ["trainer.max_steps=2", "trainer.eval_every=2", "trainer.log_every=1", "trainer.checkpoint_every=0",
        "trainer.progress=false", "task.eval_size=8", "device=cpu"]


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = re.search(r"## One run, one sweep\n+```bash\n(.*?)```", text, re.S).group(1)
    return [line.split("  #")[0].strip() for line in block.splitlines() if line.strip()]


def test_the_readme_has_its_usage_block():
    commands = readme_commands()
    assert len(commands) >= 4 and all(c.startswith(".venv/bin/python run.py ") for c in commands)


@pytest.mark.parametrize("command", readme_commands())
def test_a_readme_command_runs(command, tmp_path):
    args = shlex.split(command)[2:]
    tiny = [] if "--cfg" in args else [*TINY, f"hydra.run.dir={tmp_path}/run", f"hydra.sweep.dir={tmp_path}/sweep"]
    result = subprocess.run([sys.executable, str(ROOT / "run.py"), *args, *tiny], cwd=tmp_path, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    if "--cfg" in args:
        assert "_target_: rnnbench.models.gated.LSTM" in result.stdout
    else:
        records = list(tmp_path.rglob("result.json"))
        expected = 6 if "-m" in args else 1
        assert len(records) == expected and all('"status": "completed"' in r.read_text() for r in records)
