import pytest
from torch import nn

from neuroalign.errors import ConfigError, UnknownNameError
from neuroalign.extract import leaf_modules, resolve_layers
from neuroalign.models import ReferenceNet


def test_exact_names_keep_the_given_order_and_drop_duplicates():
    assert resolve_layers(ReferenceNet(), ["fc", "block1", "fc"]) == ["fc", "block1"]
    assert resolve_layers(ReferenceNet(), "readout") == ["readout"]


def test_globs_stay_within_a_dotted_part_unless_doubled():
    net = ReferenceNet()
    assert resolve_layers(net, "block*") == ["block1", "block2", "block3", "block4"]
    assert resolve_layers(net, "block[13]") == ["block1", "block3"]
    assert resolve_layers(net, "block?.0") == ["block1.0", "block2.0", "block3.0", "block4.0"]
    assert resolve_layers(net, "**.1") == ["block1.1", "block2.1", "block3.1", "block4.1", "fc.1"]
    assert resolve_layers(net, ["fc", "block[!1]"]) == ["fc", "block2", "block3", "block4"]


def test_all_leaf_modules_and_predicates():
    net = ReferenceNet()
    leaves = resolve_layers(net, leaf_modules)
    assert leaves[:3] == ["block1.0", "block1.1", "block1.2"] and leaves[-1] == "readout"
    assert all(not list(net.get_submodule(name).children()) for name in leaves)
    assert len(leaves) == 3 + 3 + 3 + 2 + 3 + 1
    convs = resolve_layers(net, lambda name, module: isinstance(module, nn.Conv2d))
    assert convs == ["block1.0", "block2.0", "block3.0", "block4.0"]


def test_unknown_names_list_close_matches():
    with pytest.raises(UnknownNameError, match="did you mean 'block1'") as info:
        resolve_layers(ReferenceNet(), ["blok1"])
    assert "valid choices are" in str(info.value)
    with pytest.raises(UnknownNameError, match="unknown layer pattern 'layer\\*'"):
        resolve_layers(ReferenceNet(), "layer*")


def test_empty_selections_are_errors():
    with pytest.raises(ConfigError, match="selects none"):
        resolve_layers(ReferenceNet(), lambda name, module: False)
    with pytest.raises(ConfigError, match="no layers"):
        resolve_layers(ReferenceNet(), [])
