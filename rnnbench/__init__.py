"""rnnbench: reproduction framework for long-memory recurrent networks."""

__version__ = "0.1.0"
