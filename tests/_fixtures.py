"""Helpers shared by the tests: tiny models and PNG/split writers independent of maikit's own.

The writers use plain OpenCV, so a test of maikit's readers never reads what maikit's own
writer produced. The pytest fixtures built on these live in ``tests/conftest.py``.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

SMALL_HW = (32, 48)  # packed ISP input of the small fixed files (keeps the tests fast)


# -- tiny models -----------------------------------------------------------------------------
def _torch_models():
    import torch
    import torch.nn as nn

    class TinyIsp(nn.Module):
        """conv-tanh-conv-PixelShuffle, the shape of a minimal learned ISP (4 -> 3 channels, x2)."""

        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.c1 = nn.Conv2d(4, 8, 3, padding=1)
            self.c2 = nn.Conv2d(8, 12, 3, padding=1)
            self.shuffle = nn.PixelShuffle(2)

        def forward(self, x):
            return torch.sigmoid(self.shuffle(self.c2(torch.tanh(self.c1(x)))))

    class TinyDepth(nn.Module):
        """RGB 0-255 -> positive depth in metres at the same size."""

        def __init__(self):
            super().__init__()
            torch.manual_seed(1)
            self.c1 = nn.Conv2d(3, 8, 3, padding=1)
            self.c2 = nn.Conv2d(8, 1, 3, padding=1)

        def forward(self, x):
            # scaled after the first conv: an elementwise op on the dynamic input itself does not
            # lower with dynamic height/width in this toolchain (the exporter then falls back)
            return 0.5 + 10.0 * torch.sigmoid(self.c2(torch.relu(self.c1(x) / 255.0)))

    return TinyIsp, TinyDepth


def __getattr__(name):  # TinyIsp / TinyDepth import PyTorch only when a test asks for them
    if name in ("TinyIsp", "TinyDepth"):
        isp, depth = _torch_models()
        globals().update(TinyIsp=isp, TinyDepth=depth)
        return globals()[name]
    raise AttributeError(name)


# -- a .tflite that crashes the runtime from the inside -----------------------------------------
CRASH_STAGES = ("load", "input", "invoke")


def crashing_tflite(where: str = "invoke") -> bytes:
    """A small ISP-shaped .tflite ([1, H, W, 4] -> [1, 2H, 2W, 3], H and W dynamic) with one
    field corrupted so that LiteRT (ai-edge-litert 2.3) dies by SIGSEGV in its native code.

    Written with the TFLite schema's object API (not maikit's writer). The valid graph is
    ``x -> MEAN over H, W -> m; x * m -> CONV_2D 3x3 (4 -> 12) -> DEPTH_TO_SPACE 2``. A tensor
    that refers to a non-empty buffer is a constant the interpreter reads in place from the
    model file, which ``Interpreter(model_path=...)`` maps read-only; LiteRT does not check
    that no one writes to such a tensor. ``where`` picks the corruption:

    * ``"load"``: the model table has no ``subgraphs`` field (the bytes are a valid
      flatbuffer: the field is optional). The interpreter builder reads the missing vector
      without a null check while loading. maikit's own reader refuses the file first ("the
      model has no subgraph"), so preflight rejects it without running LiteRT.
    * ``"input"``: the model's input tensor refers to a buffer holding an input's worth of
      zeros; allocation succeeds, and writing the input (``set_tensor``) copies into the
      read-only mapping.
    * ``"invoke"``: the MEAN's output ``m`` refers to a buffer of 4 floats; its shape
      [1, 1, 1, 4] is what MEAN computes, so preparing it is a no-op resize, and running the
      model writes the mean into the read-only mapping (with XNNPACK and with the builtin
      kernels alike). Preflight (a pure parse) accepts this file.

    ``"none"``: the same graph intact (it runs), the control for each corruption.
    """
    if where not in CRASH_STAGES + ("none",):
        raise ValueError(f"`where` must be one of {CRASH_STAGES + ('none',)}, got {where!r}")
    from ai_edge_litert import schema_py_generated as fb
    from ai_edge_litert.tools import flatbuffer_utils as fu

    def buffer(value=None):
        b = fb.BufferT()
        if value is not None:
            b.data = np.frombuffer(np.ascontiguousarray(value).tobytes(), dtype=np.uint8)
        return b

    def tensor(name, shape, buffer=0, signature=None, dtype=fb.TensorType.FLOAT32):
        t = fb.TensorT()
        t.name, t.shape, t.buffer, t.type = name.encode(), list(shape), buffer, dtype
        t.shapeSignature = list(signature) if signature else None
        return t

    def op(code_index, inputs, outputs, options_type=0, options=None):
        o = fb.OperatorT()
        o.opcodeIndex, o.inputs, o.outputs = code_index, list(inputs), list(outputs)
        o.builtinOptionsType, o.builtinOptions = options_type, options
        return o

    h, w = 16, 16
    rng = np.random.default_rng(0)
    model = fb.ModelT()
    model.version, model.description = 3, b"crashing_tflite"
    codes = []
    for name in ("MEAN", "MUL", "CONV_2D", "DEPTH_TO_SPACE"):
        c = fb.OperatorCodeT()
        c.builtinCode = getattr(fb.BuiltinOperator, name)
        c.deprecatedBuiltinCode, c.version = min(c.builtinCode, 127), 1
        codes.append(c)
    model.operatorCodes = codes
    model.buffers = [buffer(), buffer(np.array([1, 2], np.int32)),
                     buffer(rng.normal(0, 0.1, (12, 3, 3, 4)).astype(np.float32)), buffer(np.zeros(12, np.float32))]
    sg = fb.SubGraphT()
    sg.name = b"main"
    sg.tensors = [tensor("x", (1, h, w, 4), signature=(1, -1, -1, 4)),
                  tensor("axes", (2,), 1, dtype=fb.TensorType.INT32),
                  tensor("m", (1, 1, 1, 4)),
                  tensor("scaled", (1, h, w, 4), signature=(1, -1, -1, 4)),
                  tensor("filter", (12, 3, 3, 4), 2),
                  tensor("bias", (12,), 3),
                  tensor("features", (1, h, w, 12), signature=(1, -1, -1, 12)),
                  tensor("y", (1, 2 * h, 2 * w, 3), signature=(1, -1, -1, 3))]
    mean_opts, conv_opts, d2s_opts = fb.ReducerOptionsT(), fb.Conv2DOptionsT(), fb.DepthToSpaceOptionsT()
    mean_opts.keepDims = True
    conv_opts.padding, conv_opts.strideH, conv_opts.strideW = fb.Padding.SAME, 1, 1
    conv_opts.dilationHFactor = conv_opts.dilationWFactor = 1
    d2s_opts.blockSize = 2
    sg.operators = [op(0, (0, 1), (2,), fb.BuiltinOptions.ReducerOptions, mean_opts),
                    op(1, (0, 2), (3,), fb.BuiltinOptions.MulOptions, fb.MulOptionsT()),
                    op(2, (3, 4, 5), (6,), fb.BuiltinOptions.Conv2DOptions, conv_opts),
                    op(3, (6,), (7,), fb.BuiltinOptions.DepthToSpaceOptions, d2s_opts)]
    sg.inputs, sg.outputs = [0], [7]
    model.subgraphs = [sg]
    if where == "load":
        model.subgraphs = None
    elif where == "input":
        model.buffers.append(buffer(np.zeros((1, h, w, 4), np.float32)))
        sg.tensors[0].buffer = len(model.buffers) - 1
    elif where == "invoke":
        model.buffers.append(buffer(np.zeros((1, 1, 1, 4), np.float32)))
        sg.tensors[2].buffer = len(model.buffers) - 1
    return bytes(fu.convert_object_to_bytearray(model))


# -- files written with plain OpenCV -----------------------------------------------------------
def shared_tensor_tflite(n: int = 2_000_000) -> bytes:
    """A crafted .tflite: one subgraph whose tensors vector holds ``n`` offsets, all to one
    shared tensor table ([1, 16, 16, 4] float32, named ``x``), input and output tensor 0, no
    op. ``n = 2_000_000`` is the 8 MB file that kept a preflight slot busy for 55 s before
    maikit's reader bounded its work. Written with the flatbuffers builder; the offsets are
    placed with NumPy (2,000,000 builder calls take ~20 s), each the distance from its own
    slot to the shared table, as the builder's own PrependUOffsetTRelative computes it."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as fb

    b = flatbuffers.Builder(4 * n + 4096)
    name = b.CreateString("x")
    shape = b.CreateNumpyVector(np.array([1, 16, 16, 4], np.int32))
    fb.TensorStart(b)
    fb.TensorAddShape(b, shape)
    fb.TensorAddName(b, name)
    fb.TensorAddType(b, fb.TensorType.FLOAT32)
    fb.TensorAddBuffer(b, 0)
    table = fb.TensorEnd(b)
    b.StartVector(4, n, 4)
    base = b.Offset()
    values = (base + 4 * np.arange(n, dtype=np.int64) + 4 - table).astype("<u4")
    b.head -= 4 * n  # the k-th offset prepended lands 4 (k + 1) bytes below the vector's start
    b.Bytes[b.head:b.head + 4 * n] = values[::-1].tobytes()
    tensors = b.EndVector()
    io = b.CreateNumpyVector(np.array([0], np.int32))
    fb.SubGraphStartOperatorsVector(b, 0)
    ops = b.EndVector()
    fb.SubGraphStart(b)
    fb.SubGraphAddTensors(b, tensors)
    fb.SubGraphAddInputs(b, io)
    fb.SubGraphAddOutputs(b, io)
    fb.SubGraphAddOperators(b, ops)
    sg = fb.SubGraphEnd(b)
    fb.ModelStartSubgraphsVector(b, 1)
    b.PrependUOffsetTRelative(sg)
    subgraphs = b.EndVector()
    fb.BufferStart(b)
    empty = fb.BufferEnd(b)
    fb.ModelStartBuffersVector(b, 1)
    b.PrependUOffsetTRelative(empty)
    buffers = b.EndVector()
    fb.ModelStartOperatorCodesVector(b, 0)
    codes = b.EndVector()
    fb.ModelStart(b)
    fb.ModelAddVersion(b, 3)
    fb.ModelAddSubgraphs(b, subgraphs)
    fb.ModelAddBuffers(b, buffers)
    fb.ModelAddOperatorCodes(b, codes)
    b.Finish(fb.ModelEnd(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def write_png_cv(path: Path, img: np.ndarray) -> Path:
    """A PNG written with OpenCV (RGB order for 3 channels), folders created."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = img[:, :, ::-1] if img.ndim == 3 else img
    assert cv2.imwrite(str(path), np.ascontiguousarray(arr))
    return path


def mosaic_ref(rgb: np.ndarray) -> np.ndarray:
    """Reference RGGB mosaic: R at even/even, B at odd/odd, G elsewhere."""
    h, w, _ = rgb.shape
    rows, cols = np.mgrid[0:h, 0:w]
    channel = np.where((rows % 2 == 0) & (cols % 2 == 0), 0, np.where((rows % 2 == 1) & (cols % 2 == 1), 2, 1))
    return np.take_along_axis(rgb, channel[:, :, None], axis=2)[:, :, 0]


def make_isp_split(split_dir: Path, n: int = 3, hw: tuple[int, int] = (16, 24), seed: int = 0) -> list[str]:
    """Pairs whose RAW is exactly 4 x the mosaic of the RGB target (10-bit, <= 1020)."""
    rng = np.random.default_rng(seed)
    names = []
    for i in range(n):
        rgb = rng.integers(0, 256, size=(*hw, 3), dtype=np.uint8)
        raw = mosaic_ref(rgb).astype(np.uint16) * 4
        write_png_cv(split_dir / "mediatek_raw" / f"{i}.png", raw)
        write_png_cv(split_dir / "fujifilm" / f"{i}.png", rgb)
        names.append(f"{i}.png")
    return names


def make_depth_split(split_dir: Path, n: int = 2, seed: int = 0, hw: tuple[int, int] = (480, 640)) -> list[str]:
    """Random RGB photos and uint16 depth in millimetres (0.4 to 50 m)."""
    rng = np.random.default_rng(seed)
    names = []
    for i in range(n):
        write_png_cv(split_dir / "rgb" / f"{i}.png", rng.integers(0, 256, (*hw, 3), dtype=np.uint8))
        write_png_cv(split_dir / "depth" / f"{i}.png", rng.integers(400, 50000, hw, dtype=np.uint16))
        names.append(f"{i}.png")
    return names


def stop_group(proc, timeout: float = 30.0) -> None:
    """End a process started with ``start_new_session=True`` and its children: SIGTERM to its
    group, SIGKILL if it is still there after ``timeout`` seconds."""
    import os
    import signal
    import subprocess

    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def free_port() -> int:
    """A loopback TCP port that was free a moment ago; nothing listens on it once this returns."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- set-up shared by pytest-xdist's workers ----------------------------------------------------
def build_once(tmp_path_factory, name: str, build) -> Path:
    """A folder that ``build(folder)`` fills once per test run: under pytest-xdist the first
    worker to ask builds it (under a lock) in the run's own base folder and the other workers
    reuse it; a run without workers builds it in its base folder. Only for read-only inputs
    (model files to upload); reference data stays under each worker's own base folder
    (MAI_SERVER_REFERENCE_ROOT)."""
    import fcntl
    import os
    import shutil

    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # pytest-N/popen-gwK: pytest-N is this run's, shared by its workers only
    folder = base / f"shared-{name}"
    with open(base / f"shared-{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (folder / ".built").is_file():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            build(folder)
            (folder / ".built").write_text("")
    return folder
