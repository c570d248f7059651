import numpy as np
import pandas as pd
import pytest
import scipy.io
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from neuroalign.errors import ConfigError, FileFormatError, SchemaError
from neuroalign.extract import Resize, StimulusSet, extract
from neuroalign.models import ReferenceNet

KRIEGESKORTE = "kriegeskorte2008/Kriegeskorte_Neuron2008_supplementalData.mat"


def kriegeskorte_stimuli(path):
    mat = scipy.io.loadmat(path, squeeze_me=True, struct_as_record=False)
    objects = mat["stimuli_92objs"]
    images = np.stack([o.image for o in objects])
    return StimulusSet.from_arrays([f"img{i + 1:02d}" for i in range(len(objects))], images,
                                   category=[o.category for o in objects],
                                   animate=[bool(o.animal or o.human) for o in objects]), images


def test_the_92_kriegeskorte_images(shared_data):
    stimuli, images = kriegeskorte_stimuli(shared_data / KRIEGESKORTE)
    assert len(stimuli) == 92 and stimuli.kind == "array"
    assert images.shape == (92, 175, 175, 3) and images.dtype == np.uint8
    # the paper's layout: 48 animate then 44 inanimate images (Kriegeskorte et al. 2008, Fig. 1)
    assert stimuli.metadata.animate.tolist() == [True] * 48 + [False] * 44
    assert stimuli.metadata.category.nunique() == 6
    batch = stimuli.load_batch([0, 91])
    # uint8 pixels → channels-first floats in [0, 1]
    assert batch.shape == (2, 3, 175, 175)
    np.testing.assert_array_equal(batch[1].numpy(), images[91].transpose(2, 0, 1) / np.float32(255))
    acts = extract(ReferenceNet(seed=0), stimuli, ["block4"], preprocess=Resize(32), progress=False)["block4"]
    assert acts.shape == (92, 64 * 4 * 4)
    assert acts.stimulus_id.values[0] == "img01" and acts.category.values[0] == "human bodypart"


def write_images(folder, rng):
    (folder / "a").mkdir(parents=True)
    (folder / "b").mkdir()
    rgb = rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)
    grey = rng.integers(0, 256, (12, 16), dtype=np.uint8)
    rgba = rng.integers(0, 256, (12, 16, 4), dtype=np.uint8)
    Image.fromarray(rgb).save(folder / "a" / "rgb.png")
    Image.fromarray(grey).save(folder / "a" / "grey.png")
    Image.fromarray(rgba).save(folder / "b" / "rgba.png")
    (folder / "notes.txt").write_text("not an image")
    return rgb, grey, rgba


def test_files_are_read_with_pillow(tmp_path, rng):
    rgb, grey, rgba = write_images(tmp_path, rng)
    stimuli = StimulusSet.from_folder(tmp_path)
    assert stimuli.stimulus_ids.tolist() == ["a/grey", "a/rgb", "b/rgba"]
    assert stimuli.metadata.folder.tolist() == ["a", "a", "b"]
    np.testing.assert_array_equal(stimuli.load(1), rgb)
    np.testing.assert_array_equal(stimuli.load(0), grey)
    np.testing.assert_array_equal(stimuli.load(2), rgba[..., :3])  # alpha dropped
    from neuroalign.extract import ToRGB

    batch = stimuli.load_batch([0, 1, 2], preprocess=ToRGB())
    assert batch.shape == (3, 3, 12, 16)
    np.testing.assert_allclose(batch[0, 2].numpy(), grey / 255.0, atol=1e-7)  # grey copied to every channel
    np.testing.assert_allclose(batch[1].numpy(), rgb.transpose(2, 0, 1) / 255.0, atol=1e-7)


def test_from_table_and_from_files(tmp_path, rng):
    write_images(tmp_path, rng)
    table = pd.DataFrame({"stimulus_id": ["x", "y"], "path": ["a/rgb.png", "b/rgba.png"], "size": [1, 2]})
    table.to_csv(tmp_path / "stimuli.csv", index=False)
    stimuli = StimulusSet.from_table(tmp_path / "stimuli.csv")
    assert stimuli.stimulus_ids.tolist() == ["x", "y"] and stimuli.metadata["size"].tolist() == [1, 2]
    assert StimulusSet.from_files([tmp_path / "a" / "rgb.png"]).stimulus_ids.tolist() == ["rgb"]
    with pytest.raises(FileFormatError, match="file not found"):
        StimulusSet.from_files([tmp_path / "missing.png"])
    with pytest.raises(SchemaError, match="'path' is missing"):
        StimulusSet.from_table(table.drop(columns="path"))


def test_unreadable_image_is_a_file_format_error(tmp_path):
    (tmp_path / "bad.png").write_bytes(b"\x89PNG garbage")
    stimuli = StimulusSet.from_files([tmp_path / "bad.png"])
    with pytest.raises(FileFormatError, match="bad.png: cannot read it as an image"):
        stimuli.load_batch([0])


