"""srlab.data.bundled: offline images from scikit-image's package, in two disjoint splits."""

import numpy as np
import pytest

from srlab.data import TEST_IMAGES, TRAIN_IMAGES, bundled_images, source_image


@pytest.mark.parametrize("split", ["test", "train"])
def test_images_are_uint8_rgb_and_divisible_by_2_3_4(split):
    images = bundled_images(split)
    assert list(images) == list(TEST_IMAGES if split == "test" else TRAIN_IMAGES)
    for name, img in images.items():
        assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3, name
        assert img.shape[0] % 12 == 0 and img.shape[1] % 12 == 0, (name, img.shape)
        assert img.std() > 10, f"{name} is nearly flat"


def test_splits_are_disjoint_and_test_has_five_colour_photographs():
    test, train = bundled_images("test"), bundled_images("train")
    assert not set(test) & set(train)
    # both views of the stereo pair (motorcycle_left/right) must sit in one split
    assert not {k.split("_")[0] for k in test} & {k.split("_")[0] for k in train}
    colour = [k for k, img in test.items() if np.abs(np.diff(img.astype(int), axis=2)).mean() > 5]
    assert len(colour) >= 5, colour
    assert all(max(img.shape[:2]) <= 384 for img in test.values())


def test_callers_get_copies():
    first = bundled_images("test")
    first["astronaut"][:] = 0
    assert bundled_images("test")["astronaut"].any()


def test_test_images_are_crops_of_their_source():
    for name, img in bundled_images("test").items():
        full = source_image(name)
        h, w = img.shape[:2]
        corners = full[: full.shape[0] - h + 1, : full.shape[1] - w + 1, 0]
        hits = np.argwhere(corners == img[0, 0, 0])  # candidate top-left corners
        assert any(np.array_equal(full[y : y + h, x : x + w], img) for y, x in hits), name


def test_bad_names_fail_clearly():
    with pytest.raises(ValueError, match="split"):
        bundled_images("val")
    with pytest.raises(ValueError, match="unknown bundled image"):
        source_image("lena")
