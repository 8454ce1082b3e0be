"""Inference from a trained run: RAW PNGs -> RGB PNGs (ISP), photos -> depth PNGs (depth).

ISP runs at full resolution. Large frames are processed in overlapping tiles: each tile's
input window reaches ``overlap`` packed pixels beyond the part of the output it keeps, and
the margins are discarded, so a model whose receptive field is smaller than the overlap
gives exactly the untiled result (no seams). Windows start and end on multiples of the
model's size multiple, so pooling grids line up with the untiled run as well.

Depth takes photos of any size (PNG or JPEG): resized to the model input (480×640, the
challenge frame), predicted, resized back, written as uint16 millimetre PNGs under the
input's name, plus a colourised preview in ``OUT/preview/<name>.png`` — kept in a
subfolder so ``OUT`` itself holds only depth maps that ``mai metrics`` can score.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import cv2
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from maikit.errors import MaikitError
from maikit.io import natural_key, write_png
from maikit.tasks import DEPTH, DEPTH_MODEL_UNIT_TO_MM, ISP, TaskSpec, get_raw_convention, get_task
from maikit.train.adapters import pad_to_multiple
from maikit.train.checkpoint import load_trained

DEFAULT_TILE = 512  # packed px, margins included
DEFAULT_OVERLAP = 32  # packed px on each side of a tile's kept part


def _spans(size: int, core: int, margin: int, multiple: int) -> Iterator[tuple[int, int, int, int]]:
    """(keep_start, keep_end, window_start, window_end) along one axis of length ``size``."""
    for k0 in range(0, size, core):
        k1 = min(k0 + core, size)
        w0 = max(0, k0 - margin) // multiple * multiple
        w1 = min(size, math.ceil((k1 + margin) / multiple) * multiple)
        yield k0, k1, w0, w1


@torch.no_grad()
def tiled_apply(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, *, tile: int | None,
                overlap: int = DEFAULT_OVERLAP, multiple: int = 1, scale: int = 1) -> torch.Tensor:
    """``fn(x)`` for N x C x H x W ``x`` (H, W multiples of ``multiple``), in tiles when large.

    ``tile`` is the window size in input pixels including the two ``overlap`` margins; None or
    0 (or a frame no larger than one tile) runs in one piece. ``scale`` is output/input size.
    """
    h, w = x.shape[-2:]
    if not tile or (h <= tile and w <= tile):
        return fn(x)
    if overlap < 0:
        raise MaikitError(f"`--overlap` must be 0 or more, got {overlap}")
    core = tile - 2 * overlap
    if core < max(1, multiple):
        raise MaikitError(f"`--tile {tile}` leaves no room inside the two {overlap}-px overlaps; "
                          f"use a tile larger than {2 * overlap + max(1, multiple)}")
    out: torch.Tensor | None = None
    for ky0, ky1, wy0, wy1 in _spans(h, core, overlap, multiple):
        for kx0, kx1, wx0, wx1 in _spans(w, core, overlap, multiple):
            o = fn(x[..., wy0:wy1, wx0:wx1])
            if out is None:
                out = o.new_zeros(o.shape[:2] + (h * scale, w * scale))
            out[..., ky0 * scale:ky1 * scale, kx0 * scale:kx1 * scale] = \
                o[..., (ky0 - wy0) * scale:(ky1 - wy0) * scale, (kx0 - wx0) * scale:(kx1 - wx0) * scale]
    return out


@torch.no_grad()
def predict_isp_packed(model: nn.Module, packed: torch.Tensor, *, size_multiple: int = 1, tile: int | None = None,
                       overlap: int = DEFAULT_OVERLAP) -> torch.Tensor:
    """Packed RAW N x 4 x H x W -> RGB N x 3 x 2H x 2W in [0, 1] (padded to the size multiple, tiled)."""
    m = max(1, size_multiple)
    xp, (h, w) = pad_to_multiple(packed, m)
    out = tiled_apply(model, xp, tile=tile, overlap=overlap, multiple=m, scale=2)
    return out[..., : 2 * h, : 2 * w].clamp(0, 1)


def read_photo(path: str | os.PathLike) -> np.ndarray:
    """A PNG or JPEG photo as HxWx3 uint8 RGB (16-bit PNGs are scaled to 8 bits).

    Anything but a 3-channel 8- or 16-bit image is refused with the file's name: a depth
    run given RAW Bayer PNGs (single-channel uint16) must not write "depth maps" of them.
    """
    path = Path(path)
    if path.suffix.lower() == ".png":
        from maikit.io import read_png

        img = read_png(path)
    else:
        if not path.is_file():
            raise MaikitError("file not found", path)
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if img is None:
            raise MaikitError("unreadable image (decoder failed)", path)
        img = img[:, :, ::-1]
    channels = 1 if img.ndim == 2 else img.shape[2]
    if channels == 4:  # RGBA: the photo without its alpha channel
        img, channels = img[:, :, :3], 3
    if channels != 3 or img.dtype not in (np.uint8, np.uint16):
        hint = (": a single-channel 16-bit PNG is a RAW Bayer frame, an input of the isp task"
                if channels == 1 and img.dtype == np.uint16 else "")
        raise MaikitError(f"expected an RGB photo (8- or 16-bit, 3 channels) for the depth task, "
                          f"got a {img.dtype} {channels}-channel image{hint}", path)
    if img.dtype == np.uint16:
        img = (img.astype(np.float32) / 257.0 + 0.5).astype(np.uint8)
    return np.ascontiguousarray(img)


@torch.no_grad()
def predict_depth_photo(model: nn.Module, rgb: np.ndarray, input_hw: tuple[int, int],
                        device: torch.device | str = "cpu") -> np.ndarray:
    """HxWx3 uint8 photo -> HxW float32 depth in millimetres at the photo's size."""
    h, w = rgb.shape[:2]
    ih, iw = input_hw
    interp = cv2.INTER_AREA if h > ih or w > iw else cv2.INTER_LINEAR
    x = cv2.resize(rgb, (iw, ih), interpolation=interp) if (h, w) != (ih, iw) else rgb
    t = torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1))).float()[None].to(device)
    depth_m = model(t).float()
    if depth_m.shape[-2:] != (h, w):
        depth_m = F.interpolate(depth_m, size=(h, w), mode="bilinear", align_corners=False)
    return (depth_m[0, 0].clamp_min(0) * DEPTH_MODEL_UNIT_TO_MM).cpu().numpy()