def test_images_of_different_sizes_need_a_resize(tmp_path, rng):
    Image.fromarray(rng.integers(0, 256, (10, 10, 3), dtype=np.uint8)).save(tmp_path / "small.png")
    Image.fromarray(rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)).save(tmp_path / "large.png")
    stimuli = StimulusSet.from_folder(tmp_path)
    with pytest.raises(ConfigError, match="different shapes"):
        stimuli.load_batch([0, 1])
    assert stimuli.load_batch([0, 1], preprocess=Resize((8, 8))).shape == (2, 3, 8, 8)


def test_uint8_layouts(rng):
    hwc = rng.integers(0, 256, (2, 5, 6, 3), dtype=np.uint8)
    chw = np.ascontiguousarray(hwc.transpose(0, 3, 1, 2))
    a = StimulusSet.from_arrays(["a", "b"], hwc).load_batch([0, 1])
    b = StimulusSet.from_arrays(["a", "b"], chw).load_batch([0, 1])
    c = StimulusSet.from_arrays(["a", "b"], list(hwc)).load_batch([0, 1])  # one array per stimulus
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(a, c)
    with pytest.raises(ConfigError, match="cannot read uint8"):
        StimulusSet.from_arrays(["a"], np.zeros((1, 5, 6, 7), np.uint8)).load_batch([0])


def test_float_arrays_are_passed_unchanged(rng):
    x = rng.normal(size=(3, 4, 5)).astype(np.float32)
    np.testing.assert_array_equal(StimulusSet.from_arrays(list("abc"), x).load_batch([1, 2]).numpy(), x[1:])


def test_text_needs_a_tokenizer():
    stimuli = StimulusSet.from_texts(["s1"], ["hello"])
    with pytest.raises(ConfigError, match="tokenizer"):
        stimuli.load_batch([0])
    assert stimuli.load_batch([0], preprocess=lambda texts: [len(t) for t in texts]) == [5]


def test_metadata_cannot_shadow_coordinates(rng):
    with pytest.raises(SchemaError, match="'layer'"):
        StimulusSet.from_arrays(["a"], rng.normal(size=(1, 2)), layer=["x"])
    with pytest.raises(SchemaError, match="one value per stimulus"):
        StimulusSet.from_arrays(["a", "b"], rng.normal(size=(2, 2)), category=["x"])


def test_subset_and_positions(rng):
    stimuli = StimulusSet.from_arrays(list("abcd"), rng.normal(size=(4, 2)), k=[1, 2, 3, 4])
    sub = stimuli.subset(stimuli.positions(["d", "b"]))
    assert sub.stimulus_ids.tolist() == ["d", "b"] and sub.metadata.k.tolist() == [4, 2]
    np.testing.assert_array_equal(sub.load_batch([0, 1]).numpy(), stimuli.content[[3, 1]].astype(np.float32))
    with pytest.raises(ConfigError, match="not in the stimulus set"):
        stimuli.positions(["z"])


def test_content_hash_ignores_names_but_not_content(tmp_path, rng):
    x = rng.normal(size=(3, 2, 2))
    a = StimulusSet.from_arrays(list("abc"), x, k=[1, 2, 3])
    assert a.content_hash() == StimulusSet.from_arrays(list("xyz"), list(x)).content_hash()
    y = x.copy()
    y[2, 1, 1] += 1e-9
    assert a.content_hash() != StimulusSet.from_arrays(list("abc"), y).content_hash()
    write_images(tmp_path, rng)
    files = StimulusSet.from_folder(tmp_path)
    renamed = StimulusSet.from_files(files.content, stimulus_ids=["p", "q", "r"])
    assert files.content_hash() == renamed.content_hash()


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 7), st.permutations(list(range(7))))
def test_batches_cover_every_stimulus_once_in_order(batch_size, order):
    x = np.arange(7 * 2, dtype=np.float32).reshape(7, 2)
    stimuli = StimulusSet.from_arrays([f"s{i}" for i in order], x[order])
    rows = [(r, b) for r, b in stimuli.batches(batch_size)]
    np.testing.assert_array_equal(torch.cat([b for _, b in rows]).numpy(), x[order])
    assert [r.start for r, _ in rows] == list(range(0, 7, batch_size))
    resumed = list(stimuli.batches(batch_size, start=1))
    assert len(resumed) == len(rows) - 1


@pytest.mark.parametrize("arrays", [np.float32(0.5), np.zeros(()), torch.tensor(1.0), 5, "abc"])
def test_a_single_value_is_not_a_stimulus_set(arrays):
    with pytest.raises(SchemaError, match="stimuli: the stimuli are a"):
        StimulusSet.from_arrays(["a"], arrays)
