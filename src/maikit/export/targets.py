"""What each deployment target accepts, as data for ``mai inspect``'s compatibility findings.

Op names are TFLite builtin operator names (``schema.fbs``). The sets are conservative,
for the delegates of the challenges' era and the devices they ran on:

* ``gpu``: the LiteRT / TFLite GPU delegate. Sources: the "GPU ML operations support"
  section of https://ai.google.dev/edge/litert/performance/gpu and the operation parsers
  registered in ``tensorflow/lite/delegates/gpu/common/model_builder.cc``. Tensors are
  limited to rank 4 (BHWC). SELECT / SELECT_V2 are left out: PReLU lowered to
  GREATER + SELECT is rejected by the delegate (docs/references.md#lowering).
* ``npu``: a typical NNAPI accelerator (e.g. the MediaTek APU of the MAI 2021 ISP runtime
  target). Sources: the Android NNAPI operation list (``NeuralNetworks.h``, feature level 3 /
  Android 10) as mapped from TFLite ops in ``tensorflow/lite/delegates/nnapi/nnapi_delegate.cc``.
  Rank at most 4; vendor drivers run int8 (or fp16-relaxed) models.
* ``cpu``: the builtin kernels (+ XNNPACK): every builtin op runs; of the custom ops, XNNPACK
  runs the three MediaPipe ones in ``XNNPACK_CUSTOM_OPS``; other custom ops and Flex ops need
  their own kernels.

The per-op conditions the GPU delegate checks beyond the op's name (``maikit.export.inspect``
applies them) and their sources are listed in ``docs/delegate-compatibility.md``.
"""

from __future__ import annotations

TARGETS = ("cpu", "gpu", "npu")
MAX_RANK = {"gpu": 4, "npu": 4}

GPU_OPS = frozenset({
    "ABS", "ADD", "AVERAGE_POOL_2D", "BATCH_MATMUL", "CAST", "CONCATENATION", "CONV_2D", "COS",
    "DEPTH_TO_SPACE", "DEPTHWISE_CONV_2D", "DEQUANTIZE", "DIV", "ELU", "EQUAL", "EXP", "FLOOR",
    "FLOOR_DIV", "FLOOR_MOD", "FULLY_CONNECTED", "GATHER", "GREATER", "GREATER_EQUAL", "HARD_SWISH",
    "LEAKY_RELU", "LESS", "LESS_EQUAL", "LOG", "LOGICAL_AND", "LOGISTIC", "LSTM", "MAXIMUM",
    "MAX_POOL_2D", "MEAN", "MINIMUM", "MIRROR_PAD", "MUL", "NEG", "NOT_EQUAL", "PACK", "PAD", "PADV2",
    "POW", "PRELU", "QUANTIZE", "REDUCE_MAX", "REDUCE_MIN", "REDUCE_PROD", "RELU", "RELU6",
    "RELU_N1_TO_1", "RESHAPE", "RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR", "RSQRT", "SIN",
    "SLICE", "SOFTMAX", "SPACE_TO_DEPTH", "SPLIT", "SPLIT_V", "SQRT", "SQUARE",
    "SQUARED_DIFFERENCE", "STRIDED_SLICE", "SUB", "SUM", "TANH", "TILE", "TRANSPOSE",
    "TRANSPOSE_CONV", "DENSIFY",
})

# Custom ops (by custom code) with a kernel in the delegate (MediaPipe's ops): the GPU delegate's
# compatibility check accepts these four; XNNPACK's delegate visits the first three.
GPU_CUSTOM_OPS = frozenset({"Convolution2DTransposeBias", "MaxPoolingWithArgmax2D", "MaxUnpooling2D", "Resampler"})
XNNPACK_CUSTOM_OPS = frozenset({"Convolution2DTransposeBias", "MaxPoolingWithArgmax2D", "MaxUnpooling2D"})

