"""Tasks: data, loss and metrics around a recurrent core (see :mod:`rnnbench.tasks.base`)."""
