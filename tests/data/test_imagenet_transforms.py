"""Host-side ImageNet transforms: shapes, ranges, geometry, and randomness keyed on the example."""

import io

import numpy as np
import pytest
from PIL import Image

from lgl_spl.data import imagenet_transforms as T


def ramp(height, width):
    """uint8 [h, w, 3]: red = x, green = y (exact for sides up to 256), blue constant."""
    y, x = np.mgrid[0:height, 0:width]
    return np.stack([x, y, np.full_like(x, 128)], -1).astype(np.uint8)


def textured(height, width, seed=0, lo=0, hi=256):
    return np.random.default_rng(seed).integers(lo, hi, (height, width, 3), np.uint8)


def jpeg(img, mode="RGB"):
    buf = io.BytesIO()
    Image.fromarray(img).convert(mode).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


@pytest.mark.parametrize("shape", [(375, 500), (500, 375), (64, 64), (20, 700), (224, 224)])
@pytest.mark.parametrize("train", [False, True])
def test_output_shape_dtype_and_range(shape, train):
    img = textured(*shape, lo=50, hi=201)
    out = T.Transform(train=train, seed=1)(img, step=3, position=4)
    assert out.shape == (224, 224, 3) and out.dtype == np.uint8
    # Bilinear (triangle) weights are non-negative: no value leaves the input's range.
    assert out.min() >= 50 and out.max() <= 200
    small = T.Transform(size=32, train=train)(jpeg(img), step=0, position=0)
    assert small.shape == (32, 32, 3) and small.dtype == np.uint8


@pytest.mark.parametrize("mode", ["L", "CMYK"])
def test_greyscale_and_cmyk_jpegs_become_rgb(mode):
    data = jpeg(textured(60, 80), mode)
    assert T.decode(data).mode == "RGB"
    assert T.eval_transform(data, 32).shape == (32, 32, 3)
    grey = T.decode(np.zeros((10, 12, 1), np.uint8))  # a decoded 1-channel array (mock data)
    assert grey.mode == "RGB" and grey.size == (12, 10)


def test_eval_transform_geometry_and_determinism():
    img = ramp(200, 256)  # shorter side 200 -> 256, longer 256 -> int(256 * 256 / 200) = 327
    out = T.eval_transform(img)
    np.testing.assert_array_equal(out, T.eval_transform(img))
    scale = 256 / 327, 200 / 256  # source pixels per output pixel, x and y
    left, top = round((327 - 224) / 2), round((256 - 224) / 2)  # 52 (banker's), 16
    centres = (np.arange(224) + 0.5) * scale[0] - 0.5 + left * scale[0]
    np.testing.assert_allclose(out[112, 2:-2, 0], centres[2:-2], atol=1.0)
    centres = (np.arange(224) + 0.5) * scale[1] - 0.5 + top * scale[1]
    np.testing.assert_allclose(out[2:-2, 112, 1], centres[2:-2], atol=1.0)
    assert T.eval_resize(224) == 256 and T.eval_resize(32) == 37


def test_train_randomness_is_keyed_on_seed_step_and_position():
    img = jpeg(textured(300, 400))
    t = T.Transform(train=True, seed=5)
    a = t(img, step=7, position=3)
    np.testing.assert_array_equal(a, t(img, step=7, position=3))
    for other in (t(img, step=8, position=3), t(img, step=7, position=4)):
        assert not np.array_equal(a, other)
    assert not np.array_equal(a, T.Transform(train=True, seed=6)(img, step=7, position=3))


@pytest.mark.parametrize(("height", "width"), [(375, 500), (500, 375), (224, 224), (60, 90)])
def test_random_resized_crop_box_stays_in_range(height, width):
    area, tol = height * width, 0.02  # rounding the sides to whole pixels
    fractions = []
    for i in range(400):
        top, left, h, w = T.random_resized_crop_box(np.random.default_rng(i), height, width)
        assert 0 <= top and top + h <= height and 0 <= left and left + w <= width
        assert 0.08 - tol <= h * w / area <= 1.0
        assert 3 / 4 - tol <= w / h <= 4 / 3 + tol
        fractions.append(h * w / area)
    # Uniform area fractions in [0.08, 1] (those too large for the image redrawn): mean ~0.5.
    assert 0.4 < np.mean(fractions) < 0.6


@pytest.mark.parametrize(
    ("height", "width", "box"),
    [(10, 1000, (0, 493, 10, 13)), (1000, 10, (493, 0, 13, 10)), (3, 3, None)],
)
def test_random_resized_crop_falls_back_to_a_centre_crop(height, width, box):
    # No draw fits a 10 x 1000 image: the fallback is the largest centred crop within 3:4-4:3.
    got = T.random_resized_crop_box(np.random.default_rng(0), height, width)
    if box is not None:
        assert got == box
    else:  # tiny but square: any result must be inside it
        top, left, h, w = got
        assert 0 < h <= 3 and 0 < w <= 3 and top + h <= 3 and left + w <= 3


@pytest.mark.parametrize("position", range(6))
def test_train_transform_crops_the_drawn_box(position):
    """On an image whose pixels encode their coordinates, the output spans the drawn box."""
    img = ramp(256, 256)
    out = T.Transform(train=True, seed=2)(img, step=11, position=position).astype(float)
    rng = T.example_rng(2, 11, position)
    top, left, h, w = T.random_resized_crop_box(rng, 256, 256)
    flipped = rng.random() < 0.5
    x, y = out[..., 0], out[..., 1]
    # Each output pixel averages source pixels over about (w / 224) around its centre.
    slack = max(w, h) / 224 + 1
    assert abs(x.min() - left) <= slack and abs(x.max() - (left + w - 1)) <= slack
    assert abs(y.min() - top) <= slack and abs(y.max() - (top + h - 1)) <= slack
    assert (x[:, 0].mean() > x[:, -1].mean()) == flipped
    assert 0.08 - 0.02 <= (x.max() - x.min() + 1) * (y.max() - y.min() + 1) / 256**2
