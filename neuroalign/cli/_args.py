"""Argument types that reject bad values while the command line is parsed (one line, exit status 2)."""

from __future__ import annotations

import argparse

__all__ = ["positive_int", "non_negative_int", "int_at_least", "number", "open_unit_interval", "non_negative_float"]


def int_at_least(minimum: int):
    """An ``argparse`` type: an integer of at least ``minimum``.

    Examples
    --------
    >>> from neuroalign.cli._args import int_at_least
    >>> int_at_least(2)("3")
    3
    """
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    parse.__name__ = f"int_at_least_{minimum}"
    return parse


positive_int = int_at_least(1)
non_negative_int = int_at_least(0)


def number(text: str) -> float:
    """An ``argparse`` type: a float, with a one-line error for anything else."""
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None


def open_unit_interval(text: str) -> float:
    """An ``argparse`` type: a number strictly between 0 and 1 (a proportion, a coverage, a quantile).

    Examples
    --------
    >>> from neuroalign.cli._args import open_unit_interval
    >>> open_unit_interval("0.95")
    0.95
    """
    value = number(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must lie strictly between 0 and 1, got {value}")
    return value


def non_negative_float(text: str) -> float:
    """An ``argparse`` type: a finite number ≥ 0."""
    value = number(text)
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number ≥ 0, got {text}")
    return value
