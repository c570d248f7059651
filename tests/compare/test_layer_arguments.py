"""Functions that take a mapping of layers accept one DataArray and reject a list with a named error."""

import numpy as np
import pytest

from neuroalign.compare import MinibatchCKA, cka, cka_matrix, compute_rdm, encoding_score, encoding_sweep
from neuroalign.data import create_assembly
from neuroalign.errors import ConfigError


@pytest.fixture(scope="module")
def layers():
    rng = np.random.default_rng(0)
    ids = [f"s{i}" for i in range(24)]
    conv1 = create_assembly(rng.normal(size=(24, 6)), stimulus_id=ids).rename("conv1")
    conv2 = create_assembly(rng.normal(size=(24, 4)), stimulus_id=ids).rename("conv2")
    brain = create_assembly(np.concatenate([conv1.values[:, :3] + 0.3 * rng.normal(size=(24, 3))
                                            for _ in range(2)]), stimulus_id=ids * 2)
    return conv1, conv2, brain


def test_compute_rdm_list_of_layers_raises(layers):
    conv1, conv2, _ = layers
    with pytest.raises(ConfigError, match="must be named") as info:
        compute_rdm([conv1, conv2])
    assert "{'conv1': data[0], 'conv2': data[1]}" in info.value.fix
    assert compute_rdm({"conv1": conv1, "conv2": conv2}).sizes["layer"] == 2


def test_encoding_sweep_single_array_is_one_layer(layers):
    conv1, conv2, brain = layers
    score = encoding_sweep(conv1, brain, cv=3, ceiling=False)
    assert score.dims == ("layer",) and score.values.coords["layer"].values.tolist() == ["conv1"]
    reference = encoding_sweep({"conv1": conv1}, brain, cv=3, ceiling=False)
    np.testing.assert_array_equal(score.values, reference.values)
    with pytest.raises(ConfigError, match="must be named"):
        encoding_sweep([conv1, conv2], brain, cv=3)


def test_encoding_score_mapping_names_encoding_sweep(layers):
    conv1, _, brain = layers
    with pytest.raises(ConfigError, match="encoding_score scores one array") as info:
        encoding_score({"conv1": conv1}, brain, cv=3)
    assert "encoding_sweep" in info.value.fix


def test_cka_matrix_single_array_is_one_layer(layers):
    conv1, conv2, _ = layers
    out = cka_matrix(conv1, {"conv2": conv2}, progress=False)
    assert out["layer_a"].values.tolist() == ["conv1"]
    assert float(out[0, 0]) == pytest.approx(cka(conv1, conv2), rel=1e-12)


def test_cka_of_mappings_names_cka_matrix(layers):
    conv1, conv2, _ = layers
    with pytest.raises(ConfigError, match="mapping of layers") as info:
        cka({"conv1": conv1}, conv2)
    assert "cka_matrix" in info.value.fix
    # MinibatchCKA takes mappings (all pairs) or arrays, but not one of each
    with pytest.raises(ConfigError):
        MinibatchCKA().update({"conv1": conv1}, conv2)
