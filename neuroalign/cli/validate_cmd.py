"""``neuroalign validate``: check a saved array against the data model."""

from __future__ import annotations

import argparse


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "validate",
        help="check a netCDF/zarr array against the data model",
        description="Load an array saved as .nc or .zarr and check its dims, coords and values against "
        "docs/data-model.md. Prints a one-line summary, or the problem and its fix.",
    )
    parser.add_argument("path", help="a .nc or .zarr file written by neuroalign (or following its data model)")
    parser.add_argument("--dims", default=None,
                        help="comma-separated dims that must be present (default: check those present)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..data import load, validate

    array = load(args.path, lazy=True)
    dims = tuple(d.strip() for d in args.dims.split(",")) if args.dims else None
    validate(array.load(), dims=dims, name=args.path)
    sizes = ", ".join(f"{d}: {n}" for d, n in array.sizes.items())
    print(f"{args.path}: valid ({sizes})")
    return 0
