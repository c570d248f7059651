"""Window lengths and steps: volumes, or durations with a unit converted with the repetition time."""

from __future__ import annotations

import logging
import math
import re

import numpy as np

from ..errors import ConfigError

__all__ = ["parse_duration"]

log = logging.getLogger(__name__)

_UNITS = {"s": 1.0, "sec": 1.0, "ms": 1e-3, "min": 60.0}
_VOLUME_UNITS = ("vol", "vols", "volume", "volumes", "tr", "trs")


def parse_duration(value: int | str, repetition_time: float | None, *, argument: str = "window") -> int:
    """A window length or step as a number of volumes.

    Integers count volumes; strings carry a unit: ``"60s"``, ``"1.5min"``,
    ``"500ms"`` (converted with the repetition time and rounded to the nearest
    volume) or ``"20vol"`` / ``"20TR"``.

    Examples
    --------
    >>> from neuroalign.loaders.functional_connectivity import parse_duration
    >>> parse_duration("60s", 2.0), parse_duration(12, 2.0), parse_duration("5TR", None)
    (30, 12, 5)
    """
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        volumes = int(value)
    elif isinstance(value, str):
        match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]+)\s*", value)
        unit = match.group(2).lower() if match else ""
        if not match or (unit not in _UNITS and unit not in _VOLUME_UNITS):
            raise ConfigError(f"cannot read {value!r} as a duration", source=argument,
                              fix="pass an int (volumes) or a string with a unit: '60s', '1.5min', '500ms', '20vol'")
        number = float(match.group(1))
        if unit in _VOLUME_UNITS:
            volumes = int(round(number))
        else:
            if not repetition_time:
                raise ConfigError(f"{argument}={value!r} is in time units but the repetition time is unknown",
                                  source=argument, fix="set timeseries.attrs['repetition_time'] (seconds) "
                                  "or give the window in volumes (an int)")
            seconds = number * _UNITS[unit]
            volumes = int(round(seconds / repetition_time))
            if not math.isclose(volumes * repetition_time, seconds, rel_tol=1e-6):
                log.info("%s=%r is %.4g volumes at TR %.4g s; rounded to %d", argument, value,
                         seconds / repetition_time, repetition_time, volumes)
    else:
        raise ConfigError(f"{argument} must be an int (volumes) or a string with a unit, got {value!r}",
                          source=argument, fix="e.g. window=30 or window='60s'")
    if volumes < 1:
        raise ConfigError(f"{argument}={value!r} is shorter than one volume", source=argument,
                          fix="use a positive duration of at least one volume")
    return volumes
