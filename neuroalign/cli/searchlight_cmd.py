"""``neuroalign searchlight`` (a map per model RDM) and ``neuroalign rsa-roi`` (RSA of one region, per layer)."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from ._args import number, positive_int


def _method_arguments(parser: argparse.ArgumentParser) -> argparse._ArgumentGroup:
    """The RDM and comparison methods of both commands; returns the group for more method options."""
    method = parser.add_argument_group("method")
    method.add_argument("--rdm-method", default="correlation",
                        help="an RDM method of neuroalign.compare.RDM_METHODS (default correlation)")
    method.add_argument("--compare-method", default="corr",
                        help="a comparison of neuroalign.compare.RDM_COMPARISONS (default corr)")
    return method


def _model_inputs(parser: argparse.ArgumentParser) -> None:
    models = parser.add_argument_group("models (one of)")
    which = models.add_mutually_exclusive_group(required=True)
    which.add_argument("--model-rdms", help="netCDF/zarr file of vector-form RDMs with dims (layer or model, pair), "
                       "e.g. neuroalign.data.save(compute_rdm(activations), 'rdms.nc')")
    which.add_argument("--activations", help="activation store of 'neuroalign extract' (RDMs computed with "
                       "--rdm-method)")


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "searchlight",
        help="searchlight RSA: one brain map per model or layer RDM (NIfTI + PNG) and a table of the peaks",
        description="Centre a sphere on every voxel of the mask, compute the RDM of each sphere's patterns (in "
        "batched products) and compare it with every model or layer RDM. Writes searchlight_<model>.nii.gz in "
        "the patterns' grid, searchlight_<model>.png (nilearn stat map) and peaks.csv (the peak of each map: "
        "value, voxel indices, mm coordinates).",
        epilog="example: neuroalign searchlight --patterns patterns.nc --mask brain_mask.nii.gz --model-rdms "
        "rdms.nc --radius 3 --out searchlight/",
    )
    inputs = parser.add_argument_group("inputs")
    inputs.add_argument("--patterns", required=True, help="patterns file of 'neuroalign glm'")
    inputs.add_argument("--mask", required=True, help="NIfTI mask on the patterns' grid: the sphere centres")
    _model_inputs(parser)
    spheres = parser.add_argument_group("spheres")
    spheres.add_argument("--radius", type=number, default=3.0, help="sphere radius (default 3)")
    spheres.add_argument("--units", choices=("voxels", "mm"), default="voxels", help="of --radius (default voxels)")
    spheres.add_argument("--threshold", type=number, default=0.5,
                         help="smallest fraction of a sphere's voxels inside the mask for its centre to be kept "
                         "(default 0.5)")
    _method_arguments(parser)
    out = parser.add_argument_group("output")
    out.add_argument("--out", required=True, help="output folder")
    out.add_argument("--bg-img", help="background image of the figures (default: the MNI152 template)")
    out.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    parser.set_defaults(run=run_searchlight)

    roi = commands.add_parser(
        "rsa-roi",
        help="RSA of one region's patterns against every model or layer RDM, with bootstrap CIs",
        description="Select the region's voxels from the patterns, compare their RDM with every model or layer RDM "
        "(neuroalign.compare.rsa: stimulus bootstrap CI, split-half noise ceiling over the repetitions) and write "
        "scores.csv and layer_profile.png.",
        epilog="example: neuroalign rsa-roi --patterns patterns.nc --roi roi_mask.nii.gz --model-rdms rdms.nc "
        "--out rsa/",
    )
    inputs = roi.add_argument_group("inputs")
    inputs.add_argument("--patterns", required=True, help="patterns file of 'neuroalign glm'")
    inputs.add_argument("--roi", required=True, help="NIfTI mask of the region, on the patterns' grid")
    _model_inputs(roi)
    method = _method_arguments(roi)
    method.add_argument("--ceiling", choices=("split-half", "none"), default="split-half",
                        help="split-half noise ceiling over repetitions, or none (default split-half)")
    method.add_argument("--n-bootstrap", type=positive_int, default=1000, help="stimulus resamples (default 1000)")
    method.add_argument("--seed", type=int, default=0, help="seeds the bootstrap and the splits (default 0)")
    out = roi.add_argument_group("output")
    out.add_argument("--out", required=True, help="output folder")
    out.add_argument("--highlight", help="a model or layer to mark in the figure")
    roi.set_defaults(run=run_rsa_roi)


def _inputs(args: argparse.Namespace, region: str, source: str):
    from .._paths import check_writable
    from ..compare import RDM_COMPARISONS, RDM_METHODS
    from ..errors import UnknownNameError
    from ._pattern_inputs import check_stimuli, load_mask_on_grid, load_model_rdms, load_patterns

    if args.rdm_method not in RDM_METHODS:
        raise UnknownNameError(args.rdm_method, RDM_METHODS, what="RDM method", source="--rdm-method")
    if args.compare_method not in RDM_COMPARISONS:
        raise UnknownNameError(args.compare_method, RDM_COMPARISONS, what="comparison method",
                               source="--compare-method")
    out = check_writable(args.out, source="--out", folder=True)
    patterns = load_patterns(args.patterns)
    mask, _ = load_mask_on_grid(region, patterns, source=source)
    rdms = load_model_rdms(args.model_rdms, args.activations, rdm_method=args.rdm_method)
    check_stimuli(patterns, rdms, patterns_source=args.patterns,
                  rdms_source=args.model_rdms if args.model_rdms is not None else args.activations)
    return out, patterns, mask, rdms


def _file_name(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", label).strip("_") or "model"


def run_searchlight(args: argparse.Namespace) -> int:
    import numpy as np
    import pandas as pd

    from ..compare.rsa.searchlight import searchlight_compare, searchlight_rdms
    from ..compare.common.searchlight_grid import searchlight_spheres
    from ..data.io import write_atomically
    from ..plot.brain_maps import plot_brain_map, save_nifti
    from ._pattern_inputs import patterns_in_mask, rdm_mapping

    out, patterns, mask, rdms = _inputs(args, args.mask, "--mask")
    spheres = searchlight_spheres(mask, args.radius, threshold=args.threshold, units=args.units,
                                  affine=np.asarray(patterns.attrs["affine"], float).reshape(4, 4))
    in_mask = patterns_in_mask(patterns, mask, source="--mask")
    if in_mask.sizes["neuroid"] != int(mask.sum()):
        from ..errors import AlignmentError

        raise AlignmentError(f"{int(mask.sum()) - in_mask.sizes['neuroid']} of the mask's {int(mask.sum())} voxels "
                             "have no pattern", source="--mask",
                             fix="pass a mask inside the mask (or brain) the GLM was run on")
    progress = not args.no_progress
    sphere_rdms = searchlight_rdms(in_mask, spheres, args.rdm_method, progress=progress)
    out.mkdir(parents=True, exist_ok=True)
    maps = searchlight_compare(sphere_rdms, rdms, args.compare_method, progress=progress)
    labels = list(rdm_mapping(rdms))
    if rdms.ndim == 1:
        maps = maps.expand_dims({"model": labels}, axis=-1)
    (dim,) = (d for d in maps.dims if d != "neuroid")
    rows = []
    for i, label in enumerate(labels):
        brain_map = maps.isel({dim: i}, drop=True).rename(f"{args.compare_method} with {label}")
        stem = f"searchlight_{_file_name(label)}"
        stem += f"_{i}" if stem in {row["map"][:-len(".nii.gz")] for row in rows} else ""  # labels alike once cleaned
        save_nifti(brain_map, out / f"{stem}.nii.gz")
        values = brain_map.values
        peak = int(np.nanargmax(values))
        rows.append({"model": label, "peak": float(values[peak]),
                     **{c: brain_map[c].values[peak].item() for c in ("voxel_i", "voxel_j", "voxel_k", "x", "y", "z")},
                     "n_spheres": int(values.size), "map": f"{stem}.nii.gz"})
        options = {"bg_img": args.bg_img} if args.bg_img else {}
        plot_brain_map(brain_map, "stat", out / f"{stem}.png",
                       cut_coords=[rows[-1][c] for c in ("x", "y", "z")], **options)
    table = pd.DataFrame(rows)
    write_atomically(out / "peaks.csv", lambda tmp: table.to_csv(tmp, index=False))
    print(f"{spheres.n_spheres} spheres (radius {args.radius:g} {args.units}) over {in_mask.sizes['neuroid']} "
          f"voxels, {patterns.sizes['presentation']} patterns; {len(rows)} map(s) in {out}")
    print(table[["model", "peak", "voxel_i", "voxel_j", "voxel_k", "x", "y", "z"]].round(4).to_string(index=False))
    return 0


def run_rsa_roi(args: argparse.Namespace) -> int:
    from matplotlib.figure import Figure

    from ..compare import rsa
    from ..data.io import write_atomically
    from ..plot import plot_layer_profile
    from ._pattern_inputs import patterns_in_mask, rdm_mapping, with_subject

    out, patterns, mask, rdms = _inputs(args, args.roi, "--roi")
    region = with_subject(patterns_in_mask(patterns, mask, source="--roi"))
    score = rsa(rdm_mapping(rdms), region, rdm_method=args.rdm_method, comparison=args.compare_method,
                ceiling=None if args.ceiling == "none" else args.ceiling, n_bootstrap=args.n_bootstrap,
                seed=args.seed)
    out.mkdir(parents=True, exist_ok=True)
    table = score.to_dataframe()
    write_atomically(out / "scores.csv", lambda tmp: table.to_csv(tmp, index=False))
    figure = Figure(figsize=(6, 4), layout="constrained")
    plot_layer_profile(score, figure.subplots(), highlight=args.highlight,
                       title=f"RSA in {Path(args.roi).name} ({region.sizes['neuroid']} voxels)")
    write_atomically(out / "layer_profile.png", lambda tmp: figure.savefig(tmp, dpi=110, format="png"))
    best = table.loc[table["score"].idxmax()]
    print(f"{region.sizes['neuroid']} voxels, {patterns.sizes['presentation']} patterns; scores.csv and "
          f"layer_profile.png in {out}")
    print(table.drop(columns="metric", errors="ignore").round(4).to_string(index=False))
    print(f"best: {best['layer']} ({best['score']:.4f})")
    return 0
