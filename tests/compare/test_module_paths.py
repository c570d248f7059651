"""``neuroalign.compare`` grouped by family keeps every import of the flat layout working.

The former flat module paths are the same module objects as the new ones (so ``monkeypatch`` on either name
acts on the code that runs), every public name of the flat package is still importable from
``neuroalign.compare`` (and is not hidden by a subpackage of the same spelling), and the three former
modules that are family packages now (``cka``, ``encoding``, ``shape``) still export their names.
"""

import importlib
import inspect
import subprocess
import sys

import pytest

import neuroalign.compare as compare

# The public names of neuroalign.compare before the grouping (the union of its modules' __all__).
FLAT_PUBLIC = [
    "AGGREGATIONS", "BOOTSTRAPS", "BOUND", "CEILINGS", "CKA_BACKENDS", "CKA_KERNELS", "COMMIT_METRICS", "CoordKFold",
    "DEFAULT_ALPHAS", "LAYER_A", "LAYER_B", "LinearMetric", "MinibatchCKA", "NOISE_ESTIMATORS",
    "NOISE_NORMALISATIONS", "PAIR", "POOLING", "PermutationMetric", "RDMComparison", "RDMMethod", "RDM_COMPARISONS",
    "RDM_METHODS", "REGRESSIONS", "RESAMPLE", "RidgeEncoder", "SEARCHLIGHT_SCORINGS", "SHAPE_DISTANCES",
    "SHAPE_METHODS", "SearchlightSpheres", "as_rdm", "assign_folds", "bootstrap_indices", "center_gram", "cka",
    "cka_from_grams", "cka_matrix", "cka_noise_ceiling", "cka_sweep", "commit_layer", "compare_rdms", "compute_rdm",
    "crossvalidate_models", "cv_splits", "encoding_score", "encoding_sweep", "estimate_noise_precision",
    "evaluate_models", "evaluate_resamples", "fdr_correction", "from_rsatoolbox", "from_rsatoolbox_rdms", "hsic",
    "linear_gram", "noise_ceiling", "noise_normalise", "pair_weights", "pairwise_shape_distances", "pairwise_tests",
    "pearson_per_neuroid", "permutation_test", "pool_rdms", "rbf_gram", "rdm_split_half_ceiling",
    "rdm_stimulus_ids", "resample_counts", "resample_gram", "resample_rdm", "resampled_noise_ceiling",
    "residual_covariance", "residual_precision", "resolve_cv", "rsa", "searchlight_compare", "searchlight_encoding",
    "searchlight_rdms", "searchlight_spheres", "shape_distance", "spearman_brown", "split_half_ceiling",
    "split_halves", "to_rsatoolbox", "to_rsatoolbox_rdms", "to_square", "to_vector",
]
FAMILY_PACKAGES = {"cka": ".core", "encoding": ".scoring", "shape": ".metrics"}
LAZY_FAMILIES = [*sorted(FAMILY_PACKAGES), "matching"]


@pytest.mark.parametrize("name", FLAT_PUBLIC)
def test_every_flat_public_name_is_still_the_function_not_a_module(name):
    value = getattr(compare, name)
    assert not inspect.ismodule(value)
    if callable(value) and hasattr(value, "__module__"):
        assert value.__module__.startswith("neuroalign.compare.")
        assert getattr(importlib.import_module(value.__module__), name) is value


@pytest.mark.parametrize("old, new", sorted(compare.MOVED.items()))
def test_a_former_module_path_is_the_same_module_object(old, new):
    module = importlib.import_module(f"neuroalign.compare.{new}")
    assert importlib.import_module(f"neuroalign.compare.{old}") is module
    assert sys.modules[f"neuroalign.compare.{old}"] is module
    for public in getattr(module, "__all__", []):
        namespace = {}
        exec(f"from neuroalign.compare.{old} import {public}", namespace)   # the statement users wrote
        assert namespace[public] is getattr(module, public)


def test_statement_forms_of_the_flat_layout():
    from neuroalign.compare.cka_tiled import tiled_linear_products
    from neuroalign.compare.searchlight import searchlight_rdms
    from neuroalign.compare.searchlight_encoding import searchlight_encoding

    import neuroalign.compare.rdm as rdm_module
    import neuroalign.compare.ridge as ridge_module

    assert rdm_module is importlib.import_module("neuroalign.compare.rsa.rdm")
    assert ridge_module.RidgeEncoder is compare.RidgeEncoder
    assert searchlight_rdms is compare.searchlight_rdms and searchlight_encoding is compare.searchlight_encoding
    assert tiled_linear_products is importlib.import_module("neuroalign.compare.cka.tiled").tiled_linear_products
    assert compare.rdm is rdm_module and compare.searchlight_grid.searchlight_spheres is compare.searchlight_spheres


def test_monkeypatching_the_former_path_reaches_the_code_that_runs(monkeypatch):
    import neuroalign.compare.searchlight as old
    new = importlib.import_module("neuroalign.compare.rsa.searchlight")
    monkeypatch.setattr(old, "_COMPARE_BUDGET", 7)
    assert new._COMPARE_BUDGET == 7


def test_modules_of_the_families_named_like_functions_import_with_from():
    """``neuroalign.compare.rsa`` and ``neuroalign.compare.cka`` are the public functions (as before the
    grouping), so a module of those two families is named with ``from``: ``import a.b.c as m`` would look
    ``c`` up as an attribute of the function."""
    from neuroalign.compare.cka import core
    from neuroalign.compare.rsa import searchlight

    assert searchlight is sys.modules["neuroalign.compare.rsa.searchlight"]
    assert core is sys.modules["neuroalign.compare.cka.core"]
    assert callable(compare.rsa) and callable(compare.cka)


@pytest.mark.parametrize("family, module", sorted(FAMILY_PACKAGES.items()))
def test_former_modules_that_are_family_packages_still_export_their_names(family, module):
    package = importlib.import_module(f"neuroalign.compare.{family}")
    inner = importlib.import_module(module, package.__name__)
    for public in inner.__all__:
        namespace = {}
        exec(f"from neuroalign.compare.{family} import {public}", namespace)
        assert namespace[public] is getattr(inner, public)
    assert set(inner.__all__) <= set(package.__all__) <= set(dir(package))


@pytest.mark.parametrize("family", LAZY_FAMILIES)
def test_family_exports_resolve_and_are_not_shadowed_by_submodules(family):
    package = importlib.import_module(f"neuroalign.compare.{family}")
    import pkgutil
    assert not set(package.__all__) & {info.name for info in pkgutil.iter_modules(package.__path__)}
    for public in package.__all__:
        importlib.import_module(package._LAZY[public], package.__name__)   # as if imported elsewhere first
        assert not inspect.ismodule(getattr(package, public)), public
    with pytest.raises(AttributeError, match="no attribute"):
        getattr(package, "no_such_name")


def test_importing_compare_does_not_import_the_matching_family():
    """Model-vs-model matching is imported on first use; a fresh interpreter proves it."""
    code = "import sys, neuroalign.compare; print('neuroalign.compare.matching' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
