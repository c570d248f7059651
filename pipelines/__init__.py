"""The bundled study configs (YAML), installed as ``neuroalign.bundled_studies``: ``neuroalign studies list``."""
