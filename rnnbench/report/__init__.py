"""The reporting side: run records → tables (tables), figures (plots), provenance and staleness (provenance),
experiments' sweep definitions (sweeps), sizes at a parameter budget (sizing). Imports the run side, never the
reverse: no run loads these modules.
"""