def list_inputs(path: str | os.PathLike, task: TaskSpec) -> list[Path]:
    """Input files: one file, or a folder's PNGs (ISP: also ``mediatek_raw/`` inside), photos for depth."""
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise MaikitError("input file or folder not found", path)
    if (path / task.input_dir).is_dir():
        path = path / task.input_dir
    files = sorted((p for p in path.iterdir() if p.suffix.lower() in task.predict_suffixes and not p.name.startswith(".")),
                   key=lambda p: natural_key(p.name))
    if not files:
        raise MaikitError(f"no {task.predict_input_kind} files here", path)
    return files


def _predict_isp_file(model: nn.Module, f: Path, stage: Path, name: str, ckpt: dict, entry, dev, tile, overlap
                      ) -> list[Path]:
    from maikit.data.isp import read_packed

    saved = ckpt.get("data", {}).get("raw_convention")  # the name the checkpoint stores
    conv = get_raw_convention(saved) if saved else ISP.raw_convention
    packed = torch.from_numpy(read_packed(f, conv).transpose(2, 0, 1).copy())[None].to(dev)
    rgb = predict_isp_packed(model, packed, size_multiple=entry.size_multiple, tile=tile, overlap=overlap)
    write_png(stage / name, (rgb[0].permute(1, 2, 0).cpu().numpy() * 255.0 + 0.5).astype(np.uint8))
    return [Path(name)]


def _predict_depth_file(model: nn.Module, f: Path, stage: Path, name: str, ckpt: dict, entry, dev, tile, overlap
                        ) -> list[Path]:
    from maikit.data.depth import colourise_depth, write_depth_mm

    depth_mm = predict_depth_photo(model, read_photo(f), DEPTH.train_input_hw, dev)
    write_depth_mm(stage / name, depth_mm)
    write_png(stage / "preview" / name, colourise_depth(depth_mm))
    return [Path(name), Path("preview") / name]


# what `predict` does with one input file, per task: (model, file, staging folder, output name, ...)
# -> the files written, relative to the staging folder
PREDICT_FILE = {ISP.name: _predict_isp_file, DEPTH.name: _predict_depth_file}


@dataclass
class PredictResult:
    task: str
    model_name: str
    checkpoint: str
    outputs: list[str]
    previews: list[str]

    def to_dict(self) -> dict:
        return {"task": self.task, "model": self.model_name, "checkpoint": self.checkpoint,
                "outputs": self.outputs, "previews": self.previews, "count": len(self.outputs)}


def predict_path(run: str | os.PathLike, inputs: str | os.PathLike, out: str | os.PathLike, *,
                 tile: int | None = DEFAULT_TILE, overlap: int = DEFAULT_OVERLAP, device: str = "cpu",
                 progress: Callable[[int, int, str], None] | None = None) -> PredictResult:
    """Run a trained model (run folder or checkpoint) on a file or folder; write PNGs to ``out``.

    All or nothing: the outputs appear in ``out`` only once every input has been predicted;
    on any failure ``out`` is left as it was (and removed again if this call created it).
    """
    from maikit.models import get_model_entry
    from maikit.train.distributed import resolve_device

    dev = resolve_device(device)
    model, ckpt = load_trained(run, dev)
    spec = get_task(ckpt["task"])
    entry = get_model_entry(ckpt["model_name"])
    files = list_inputs(inputs, spec)
    predict_file = PREDICT_FILE[spec.name]
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise MaikitError("the output path is a file, not a folder", out)
    # every output is written to a hidden staging folder inside OUT and moved into place
    # only when all inputs have been predicted: a failure leaves OUT as it was
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=".predict-", dir=out))
    staged: list[Path] = []
    try:
        for i, f in enumerate(files):
            staged += predict_file(model, f, stage, f.stem + ".png", ckpt, entry, dev, tile, overlap)
            if progress is not None:
                progress(i + 1, len(files), f.name)
        for rel in staged:
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            os.replace(stage / rel, out / rel)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        if created:
            shutil.rmtree(out, ignore_errors=True)
        raise
    shutil.rmtree(stage, ignore_errors=True)
    outputs = [str(out / rel) for rel in staged if rel.parent == Path(".")]
    previews = [str(out / rel) for rel in staged if rel.parent != Path(".")]
    return PredictResult(spec.name, ckpt["model_name"], ckpt["path"], outputs, previews)
