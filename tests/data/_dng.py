"""DNG files written with PiDNG (an independent DNG writer from the package registry)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

# colours of the 2x2 cell at (0, 0) -> PiDNG's CFAPattern codes (0 = R, 1 = G, 2 = B)
CFA_CODES = {"RGGB": [0, 1, 1, 2], "BGGR": [2, 1, 1, 0], "GRBG": [1, 0, 2, 1], "GBRG": [1, 2, 0, 1]}


def write_dng(path: Path, mosaic: np.ndarray, pattern: str, white: int, black: list[int],
              bits_per_sample: int = 16) -> Path:
    """An uncompressed Bayer DNG of ``mosaic`` (uint16, values as stored) at ``path``.

    ``black`` has one value, or four (one per position of the 2x2 cell, BlackLevelRepeatDim 2x2).
    PiDNG 4.0.9's 14-bit packer is broken for most widths, so 14-bit data goes in a 16-bit
    container with a 14-bit white level, as many cameras store it.
    """
    from pidng.core import RAW2DNG, DNGTags, Tag
    from pidng.defs import CalibrationIlluminant, DNGVersion, Orientation, PhotometricInterpretation

    h, w = mosaic.shape
    t = DNGTags()
    t.set(Tag.ImageWidth, w)
    t.set(Tag.ImageLength, h)
    t.set(Tag.TileWidth, w)
    t.set(Tag.TileLength, h)
    t.set(Tag.Orientation, Orientation.Horizontal)
    t.set(Tag.PhotometricInterpretation, PhotometricInterpretation.Color_Filter_Array)
    t.set(Tag.SamplesPerPixel, 1)
    t.set(Tag.BitsPerSample, bits_per_sample)
    t.set(Tag.CFARepeatPatternDim, [2, 2])
    t.set(Tag.CFAPattern, CFA_CODES[pattern])
    if len(black) == 4:
        t.set(Tag.BlackLevelRepeatDim, [2, 2])
    t.set(Tag.BlackLevel, list(black) if len(black) == 4 else black[0])
    t.set(Tag.WhiteLevel, white)
    t.set(Tag.ColorMatrix1, [[1, 1], [0, 1], [0, 1], [0, 1], [1, 1], [0, 1], [0, 1], [0, 1], [1, 1]])
    t.set(Tag.CalibrationIlluminant1, CalibrationIlluminant.D65)
    t.set(Tag.AsShotNeutral, [[1, 1], [1, 1], [1, 1]])
    t.set(Tag.Make, "maikit")
    t.set(Tag.Model, "test sensor")
    t.set(Tag.DNGVersion, DNGVersion.V1_4)
    t.set(Tag.DNGBackwardVersion, DNGVersion.V1_2)
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = RAW2DNG()
    writer.options(t, path=str(path.parent), compress=False)
    written = Path(writer.convert(np.ascontiguousarray(mosaic, dtype=np.uint16), filename=path.stem))
    assert written == path, written
    return path
