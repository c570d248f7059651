import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from neuroalign.errors import ConfigError
from neuroalign.extract import CenterCrop, Compose, Normalize, Resize, ToRGB, image_preprocessing
from neuroalign.extract.preprocessing import describe_preprocessing


@pytest.mark.parametrize("shape, size", [((175, 175, 3), 32), ((40, 60, 3), (20, 30)), ((20, 30, 3), (45, 50)),
                                         ((30, 20, 3), 10)])
def test_resize_matches_pillow_bilinear(shape, size, rng):
    # reference: Pillow's Image.resize(BILINEAR), which antialiases when shrinking
    image = rng.integers(0, 256, shape, dtype=np.uint8)
    ours = Resize(size)(torch.from_numpy(image).permute(2, 0, 1).float())
    height, width = ours.shape[1:]
    if isinstance(size, int):  # shorter side to `size`, aspect kept
        assert min(height, width) == size and abs(height / width - shape[0] / shape[1]) < 0.1
    reference = np.asarray(Image.fromarray(image).resize((width, height), Image.BILINEAR), dtype=float)
    # Pillow rounds to uint8: within one grey level
    assert np.abs(ours.permute(1, 2, 0).numpy() - reference).max() < 1.0


def test_center_crop_matches_pillow_crop_box(rng):
    image = rng.integers(0, 256, (9, 12, 3), dtype=np.uint8)
    ours = CenterCrop((4, 5))(torch.from_numpy(image).permute(2, 0, 1))
    # reference: Pillow crop of the centred box (torchvision's rounding of the offsets)
    top, left = round((9 - 4) / 2), round((12 - 5) / 2)
    reference = np.asarray(Image.fromarray(image).crop((left, top, left + 5, top + 4)))
    np.testing.assert_array_equal(ours.permute(1, 2, 0).numpy(), reference)
    with pytest.raises(ConfigError, match="cannot crop"):
        CenterCrop(20)(torch.zeros(3, 9, 12))


def test_normalize_closed_form():
    x = torch.arange(2 * 3 * 2 * 2, dtype=torch.float32).reshape(2, 3, 2, 2)
    mean, std = (1.0, 2.0, 3.0), (0.5, 1.0, 2.0)
    expected = (x - torch.tensor(mean)[:, None, None]) / torch.tensor(std)[:, None, None]
    torch.testing.assert_close(Normalize(mean, std)(x), expected)
    with pytest.raises(ConfigError, match="1 channels but Normalize has 3"):
        Normalize(mean, std)(torch.zeros(1, 2, 2))
    with pytest.raises(ConfigError, match="positive std"):
        Normalize([0.0], [0.0])


def test_to_rgb():
    grey = torch.rand(1, 4, 5)
    assert torch.equal(ToRGB()(grey)[2], grey[0])
    assert ToRGB()(torch.rand(2, 4, 4, 4)).shape == (2, 3, 4, 4)
    with pytest.raises(ConfigError, match="2 channels"):
        ToRGB()(torch.zeros(2, 4, 4))


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 4), st.integers(8, 24), st.integers(8, 24), st.integers(4, 8))
def test_transforms_on_a_batch_equal_per_image(n, height, width, size):
    pipeline = image_preprocessing(size + 2, crop=size, mean=(0.4, 0.5, 0.6), std=(0.2, 0.3, 0.4))
    assert pipeline.batched
    batch = torch.rand(n, 1, height, width, generator=torch.Generator().manual_seed(height * width))
    together = pipeline(batch)
    apart = torch.stack([pipeline(image) for image in batch])
    torch.testing.assert_close(together, apart, rtol=1e-5, atol=1e-6)
    assert together.shape == (n, 3, size, size)


def test_descriptions_key_the_exact_parameters():
    a = image_preprocessing(32, mean=(0.5,) * 3, std=(0.25,) * 3)
    b = image_preprocessing(32, mean=(0.5,) * 3, std=(0.25,) * 3)
    c = image_preprocessing(33, mean=(0.5,) * 3, std=(0.25,) * 3)
    assert describe_preprocessing(a) == describe_preprocessing(b) != describe_preprocessing(c)
    assert a == b and a != c

    scale = 2.0

    def double(x):
        return x * scale

    assert describe_preprocessing(double)["values"] == ["2.0"]

    class Opaque:
        def __call__(self, x):
            return x

    assert describe_preprocessing(Opaque()) is None
    opaque = Opaque()
    assert describe_preprocessing(lambda x: opaque(x)) is None  # captures an object without a stable repr
    assert describe_preprocessing(Compose([Resize(8), Opaque()])) is None


def test_bad_arguments():
    with pytest.raises(ConfigError, match="interpolation"):
        Resize(8, interpolation="lanczos")
    with pytest.raises(ConfigError, match="size must be"):
        Resize((8, 8, 8))
    with pytest.raises(ConfigError, match="mean and std go together"):
        image_preprocessing(8, mean=(0.5,))
