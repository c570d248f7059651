"""Dataset recipes: fetchers and synthetic generators (installed as neuroalign.datasets)."""
