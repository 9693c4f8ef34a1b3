"""frontend.op: image.resize2d vs onnxruntime Resize (nearest, linear, cubic; coordinate
transformation and nearest rounding modes)."""

from __future__ import annotations

import numpy as np
import pytest
from op_helpers import check, ort_run, rand, run_op


def _ort_resize(x, size, **attrs):
    sizes = np.array([*x.shape[:2], *size], np.int64)
    (want,) = ort_run("Resize", [x, None, None, sizes], opset=18, **attrs)
    return want


COORDS = ["asymmetric", "half_pixel", "align_corners", "pytorch_half_pixel",
          "tf_half_pixel_for_nn"]
NEAREST = ["round_prefer_floor", "floor", "ceil", "round_prefer_ceil"]
SIZES = [(8, 10), (3, 2), (5, 7)]


@pytest.mark.parametrize(
    "size,coord,nearest",
    [(SIZES[k % 3], COORDS[k % 5], NEAREST[k % 4]) for k in range(12)],
)
def test_resize_nearest(size, coord, nearest):
    x = rand(1, 2, 4, 5)
    want = _ort_resize(x, size, mode="nearest", coordinate_transformation_mode=coord,
                       nearest_mode=nearest)
    got = run_op("image.resize2d", x, size=size, method="nearest",
                 coordinate_transformation_mode=coord, nearest_mode=nearest)
    check(got, want)


@pytest.mark.parametrize("method", ["linear", "cubic"])
@pytest.mark.parametrize(
    "size,coord",
    [((8, 10), "asymmetric"), ((3, 2), "half_pixel"), ((1, 7), "align_corners"),
     ((5, 3), "pytorch_half_pixel"), ((1, 1), "pytorch_half_pixel")],
)
def test_resize_linear_cubic(method, size, coord):
    x = rand(2, 1, 4, 5)
    want = _ort_resize(x, size, mode=method, coordinate_transformation_mode=coord)
    got = run_op("image.resize2d", x, size=size, method=method,
                 coordinate_transformation_mode=coord)
    check(got, want, 1e-5, 1e-5)


def test_resize_cubic_options():
    x = rand(1, 1, 5, 6)
    want = _ort_resize(x, (9, 4), mode="cubic", cubic_coeff_a=-0.5, exclude_outside=1)
    got = run_op("image.resize2d", x, size=(9, 4), method="cubic", cubic_coeff_a=-0.5,
                 exclude_outside=True)
    check(got, want, 1e-5, 1e-5)


def test_resize_scales_attr():
    x = rand(1, 1, 3, 3)
    scales = np.array([1, 1, 1.7, 2.5], np.float32)
    (want,) = ort_run("Resize", [x, None, scales], opset=18, mode="linear")
    got = run_op("image.resize2d", x, size=want.shape[2:], method="linear",
                 scales=(1.7, 2.5))
    check(got, want, 1e-5, 1e-5)


def test_resize_rejects_unknown_mode():
    with pytest.raises(NotImplementedError, match="tf_crop_and_resize"):
        run_op("image.resize2d", rand(1, 1, 2, 2), size=(4, 4),
               coordinate_transformation_mode="tf_crop_and_resize")