NPU_OPS = frozenset({
    "ABS", "ADD", "ARG_MAX", "ARG_MIN", "AVERAGE_POOL_2D", "BATCH_TO_SPACE_ND", "CAST",
    "CONCATENATION", "CONV_2D", "DEPTH_TO_SPACE", "DEPTHWISE_CONV_2D", "DEQUANTIZE", "DIV", "ELU",
    "EQUAL", "EXP", "EXPAND_DIMS", "FLOOR", "FULLY_CONNECTED", "GATHER", "GREATER", "GREATER_EQUAL",
    "HARD_SWISH", "L2_NORMALIZATION", "LEAKY_RELU", "LESS", "LESS_EQUAL", "LOCAL_RESPONSE_NORMALIZATION",
    "LOG", "LOGICAL_AND", "LOGICAL_NOT", "LOGICAL_OR", "LOGISTIC", "LSTM", "MAXIMUM", "MAX_POOL_2D",
    "MEAN", "MINIMUM", "MIRROR_PAD", "MUL", "NEG", "NOT_EQUAL", "PACK", "PAD", "PADV2", "POW",
    "PRELU", "QUANTIZE", "REDUCE_ANY", "REDUCE_MAX", "REDUCE_MIN", "REDUCE_PROD", "RELU", "RELU6",
    "RELU_N1_TO_1", "RESHAPE", "RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR", "RSQRT", "SELECT",
    "SIN", "SLICE", "SOFTMAX", "SPACE_TO_BATCH_ND", "SPACE_TO_DEPTH", "SPLIT", "SPLIT_V", "SQRT",
    "SQUARED_DIFFERENCE", "SQUEEZE", "STRIDED_SLICE", "SUB", "SUM", "TANH", "TILE", "TOPK_V2",
    "TRANSPOSE", "TRANSPOSE_CONV", "UNPACK",
})

SUPPORTED_OPS = {"gpu": GPU_OPS, "npu": NPU_OPS}

TARGET_TITLES = {"cpu": "CPU (builtin kernels + XNNPACK)", "gpu": "GPU delegate", "npu": "NNAPI / NPU"}

# Reasons for ops known to trouble delegates, more telling than "not supported".
KNOWN_OP_REASONS = {
    "SELECT": "SELECT (PReLU or torch.where lowered as GREATER + SELECT) is not supported by the {title}",
    "SELECT_V2": "SELECT_V2 (PReLU or torch.where lowered as GREATER + SELECT) is not supported by the {title}",
    "GATHER_ND": "GATHER_ND (tensor indexing) is not supported by the {title}",
    # clamp(x, 0, 1) lowers to RELU_0_TO_1, a builtin added long after the challenges'
    # TFLite 2.5 runtimes; delegates of that era do not know it
    "RELU_0_TO_1": "RELU_0_TO_1 (clamp to [0, 1]) is a recent builtin outside the {title}'s op set",
}

# The GPU delegate's conditions beyond the op's name, as ``mai inspect`` applies them
# (``inspect._gpu_condition``): the node is taken when... (docs/delegate-compatibility.md has
# the same table with its sources; a test keeps the two equal). The generated optimisation
# guideline (maikit.export.guideline) lists them per op.
_GPU_CONDITION_GROUPS = {
    ("DENSIFY",): "it has 0 runtime inputs and 1 output: its input is a constant sparse tensor, which the delegate "
                  "densifies once when it builds the graph",
    ("DEQUANTIZE",): "1 input, 1 output, and the input is not int16 (fp16 and 8-bit inputs are dequantised)",
    ("CONV_2D", "DEPTHWISE_CONV_2D", "TRANSPOSE_CONV"): "at most 2 runtime inputs (the image, and the weights when they "
                                                        "are computed)",
    ("FULLY_CONNECTED",): "at most 2 runtime inputs, and the first input is not a constant",
    ("MEAN",): "1 runtime input and constant int32 axes",
    ("RESHAPE", "TRANSPOSE", "TILE", "QUANTIZE", "DEPTH_TO_SPACE", "SPACE_TO_DEPTH", "HARD_SWISH"): "exactly 1 runtime input",
    ("SLICE", "STRIDED_SLICE"): "the sliced tensor has rank 3 or 4",
    ("ADD", "MUL"): "two inputs",
}
GPU_CONDITIONS = {op: text for ops, text in _GPU_CONDITION_GROUPS.items() for op in ops}
