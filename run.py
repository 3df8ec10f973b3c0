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

from rnnbench.cli import preflight

CONF = Path(__file__).resolve().parent / "conf"


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> int:
    from rnnbench.experiment import run

    code = run(cfg, Path(HydraConfig.get().runtime.output_dir))
    if code and HydraConfig.get().mode == RunMode.RUN:
        sys.exit(code)
    return code


if __name__ == "__main__":
    preflight(CONF, sys.argv[1:])
    main()
