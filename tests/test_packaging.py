"""setup.cfg lists every package of neuroalign (a package left out is missing from a non-editable install)."""

from __future__ import annotations

import configparser
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_every_package_folder_is_listed_in_setup_cfg():
    config = configparser.ConfigParser()
    config.read(REPO / "setup.cfg")
    listed = {line.strip() for line in config["options"]["packages"].splitlines() if line.strip()}
    folders = {".".join(path.parent.relative_to(REPO).parts) for path in (REPO / "neuroalign").rglob("__init__.py")}
    assert folders - listed == set(), "add these to [options] packages in setup.cfg"
    assert {"neuroalign.datasets", "neuroalign.bundled_studies"} <= listed
