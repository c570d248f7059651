"""The ``neuroalign`` command.

Errors raised on purpose (:class:`neuroalign.NeuroalignError`) print one line
naming the input, the problem and the fix, and exit with status 2; ``--debug``
shows the traceback instead.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from .._version import __version__
from ..errors import NeuroalignError
from . import demo, extract_cmd, validate_cmd

log = logging.getLogger("neuroalign")

SUBCOMMANDS = (demo, validate_cmd, extract_cmd)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="neuroalign",
        description="How brain-like is this network? Score model layers against brain data.",
    )
    parser.add_argument("--version", action="version", version=f"neuroalign {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    parser.add_argument("-q", "--quiet", action="store_true", help="log warnings only")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in SUBCOMMANDS:
        module.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``neuroalign`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.run(args) or 0)
    except NeuroalignError as error:
        if args.debug:
            raise
        print(f"neuroalign: error: {error.one_line()}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("neuroalign: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
