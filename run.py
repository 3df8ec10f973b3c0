"""rnnbench entry point.

    python run.py model=nnrnn task=copy                 # one run
    python run.py -m model=rnn,lstm seed=0,1,2          # a sweep
    python run.py model=lstm task=copy --cfg job        # print the composed config
"""

import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from rnnbench.preflight import preflight

CONF = Path(__file__).resolve().parent / "conf"


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> int:
    from rnnbench.experiment import INTERRUPT_EXIT, run

    code = run(cfg, Path(HydraConfig.get().runtime.output_dir))
    # A failed job leaves a failed record and the sweep goes on, as does one skipped because another process
    # runs its directory (its 'skipped:' line is in the sweep's output); an interrupted one stops the sweep.
    if code and (HydraConfig.get().mode == RunMode.RUN or code in INTERRUPT_EXIT.values()):
        sys.exit(code)
    return code


if __name__ == "__main__":
    preflight(CONF, sys.argv[1:])
    main()
