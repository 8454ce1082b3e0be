"""RAW photos from real cameras: DNG (and every format LibRaw reads) -> the layout's RGGB mosaic.

A camera file stores the sensor's values as recorded: a black level (per CFA position)
above zero, a white level at saturation (e.g. 1023, 4095 or 16383 for 10-, 12- and 14-bit
sensors) and its own colour-filter phase (RGGB, BGGR, GRBG or GBRG). The challenge's RAW
frames (docs/references.md#isp-data) are RGGB with R at (0, 0) and values on the RAW convention's bit depth
(10-bit for every convention in :mod:`maikit.taskspec`). :func:`to_layout_mosaic` maps one to
the other:

1. ``value = (raw - black[pos]) / (white - black[pos])``, clipped to [0, 1], per pixel with
   the black level of its own CFA position;
2. ``x (2**bit_depth - 1)``, rounded (so a 10-bit camera file with black 0 and white 1023
   comes through unchanged);
3. the frame is cropped so that it starts on an R pixel (one row for GBRG, one column for
   GRBG, both for BGGR) and to an even size: packing then follows the convention as for
   every other RAW file.

Reading uses rawpy (LibRaw): the visible area only, the CFA layout from ``raw_pattern`` and
``color_desc``, the black levels from ``black_level_per_channel`` (LibRaw folds DNG's
per-position black levels into them) and the white level.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from maikit import io as mio
from maikit.errors import MaikitError
from maikit.taskspec import MAI21, RawConvention

# Extensions of camera RAW files LibRaw reads (lower case); other files are left alone when
# a folder is listed.
RAW_SUFFIXES = (
    ".dng", ".cr2", ".cr3", ".crw", ".nef", ".nrw", ".arw", ".srf", ".sr2", ".raf", ".orf",
    ".rw2", ".pef", ".srw", ".x3f", ".3fr", ".iiq", ".erf", ".kdc", ".dcr", ".mos", ".mrw", ".raw",
)
BAYER_PATTERNS = ("RGGB", "BGGR", "GRBG", "GBRG")


@dataclass(frozen=True)
class RawPhoto:
    """The visible sensor data of one camera file, as stored."""

    path: Path
    mosaic: np.ndarray  # HxW uint16, the camera's own CFA phase
    pattern: str  # "RGGB", "BGGR", "GRBG" or "GBRG": colours of the 2x2 cell at (0, 0)
    black: np.ndarray  # 2x2 float64: black level of each position of the cell at (0, 0)
    white: float  # saturation value
    camera: str = ""

    @property
    def r_offset(self) -> tuple[int, int]:
        """(row, col) of the first R pixel: where the frame is cropped to start RGGB."""
        i = self.pattern.index("R")
        return i // 2, i % 2


def _pattern_of(raw) -> str:
    """The 2x2 CFA pattern from rawpy's ``raw_pattern`` (indices into ``color_desc``)."""
    pattern = raw.raw_pattern
    desc = raw.color_desc.decode("ascii", "replace")
    if pattern is None or np.asarray(pattern).shape != (2, 2):
        shape = "none" if pattern is None else "x".join(map(str, np.asarray(pattern).shape))
        raise MaikitError(f"not a 2x2 Bayer sensor (CFA pattern {shape}, colours {desc!r}); "
                          "only RGGB/BGGR/GRBG/GBRG RAW files can be packed")
    letters = "".join(desc[int(i)] for i in np.asarray(pattern).reshape(-1))
    if letters not in BAYER_PATTERNS:
        raise MaikitError(f"CFA pattern {letters} is not a Bayer RGGB/BGGR/GRBG/GBRG pattern")
    return letters


def read_raw_photo(path: str | os.PathLike) -> RawPhoto:
    """Read a camera RAW file (DNG, CR2, NEF, ARW, ...) with rawpy.

    Raises MaikitError naming the file when it is missing, not a RAW file LibRaw reads, or
    not from a 2x2 Bayer sensor (X-Trans, Foveon and linear DNGs are refused).
    """
    import rawpy

    path = Path(path)
    if not path.is_file():
        raise MaikitError("file not found", path)
    try:
        with rawpy.imread(str(path)) as raw:
            try:
                pattern = _pattern_of(raw)
            except MaikitError as e:
                raise MaikitError(e.reason, path) from None
            mosaic = np.array(raw.raw_image_visible, dtype=np.uint16, copy=True)
            colours = np.asarray(raw.raw_colors_visible)[:2, :2]
            per_channel = np.asarray(raw.black_level_per_channel, np.float64)
            black = per_channel[colours]
            white = float(raw.white_level)
            camera = ""
    except MaikitError:
        raise
    except Exception as e:  # rawpy raises its own LibRaw* errors (and IOError) for bad files
        reason = str(e).strip().strip("b'\"") or type(e).__name__
        raise MaikitError(f"not a RAW photo rawpy can read ({reason})", path) from None
    if mosaic.ndim != 2 or min(mosaic.shape) < 2:
        raise MaikitError(f"RAW frame of shape {mosaic.shape} is too small", path)
    if not white > black.max():
        raise MaikitError(f"white level {white:g} is not above the black level {black.max():g}", path)
    return RawPhoto(path, mosaic, pattern, black, white, camera)


def to_layout_mosaic(photo: RawPhoto, convention: RawConvention = MAI21) -> np.ndarray:
    """The photo as the layout's RAW: uint16 RGGB (R at (0, 0)), even size, values on the
    convention's bit depth with the black level subtracted (see the module docstring)."""
    h, w = photo.mosaic.shape
    black = np.tile(photo.black, (h // 2 + 1, w // 2 + 1))[:h, :w]
    scaled = (photo.mosaic.astype(np.float64) - black) / (photo.white - black)
    values = np.rint(np.clip(scaled, 0.0, 1.0) * convention.max_value).astype(np.uint16)
    r0, c0 = photo.r_offset
    values = values[r0:, c0:]
    hh, ww = values.shape[0] // 2 * 2, values.shape[1] // 2 * 2
    if hh < 2 or ww < 2:
        raise MaikitError("RAW frame too small after aligning the CFA to RGGB", photo.path)
    return np.ascontiguousarray(values[:hh, :ww])


def is_raw_file(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in RAW_SUFFIXES


def read_layout_raw(path: str | os.PathLike, convention: RawConvention = MAI21) -> np.ndarray:
    """A RAW frame as the layout's uint16 RGGB mosaic: a camera file (by extension) through
    :func:`to_layout_mosaic`, or a layout RAW PNG as stored (validated)."""
    path = Path(path)
    if is_raw_file(path):
        return to_layout_mosaic(read_raw_photo(path), convention)
    if path.suffix.lower() == ".png":
        from maikit.data.isp import read_raw

        return read_raw(path, convention)
    raise MaikitError(f"not a RAW file (expected a camera RAW such as .dng, or a RAW PNG); got `{path.suffix}`", path)


def list_raw_files(folder: str | os.PathLike, *, png: bool = True) -> list[Path]:
    """Camera RAW files (and, with ``png``, RAW PNGs) directly in ``folder``, natural order."""
    folder = Path(folder)
    if not folder.is_dir():
        raise MaikitError("folder not found", folder)
    files = [p for p in folder.iterdir()
             if p.is_file() and not p.name.startswith(".") and (is_raw_file(p) or (png and p.suffix.lower() == ".png"))]
    return sorted(files, key=lambda p: mio.natural_key(p.name))
