"""RAW packing per convention, against the official slicing written out here."""

from __future__ import annotations

import numpy as np
import pytest

from maikit.data.isp import pack_raw, read_packed, read_raw, unpack_raw
from maikit.errors import MaikitError
from maikit.tasks import MAI21, MAI22_4095, MAI22_4096, get_raw_convention


def official_pack(raw: np.ndarray, convention: str) -> np.ndarray:
    raw = raw.astype(np.float32)
    if convention == "mai21":
        # MAI 2021 PUNET loader: stack(raw[1::2,1::2], raw[0::2,1::2], raw[0::2,0::2], raw[1::2,0::2]) / (4*255)
        return np.dstack((raw[1::2, 1::2], raw[0::2, 1::2], raw[0::2, 0::2], raw[1::2, 0::2])) / (4 * 255)
    # MAI 2022 tools: plain RGGB order, R first
    planes = np.dstack((raw[0::2, 0::2], raw[0::2, 1::2], raw[1::2, 0::2], raw[1::2, 1::2]))
    return planes / {"mai22-4095": 4095.0, "mai22-4096": 4096.0}[convention]


@pytest.fixture
def raw10() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 1024, size=(6, 10), dtype=np.uint16)


@pytest.mark.parametrize("convention", ["mai21", "mai22-4095", "mai22-4096"])
def test_pack_matches_official_slicing(raw10, convention):
    packed = pack_raw(raw10, get_raw_convention(convention))
    assert packed.shape == (3, 5, 4) and packed.dtype == np.float32
    np.testing.assert_allclose(packed, official_pack(raw10, convention), rtol=1e-6)


@pytest.mark.parametrize("convention", ["mai21", "mai22-4095", "mai22-4096"])
def test_unpack_is_exact_inverse(raw10, convention):
    conv = get_raw_convention(convention)
    back = unpack_raw(pack_raw(raw10, conv), conv)
    assert back.dtype == np.uint16
    np.testing.assert_array_equal(back, raw10)


def test_divisors_and_no_clipping():
    raw = np.full((2, 2), 1023, np.uint16)
    assert pack_raw(raw, MAI21).max() == pytest.approx(1023 / 1020)  # above 1: not clipped
    assert pack_raw(raw, MAI22_4095).max() == pytest.approx(1023 / 4095)
    assert pack_raw(raw, MAI22_4096).max() == pytest.approx(1023 / 4096)


def test_mai21_channel_sites():
    # R site (0,0) = 1, Gr-row green (0,1) = 2, (1,0) green = 3, B (1,1) = 4
    raw = np.tile(np.array([[1, 2], [3, 4]], np.uint16), (2, 2))
    assert pack_raw(raw, MAI21)[0, 0].tolist() == pytest.approx([4 / 1020, 2 / 1020, 1 / 1020, 3 / 1020])


def test_bad_inputs():
    with pytest.raises(MaikitError, match="odd"):
        pack_raw(np.zeros((5, 4), np.uint16))
    with pytest.raises(MaikitError, match="single-channel"):
        pack_raw(np.zeros((4, 4, 3), np.uint16))
    with pytest.raises(MaikitError, match="unknown RAW convention"):
        get_raw_convention("mai23")  # names become conventions at the edges (CLI, files)
    with pytest.raises(MaikitError, match=r"\(h, w, 4\)"):
        unpack_raw(np.zeros((4, 4, 3), np.float32))


def test_full_resolution_frame_packs():
    raw = np.zeros((2976, 3968), np.uint16)
    raw[0::2, 0::2] = 7
    packed = pack_raw(raw)
    assert packed.shape == (1488, 1984, 4)
    assert packed[:, :, 2].min() == pytest.approx(7 / 1020) and packed[:, :, [0, 1, 3]].max() == 0


def test_read_raw_and_errors(tmp_path, raw10, png_writer):
    png_writer(tmp_path / "ok.png", raw10)
    np.testing.assert_array_equal(read_raw(tmp_path / "ok.png"), raw10)
    np.testing.assert_allclose(read_packed(tmp_path / "ok.png"), official_pack(raw10, "mai21"), rtol=1e-6)

    png_writer(tmp_path / "rgb.png", np.zeros((4, 4, 3), np.uint8))
    png_writer(tmp_path / "eleven.png", np.full((4, 4), 2047, np.uint16))
    png_writer(tmp_path / "odd.png", np.zeros((5, 4), np.uint16))
    (tmp_path / "text.png").write_text("hello")
    for name, reason in [("rgb", "uint16 1-channel"), ("eleven", "2047 exceeds 10-bit"), ("odd", "odd"),
                         ("text", "not a PNG"), ("missing", "not found")]:
        with pytest.raises(MaikitError, match=reason) as e:
            read_raw(tmp_path / f"{name}.png")
        assert e.value.file.endswith(f"{name}.png")
