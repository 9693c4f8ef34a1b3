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
    with pytest.raises(NotImplementedError, match="bogus"):
        run_op("image.resize2d", rand(1, 1, 2, 2), size=(4, 4),
               coordinate_transformation_mode="bogus")
    with pytest.raises(ValueError, match="tf_crop_and_resize needs roi"):
        run_op("image.resize2d", rand(1, 1, 2, 2), size=(4, 4),
               coordinate_transformation_mode="tf_crop_and_resize")
    with pytest.raises(ValueError, match="antialias applies to linear and cubic"):
        run_op("image.resize2d", rand(1, 1, 4, 4), size=(2, 2), antialias=True)


@pytest.mark.parametrize("method", ["nearest", "linear", "cubic"])
def test_resize_tf_crop_and_resize_vs_onnxruntime(method):
    x = rand(1, 2, 6, 7)
    roi = np.array([0, 0, 0.2, -0.1, 1, 1, 0.9, 0.8], np.float32)
    sizes = np.array([1, 2, 5, 4], np.int64)
    (want,) = ort_run("Resize", [x, roi, None, sizes], opset=18, mode=method,
                      coordinate_transformation_mode="tf_crop_and_resize",
                      extrapolation_value=3.5)
    got = run_op("image.resize2d", x, size=(5, 4), method=method,
                 coordinate_transformation_mode="tf_crop_and_resize",
                 roi=((0.2, 0.9), (-0.1, 0.8)), extrapolation_value=3.5)
    check(got, want, 1e-5, 1e-5)


@pytest.mark.parametrize("method", ["linear", "cubic"])
@pytest.mark.parametrize("size", [(3, 2), (1, 5), (7, 4)])
def test_resize_antialias_vs_onnxruntime(method, size):
    x = rand(2, 1, 9, 10)
    sizes = np.array([2, 1, *size], np.int64)
    (want,) = ort_run("Resize", [x, None, None, sizes], opset=18, mode=method, antialias=1)
    got = run_op("image.resize2d", x, size=size, method=method, antialias=True)
    check(got, want, 1e-4, 1e-5)
