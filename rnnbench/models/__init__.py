"""Recurrent models.

Every model follows one contract (the design page's "recurrent model"):

``forward(x, state=None, *, times=None) -> (outputs, state)``
    x: ``[B, T, input_size]`` (batch first); outputs: ``[B, T, hidden_size]``; ``state`` is whatever the
    model carries between calls (``None`` starts from zeros) and can be passed back in to continue a
    sequence. ``times``: ``[B, T]`` real timestamps, used by time-aware models and ignored by others.

Attributes and optional hooks:
    ``hidden_size``             width of ``outputs``.
    ``parameter_groups()``      ``{"orthogonal": [...], "triangular": [...]}``: parameters that need their
                                own optimiser settings (``lr_orth``; weight decay ``triangular_decay``).
    ``regularizer()``           an extra loss term (e.g. nnRNN's δ·Σ(γ−1)²), logged apart from the task loss.

A new model is one file here plus one YAML file in ``conf/model/`` whose ``_target_`` names its class.
"""
