"""Post-training quantisation of a float .tflite with ai-edge-quantizer.

* ``int8``: static quantisation, int8 weights and activations (recipe ``static_wi8_ai8``,
  docs/references.md#lowering), calibrated on sample inputs; the file's input and output become int8 with a
  scale and zero point (:class:`~maikit.export.tflite.TfliteRunner` converts floats).
  Each activation's range is the minimum and maximum over *all* calibration samples: the
  library's default for its min/max algorithm is a moving average (weight 0.95 on the
  running value), which with the handful of samples used here keeps mostly the first
  sample's range and clips every brighter or darker image (a trained depth/aiia_hit lost
  7 dB PSNR on validation images that way, si-RMSE 0.415 instead of 0.395; FP32 0.390).
  A few ops stay float inside the int8 graph (DEQUANTIZE → float op → QUANTIZE), because
  LiteRT 2.3's int8 kernels for them are slower than float on CPU (1×120×160×16 after a
  1×1 conv, one thread, ``benchmarks/RESULTS.md`` "Deployment"): HARD_SWISH (MobileNetV3's
  activation; int8 1.17 ms vs float 0.12 ms), AVERAGE_POOL_2D (0.35 vs 0.12 ms) and the
  RELU/MUL/SUB ops ``torch.nn.PReLU`` lowers to (1.77 vs 0.21 ms; the zoo's PReLU exports as
  MUL + MAXIMUM, which int8 speeds up). :data:`FLOAT_OPS` lists them.
* ``fp16``: float16 weights (weight-only "float casting" to 16 bits), float32 I/O and
  compute; halves the file size, the form GPU delegates run natively.

Both read and return file bytes; writing is the caller's job (atomic, after verification).
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from typing import Iterable

import numpy as np

from maikit.errors import MaikitError, first_line

PRECISIONS = ("fp32", "fp16", "int8")

# ops (by TFLite op name) and (pattern, ops) by tensor name that int8 leaves in float: see the module docstring
FLOAT_OPS = ("HARD_SWISH", "AVERAGE_POOL_2D")
# torch's own PReLU module's element-wise ops by their tensor names (litert-torch names tensors
# after the module path); not its convolution, whose output name also carries "PReLU" once the
# converter fuses the ReLU into it. The zoo's `maikit.models.blocks.PReLU` exports as MUL +
# MAXIMUM instead, which int8 runs faster than float.
FLOAT_TENSOR_PATTERNS = ((r".*torch\.nn\.modules\.activation\.PReLU.*", ("RELU", "MUL", "SUB")),)


def int8_recipe() -> list[dict]:
    """ai-edge-quantizer's ``static_wi8_ai8`` recipe with :data:`FLOAT_OPS` and
    :data:`FLOAT_TENSOR_PATTERNS` left unquantised (later entries override earlier ones)."""
    from ai_edge_quantizer import recipe

    keep = [{"regex": ".*", "operation": op, "algorithm_key": "no_quantize", "op_config": {}} for op in FLOAT_OPS]
    keep += [{"regex": rx, "operation": op, "algorithm_key": "no_quantize", "op_config": {}}
             for rx, ops in FLOAT_TENSOR_PATTERNS for op in ops]
    return recipe.static_wi8_ai8() + keep


@contextlib.contextmanager
def _quiet():
    logger = logging.getLogger()
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        # the calibrator draws its own progress bar on stderr; the caller shows progress
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def _signature_input_name(float_model: bytes) -> tuple[str, str]:
    from ai_edge_litert.interpreter import Interpreter

    sigs = Interpreter(model_content=float_model).get_signature_list()
    if not sigs:
        raise MaikitError("the float model has no signature to calibrate")
    key = "serving_default" if "serving_default" in sigs else next(iter(sigs))
    inputs = sigs[key]["inputs"]
    if len(inputs) != 1:
        raise MaikitError(f"calibration supports one input, the model has {len(inputs)}")
    return key, inputs[0]


def quantize_int8(float_model: bytes, calibration: Iterable[np.ndarray], threads: int = 2) -> bytes:
    """Static int8 quantisation; ``calibration`` yields float inputs in the model's layout and shape."""
    from ai_edge_quantizer import quantizer

    from maikit.export.fold import depth_to_space_as_moves, shuffles_to_depth_to_space

    samples = [np.ascontiguousarray(x, np.float32) for x in calibration]
    if not samples:
        raise MaikitError("int8 quantisation needs at least one calibration input")
    # the quantiser leaves DEPTH_TO_SPACE (and all after it) in float: it quantises the same
    # data movement written as RESHAPE/TRANSPOSE, which then becomes DEPTH_TO_SPACE again
    float_model, shuffles = depth_to_space_as_moves(float_model)
    if shuffles:
        # those moves hold only at the calibration size: a dynamic file's input is stored at 1x1
        # (which the quantiser's interpreter prepares first), so it is stored at that size
        float_model = _stored_input_shape(float_model, samples[0].shape)
    key, name = _signature_input_name(float_model)
    try:
        with _quiet():
            rcp = int8_recipe()
            q = quantizer.Quantizer(bytearray(float_model), rcp)
            result = _calibrate_min_max(float_model, rcp, {key: [{name: x} for x in samples]}, threads)
            out = q.quantize(result, enable_progress_report=False)
    except MaikitError:
        raise
    except Exception as e:  # interpreter / delegate failures inside the quantiser
        first = first_line(e)
        shape = list(samples[0].shape)
        raise MaikitError(f"int8 quantisation failed at input shape {shape} ({first})") from None
    quantized = bytes(out.quantized_model)
    return shuffles_to_depth_to_space(quantized)[0] if shuffles else quantized


def _stored_input_shape(model_bytes: bytes, shape: tuple[int, ...]) -> bytes:
    """The model with its dynamic input's stored shape (not its signature) set to ``shape``."""
    from maikit.tflite.model import Graph, ints

    g = Graph(model_bytes)
    sg = g.model.subgraphs[0]
    t = sg.tensors[ints(sg.inputs)[0]]
    if min(ints(t.shapeSignature), default=0) >= 0 or len(ints(t.shape)) != len(shape):
        return model_bytes
    t.shape = [int(v) for v in shape]
    return g.to_bytes()


def _calibrate_min_max(float_model: bytes, rcp, data: dict, threads: int) -> dict:
    """Activation ranges as the overall min/max of ``data`` (see the module docstring)."""
    from ai_edge_quantizer import calibrator, recipe_manager
    from ai_edge_quantizer.utils import qsv_utils

    manager = recipe_manager.RecipeManager()
    manager.load_quantization_recipe(rcp)
    calib = calibrator.Calibrator(bytes(float_model), num_threads=threads, qsv_update_func=qsv_utils.min_max_update)
    calib.calibrate(data, manager)
    return calib.get_model_qsvs()


def quantize_fp16(float_model: bytes) -> bytes:
    """Float16 weights (dequantised at load time), float32 inputs, outputs and compute."""
    from ai_edge_quantizer import qtyping, quantizer
    from ai_edge_quantizer.algorithm_manager import AlgorithmName
    from ai_edge_quantizer.recipe_manager import RecipeManager

    rm = RecipeManager()
    rm.add_weight_only_config(
        regex=".*",
        operation_name=qtyping.TFLOperationName.ALL_SUPPORTED,
        num_bits=16,
        algorithm_key=AlgorithmName.FLOAT_CASTING,
    )
    with _quiet():
        q = quantizer.Quantizer(bytearray(float_model), rm.get_quantization_recipe())
        out = q.quantize(enable_progress_report=False)
    return bytes(out.quantized_model)
