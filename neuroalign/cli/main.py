"""The ``neuroalign`` command.

Exit statuses: 0 success; 2 an error raised on purpose
(:class:`neuroalign.NeuroalignError`) or a malformed command line, printed as
one line naming the input, the problem and the fix; 3 any other exception (a
bug, or a failure nothing checked for), printed as one line with "run with
--debug for the traceback"; 130 interrupted.  ``--debug`` shows the
traceback instead of the one line.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import NoReturn

from .._version import __version__
from ..errors import NeuroalignError
from . import (alignment_cmd, demo, extract_cmd, glm_cmd, graphs_cmd, metamer_humans_cmd, metamer_study_cmd,
               metamers_cmd, observer_cmd, psychometric_cmd, report_cmd, representations_cmd, run_cmd, score_cmd,
               searchlight_cmd, spikes_cmd, studies_cmd, triplets_cmd, validate_cmd)

log = logging.getLogger("neuroalign")

#: Exit status of an error raised on purpose (a NeuroalignError) or a malformed command line.
EXIT_ERROR = 2
#: Exit status of an unexpected exception (a bug, or a failure nothing checked for).
EXIT_UNEXPECTED = 3

SUBCOMMANDS = (demo, validate_cmd, extract_cmd, observer_cmd, metamer_humans_cmd, metamers_cmd, metamer_study_cmd,
               psychometric_cmd, graphs_cmd, glm_cmd, searchlight_cmd, run_cmd, studies_cmd, report_cmd,
               triplets_cmd, score_cmd, spikes_cmd, representations_cmd, alignment_cmd)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
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


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line, like every other error of the command."""

    def error(self, message: str) -> NoReturn:
        _print_error(f"{self.prog}: {message}. Fix: see '{self.prog} --help'")
        raise SystemExit(EXIT_ERROR)


def _print_error(text: str) -> None:
    print(f"neuroalign: error: {' '.join(text.split())}", file=sys.stderr)


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
        _print_error(error.one_line())
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("neuroalign: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # noqa: BLE001 - the last resort: one line, never a raw traceback
        if args.debug:
            raise
        _print_error(f"unexpected {type(error).__name__}: {error} (run with --debug for the traceback)")
        return EXIT_UNEXPECTED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
