"""The MNIST metamer study as a pipeline: a YAML config in, the study's folder out.

``pipelines/metamers-mnist.yaml`` is the full study; every key is one of
:data:`neuroalign.metamers.study.STUDY_DEFAULTS`.  The work is
:func:`neuroalign.metamers.study.run_metamer_study`; this module reads and
checks the config (``yaml.safe_load``, known keys, the defaults' types) and
names the config file in every error about a value.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from ..errors import ConfigError, UnknownNameError
from ..metamers.study import STUDY_DEFAULTS, MetamerStudyResult, check_study_settings
from ..metamers.study import run_metamer_study as _run_study
from .config import read_config

__all__ = ["run_metamer_study", "read_metamer_study_config"]


def read_metamer_study_config(path: str | os.PathLike) -> dict[str, Any]:
    """The settings of a metamer-study YAML config, merged over the defaults and checked.

    Raises
    ------
    FileFormatError
        The file is missing or not YAML.
    UnknownNameError, ConfigError
        A key that does not exist, or a value of the wrong type or out of range (naming the file).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from neuroalign.pipelines.metamer_study import read_metamer_study_config
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "study.yaml"
    >>> _ = path.write_text("n_test: 50\\nlayers: [relu1, fc2]\\n")
    >>> config = read_metamer_study_config(path)
    >>> config["n_test"], config["layers"], config["preset"]
    (50, ['relu1', 'fc2'], 'feather2023')
    """
    values = read_config(path, STUDY_DEFAULTS)
    try:
        return check_study_settings(values)
    except UnknownNameError:
        raise
    except ConfigError as exc:
        raise ConfigError(exc.problem, source=f"{path} ({exc.source})", fix=exc.fix) from None


def run_metamer_study(config: str | os.PathLike | Mapping[str, Any] | None = None, /,
                      **overrides: Any) -> MetamerStudyResult:
    """Run the MNIST metamer study from a YAML config (or a mapping of settings).

    Parameters
    ----------
    config : path-like or mapping, optional
        A YAML file such as ``pipelines/metamers-mnist.yaml``, or the settings themselves;
        default: :data:`~neuroalign.metamers.study.STUDY_DEFAULTS`.
    **overrides
        Settings that win over the config (e.g. ``out=``, ``progress=False``).

    Returns
    -------
    MetamerStudyResult

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from neuroalign.pipelines import run_metamer_study
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "tiny.yaml").write_text("n_test: 10\\nn_train: 200\\nlayers: [relu3]\\nmax_iter: 8\\nn_passes: 2\\n"
    ...                                       "epochs: 1\\nn_null: 20\\nn_bootstrap: 10\\nprogress: false\\n")
    >>> result = run_metamer_study(folder / "tiny.yaml", out=folder / "out")
    >>> sorted(p.name for p in result.out.glob("*.csv"))
    ['layers.csv', 'recognisability.csv', 'validity.csv']
    """
    if config is None or isinstance(config, Mapping):
        settings = dict(config or {})
    else:
        settings = read_metamer_study_config(config)
    return _run_study(settings, **overrides)
