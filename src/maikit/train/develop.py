"""Developing real camera RAW photos with a trained ISP model: DNG -> packed RAW -> RGB.

``mai isp develop`` reads each photo with rawpy (:mod:`maikit.data.rawphoto`: black level
subtracted, scaled to the RAW convention's bit depth, CFA phase aligned to RGGB), packs it
per the convention and runs the model on the whole frame:

* a run folder or checkpoint runs in PyTorch through the seamless tiled inference of
  :mod:`maikit.train.predict`;
* a ``.tflite`` file runs in a child process with memory, CPU-time and wall-clock limits (a
  model file is untrusted input); a file with a fixed input shape (e.g. the challenge's
  1x544x960x4) is run tile by tile, each tile padded to that shape, a dynamic-shape file
  (``model_none.tflite``) tile by tile at the tile's own size (padded to a multiple of 32).

Outputs: ``OUT/<stem>.png`` (uint8 RGB at twice the packed size) and, with ``jpeg``,
``OUT/<stem>.jpg``; every file is written to a temporary name and renamed into place.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from maikit import io as mio
from maikit.errors import MaikitError
from maikit.tasks import ISP, RawConvention, get_raw_convention

DEFAULT_TILE = 512  # packed px, margins included (as `mai predict`)
DEFAULT_OVERLAP = 32
TFLITE_SIZE_MULTIPLE = 32  # UNet-style models pool 5 times (docs/references.md#isp-data)
TFLITE_MEMORY_BYTES = 16 << 30  # address-space limit of the child that runs a .tflite
TFLITE_TIMEOUT_S = 3600.0
JPEG_QUALITY = 95


@dataclass
class DevelopResult:
    model: str
    raw_convention: str
    photos: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"model": self.model, "raw_convention": self.raw_convention, "count": len(self.photos),
                "photos": self.photos}


def list_photos(path: str | os.PathLike) -> list[Path]:
    """One file (any extension: rawpy decides), or a folder's camera RAW files."""
    from maikit.data.rawphoto import list_raw_files

    path = Path(path)
    if path.is_file():
        return [path]
    if not path.exists():
        raise MaikitError("photo or folder not found", path)
    files = list_raw_files(path, png=False)
    if not files:
        raise MaikitError("no camera RAW files here (.dng, .cr2, .nef, .arw, ...)", path)
    return files


