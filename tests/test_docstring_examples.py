"""Every docstring example in the library runs and prints what it says (numpydoc ``Examples`` sections)."""

import doctest
import importlib
import pkgutil

import pytest

import neuroalign

MODULES = sorted(info.name for info in pkgutil.walk_packages(neuroalign.__path__, "neuroalign.")
                 if not info.name.endswith("__main__"))  # importing it runs the CLI


@pytest.mark.parametrize("name", MODULES)
def test_examples_run(name):
    module = importlib.import_module(name)
    failures, _ = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert failures == 0, f"{failures} docstring example(s) of {name} failed (run: python -m doctest -v)"


def test_every_public_module_is_walked():
    assert "neuroalign.compare.rsa.kendall_sums" in MODULES
    assert "neuroalign.loaders.connectivity_files" in MODULES
