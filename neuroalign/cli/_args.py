"""Argument types that reject bad values while the command line is parsed (one line, exit status 2)."""

from __future__ import annotations

import argparse

__all__ = ["positive_int", "non_negative_int", "int_at_least"]


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
