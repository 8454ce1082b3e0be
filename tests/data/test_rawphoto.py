"""Camera RAW files -> the layout's RGGB mosaic, against DNGs written by PiDNG."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from maikit.data.isp import pack_raw
from maikit.data.rawphoto import read_layout_raw, read_raw_photo, to_layout_mosaic
from maikit.errors import MaikitError
from maikit.tasks import MAI21, get_raw_convention

from _dng import write_dng

# where the first R pixel sits in each pattern's 2x2 cell (row, col)
R_AT = {"RGGB": (0, 0), "BGGR": (1, 1), "GRBG": (0, 1), "GBRG": (1, 0)}
# (bits per sample in the file, white level, black levels per cell position)
DEPTHS = {10: (10, 1023, [0]), 12: (12, 4095, [60, 62, 64, 66]), 14: (16, 16383, [512, 514, 516, 518])}


def _expected_10bit(value: int, black: int, white: int) -> int:
    """round((value - black) / (white - black) * 1023), clipped, in exact rational arithmetic."""
    x = Fraction(min(max(value - black, 0), white - black), white - black) * 1023
    assert x.denominator != 2, "a rounding tie: pick other values"
    return int(x + Fraction(1, 2))


@pytest.mark.parametrize("bits", sorted(DEPTHS))
@pytest.mark.parametrize("pattern", sorted(R_AT))
def test_packed_channels_equal_the_sensor_values(tmp_path, pattern, bits):
    bps, white, black = DEPTHS[bits]
    rng = np.random.default_rng(bits * 7 + len(pattern))
    h, w = 66, 96  # LibRaw refuses tiny frames; PiDNG packs 10-bit rows in groups of 4
    sensor = rng.integers(0, white + 1, size=(h, w)).astype(np.uint16)
    sensor[0, 0], sensor[1, 1] = white, 0  # saturation and below-black values occur
    path = write_dng(tmp_path / f"{pattern}_{bits}.dng", sensor, pattern, white, black, bps)

    photo = read_raw_photo(path)
    assert photo.pattern == pattern and photo.white == white
    black4 = np.array((black * 4)[:4]).reshape(2, 2)
    assert np.array_equal(photo.black, black4)

    conv = get_raw_convention("mai21")
    mosaic = to_layout_mosaic(photo, conv)
    r0, c0 = R_AT[pattern]
    hh, ww = (h - r0) // 2 * 2, (w - c0) // 2 * 2
    assert mosaic.shape == (hh, ww) and mosaic.dtype == np.uint16
    packed = pack_raw(mosaic, conv) * conv.divisor
    for ch, (dr, dc) in enumerate(conv.offsets):
        rows, cols = r0 + dr, c0 + dc  # the camera position this channel must come from
        want = np.vectorize(lambda v: _expected_10bit(int(v), int(black4[rows % 2, cols % 2]), white))(
            sensor[rows::2, cols::2][: hh // 2, : ww // 2])
        np.testing.assert_array_equal(np.rint(packed[:, :, ch]).astype(np.int64), want)
    if bits == 10:  # 10-bit, black 0: the file's values unchanged
        np.testing.assert_array_equal(mosaic, sensor[r0:r0 + hh, c0:c0 + ww])


def test_the_channels_hold_the_right_colours(tmp_path):
    """A flat scene, R=800 G=500 B=200 (10-bit): every pattern packs to the same R, G, B planes."""
    planes = {}
    for pattern, (r0, c0) in R_AT.items():
        sensor = np.full((64, 96), 500, np.uint16)
        sensor[r0::2, c0::2] = 800
        sensor[1 - r0::2, 1 - c0::2] = 200
        photo = read_raw_photo(write_dng(tmp_path / f"{pattern}.dng", sensor, pattern, 1023, [0], 10))
        packed = pack_raw(to_layout_mosaic(photo), MAI21) * 1020
        planes[pattern] = [float(np.unique(packed[:, :, ch])[0]) for ch in range(4)]
    # mai21 channels are (B, Gb, R, Gr)
    assert all(p == [200.0, 500.0, 800.0, 500.0] for p in planes.values()), planes


def test_non_raw_file_is_a_one_line_error(tmp_path):
    png = tmp_path / "photo.png"
    import cv2

    cv2.imwrite(str(png), np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(MaikitError, match="not a RAW photo") as e:
        read_raw_photo(png)
    assert str(png) in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(MaikitError, match="file not found"):
        read_raw_photo(tmp_path / "missing.dng")


def test_layout_png_is_read_as_stored(tmp_path):
    import cv2

    raw = (np.arange(16 * 24).reshape(16, 24) % 1024).astype(np.uint16)
    cv2.imwrite(str(tmp_path / "r.png"), raw)
    np.testing.assert_array_equal(read_layout_raw(tmp_path / "r.png"), raw)
    with pytest.raises(MaikitError, match="not a RAW file"):
        read_layout_raw(tmp_path / "r.jpg")
