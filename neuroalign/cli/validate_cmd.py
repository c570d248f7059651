"""``neuroalign validate``: check a saved array or Dataset against the data model."""

from __future__ import annotations

import argparse


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "validate",
        help="check a netCDF/zarr array or Dataset against the data model",
        description="Load an array or a Dataset (e.g. a trial table) saved as .nc or .zarr and check its dims, "
        "coords and values against docs/data-model.md. Prints a one-line summary, or the problem and its fix.",
    )
    parser.add_argument("path", help="a .nc or .zarr file written by neuroalign (or following its data model)")
    parser.add_argument("--dims", default=None,
                        help="comma-separated dims that must be present (default: check those present)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import xarray as xr

    from ..data import load, validate, validate_dataset

    dims = tuple(d.strip() for d in args.dims.split(",")) if args.dims else None
    obj = load(args.path)  # missing chunks, damaged values (digests) and the schema, NaN allowed
    sizes = ", ".join(f"{d}: {n}" for d, n in obj.sizes.items())
    if isinstance(obj, xr.Dataset):  # a trial table: NaN marks a missing response
        validate_dataset(obj, dims=dims, name=args.path)
        print(f"{args.path}: valid Dataset ({sizes}; variables: {', '.join(map(str, obj.data_vars))})")
    else:
        validate(obj, dims=dims, name=args.path)
        print(f"{args.path}: valid ({sizes})")
    return 0
