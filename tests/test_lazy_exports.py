"""The packages whose public names are imported on first use (neuroalign._lazy.lazy_exports)."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

PACKAGES = ["neuroalign.alignment", "neuroalign.geometry", "neuroalign.graphs", "neuroalign.metamers",
            "neuroalign.pipelines", "neuroalign.spikes", "neuroalign.triplets"]


@pytest.mark.parametrize("name", PACKAGES)
def test_every_public_name_resolves_and_none_is_shadowed_by_a_submodule(name):
    """Importing a submodule sets an attribute of its package: a public name equal to a submodule's name
    would then give the module instead of the function (``from neuroalign.graphs import label_efficiency``)."""
    package = importlib.import_module(name)
    submodules = {info.name for info in pkgutil.iter_modules(package.__path__)}
    assert not set(package.__all__) & submodules
    for public in package.__all__:
        importlib.import_module(package._LAZY[public], name)   # as if another module had imported it first
        value = getattr(package, public)
        assert not isinstance(value, type(package)), public
        assert getattr(value, "__name__", public) == public or not callable(value)
    assert set(package.__all__) <= set(dir(package))
    with pytest.raises(AttributeError, match="no attribute"):
        getattr(package, "no_such_name")
