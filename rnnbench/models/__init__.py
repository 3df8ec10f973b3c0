"""Recurrent models: one file per model family, each following the model contract of :mod:`rnnbench.contracts`
(``forward(x, state=None, *, times=None) -> (outputs, state)``, ``hidden_size``, optional ``parameter_groups()``
and ``regularizer()``); shared pieces (the Elman recurrence, modReLU, initialisers) in their own files.

A new model is one file here plus one YAML file in ``conf/model/`` whose ``_target_`` names its class.
"""