def _to_uint8(rgb01: np.ndarray) -> np.ndarray:
    return (np.clip(rgb01, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


# --------------------------------------------------------------------------------------
# PyTorch model
# --------------------------------------------------------------------------------------
class _TorchDeveloper:
    def __init__(self, run: str | os.PathLike, device: str, tile: int | None, overlap: int):
        from maikit.models import get_model_entry
        from maikit.train.checkpoint import load_trained
        from maikit.train.distributed import resolve_device

        self.device = resolve_device(device)
        self.model, ckpt = load_trained(run, self.device)
        if ckpt.get("task") != ISP.name:
            raise MaikitError(f"this run is a `{ckpt.get('task')}` model; developing RAW photos needs an ISP model",
                              ckpt["path"])
        self.name = ckpt["model_name"]
        saved = ckpt.get("data", {}).get("raw_convention")  # the name the checkpoint stores
        self.convention = get_raw_convention(saved) if saved else ISP.raw_convention
        self.multiple = get_model_entry(self.name).size_multiple
        self.tile, self.overlap = tile, overlap

    def __call__(self, packed: np.ndarray) -> np.ndarray:
        import torch

        from maikit.train.predict import predict_isp_packed

        x = torch.from_numpy(np.ascontiguousarray(packed.transpose(2, 0, 1)))[None].to(self.device)
        rgb = predict_isp_packed(self.model, x, size_multiple=self.multiple, tile=self.tile, overlap=self.overlap)
        return _to_uint8(rgb[0].permute(1, 2, 0).float().cpu().numpy())


# --------------------------------------------------------------------------------------
# TFLite model, in a child process
# --------------------------------------------------------------------------------------
def _tflite_develop(path: str, packed: np.ndarray, tile: int | None, overlap: int, threads: int) -> np.ndarray:
    """Packed (h, w, 4) float32 -> uint8 (2h, 2w, 3); runs inside the child."""
    import torch

    from maikit.tflite.runner import TfliteRunner
    from maikit.train.predict import predict_isp_packed

    runner = TfliteRunner(path, threads=threads)
    shape = runner.input_signature
    if len(shape) != 4 or shape[3] != packed.shape[2]:
        raise MaikitError(f"expected an NHWC input with {packed.shape[2]} channels, the file has {list(shape)}", path)
    fixed = None if runner.dynamic else (shape[1], shape[2])

    def fn(x: torch.Tensor) -> torch.Tensor:
        win = x[0].permute(1, 2, 0).numpy()
        h, w = win.shape[:2]
        if fixed is not None:  # pad the window to the file's shape, keep the part it covers
            win = np.pad(win, ((0, fixed[0] - h), (0, fixed[1] - w), (0, 0)), mode="reflect" if
                         fixed[0] - h < h and fixed[1] - w < w else "edge")
        out = runner.run(win[None].astype(np.float32))
        if out.ndim != 4 or out.shape[3] != 3:
            raise MaikitError(f"expected an NHWC RGB output, the file gives shape {list(out.shape)}", path)
        scale = out.shape[1] // win.shape[0]
        return torch.from_numpy(np.ascontiguousarray(out[0, : h * scale, : w * scale].transpose(2, 0, 1)))[None]

    x = torch.from_numpy(np.ascontiguousarray(packed.transpose(2, 0, 1)))[None]
    multiple = TFLITE_SIZE_MULTIPLE
    if fixed is not None:
        # every window is padded to the file's shape, so no size multiple is needed, and every
        # window must fit into it
        multiple = 1
        tile = min(fixed) if tile is None else min(tile, min(fixed))
        if tile <= 2 * overlap:
            raise MaikitError(f"the file's input {fixed[0]}x{fixed[1]} is too small to tile with overlap {overlap}", path)
    rgb = predict_isp_packed(fn, x, size_multiple=multiple, tile=tile, overlap=overlap)
    return _to_uint8(rgb[0].permute(1, 2, 0).numpy())


def _child_main(conn, path: str, packed: np.ndarray, tile, overlap: int, threads: int, memory: int, cpu_s: float):
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    cpu = int(math.ceil(cpu_s))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
    try:
        conn.send(("ok", _tflite_develop(path, packed, tile, overlap, threads)))
    except MaikitError as e:
        conn.send(("error", e.reason))
    except MemoryError:
        conn.send(("error", f"ran out of memory (limit {memory >> 20} MiB)"))
    except Exception as e:  # a model that fails inside LiteRT
        conn.send(("error", f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"))
    finally:
        conn.close()


class _TfliteDeveloper:
    def __init__(self, path: str | os.PathLike, convention: RawConvention, tile: int | None, overlap: int, threads: int,
                 memory_bytes: int = TFLITE_MEMORY_BYTES, timeout_s: float = TFLITE_TIMEOUT_S):
        self.path = Path(path)
        if not self.path.is_file():
            raise MaikitError("model file not found", self.path)
        self.name = self.path.name
        self.convention = convention
        self.tile, self.overlap, self.threads = tile, overlap, threads
        self.memory, self.timeout = memory_bytes, timeout_s

    def __call__(self, packed: np.ndarray) -> np.ndarray:
        import multiprocessing as mp

        ctx = mp.get_context("spawn")
        parent, child = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_child_main, args=(child, str(self.path), packed, self.tile, self.overlap,
                                                     self.threads, self.memory, self.timeout * self.threads))
        proc.start()
        child.close()
        try:
            if not parent.poll(self.timeout):
                raise MaikitError(f"the model ran longer than {self.timeout:g} s and was stopped", self.path)
            status, payload = parent.recv()
        except EOFError:
            proc.join(10)
            raise MaikitError(f"the model's process died (exit code {proc.exitcode})", self.path) from None
        finally:
            if proc.is_alive():
                proc.kill()
            proc.join(10)
            parent.close()
        if status != "ok":
            raise MaikitError(payload, self.path)
        return payload


# --------------------------------------------------------------------------------------
# The command
# --------------------------------------------------------------------------------------
def _make_developer(model: Path, raw_convention: RawConvention | None, tile: int | None, overlap: int, threads: int,
                    device: str) -> _TorchDeveloper | _TfliteDeveloper:
    if model.suffix.lower() == ".tflite":
        return _TfliteDeveloper(model, raw_convention or ISP.raw_convention, tile, overlap, threads)
    runner = _TorchDeveloper(model, device, tile, overlap)
    if raw_convention:
        runner.convention = raw_convention
    return runner


def develop(photos: str | os.PathLike, model: str | os.PathLike, out: str | os.PathLike, *,
            raw_convention: RawConvention | None = None, jpeg: bool = False, tile: int | None = DEFAULT_TILE,
            overlap: int = DEFAULT_OVERLAP, threads: int = 2, device: str = "cpu",
            progress: Callable[[int, int, str], None] | None = None) -> DevelopResult:
    """Develop one camera RAW file or every RAW file of a folder with ``model`` (a run
    folder, a checkpoint, or a ``.tflite`` file); see the module docstring."""
    from maikit.data.isp import pack_raw
    from maikit.data.rawphoto import read_raw_photo, to_layout_mosaic

    files = list_photos(photos)
    model = Path(model)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise MaikitError("not a folder", out)
    runner = None
    result = DevelopResult(model="", raw_convention="")
    for i, f in enumerate(files):
        t0 = time.perf_counter()
        photo = read_raw_photo(f)  # a file that is no RAW photo fails before the model loads
        if runner is None:
            runner = _make_developer(model, raw_convention, tile, overlap, threads, device)
            conv = runner.convention
            result = DevelopResult(model=runner.name, raw_convention=conv.name)
        mosaic = to_layout_mosaic(photo, conv)
        rgb = runner(pack_raw(mosaic, conv))
        seconds = time.perf_counter() - t0
        png = mio.write_png(out / f"{f.stem}.png", rgb)
        entry = {"input": str(f), "png": str(png), "cfa": photo.pattern, "white_level": photo.white,
                 "black_level": photo.black.tolist(), "raw_hw": list(mosaic.shape), "rgb_hw": list(rgb.shape[:2]),
                 "seconds": round(seconds, 3), "megapixels": round(mosaic.size / 1e6, 3)}
        if jpeg:
            ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(rgb[:, :, ::-1]), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
            if not ok:
                raise MaikitError("JPEG encoding failed", out / f"{f.stem}.jpg")
            entry["jpeg"] = str(mio.write_bytes(out / f"{f.stem}.jpg", buf.tobytes()))
        result.photos.append(entry)
        if progress is not None:
            progress(i + 1, len(files), f.name)
    return result
