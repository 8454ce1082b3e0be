"""Writes the .tflite files beside this script with TensorFlow's own converter (TFLiteConverter),
the way models made outside maikit and litert-torch reach `mai inspect` / `mai bench`.

Made with Python 3.11.7, tensorflow-cpu 2.21.0 (Keras 3.15.1), numpy 2.4.6, in a throwaway
virtual environment outside the repository (TensorFlow is no dependency of maikit):

    python3 -m venv /tmp/tfvenv && /tmp/tfvenv/bin/pip install tensorflow-cpu
    /tmp/tfvenv/bin/python tests/tflite/foreign/make_tf_fixtures.py

The weights come from fixed seeds; the files are small (a few KB) and committed, so the tests
never need TensorFlow. What each file is:

* ``tf_convnet.tflite``: a Keras functional model, NHWC float32 1x16x16x3: conv + ReLU,
  depthwise conv, conv + ReLU, 1x1 conv, a residual ADD, a bilinear x2 resize, a sigmoid; one
  ``serving_default`` signature with Keras' tensor names.
* ``tf_dynamic_range.tflite``: the same model with ``Optimize.DEFAULT`` and no
  representative data: int8 weights, float activations (TF's "dynamic range" quantisation).
* ``tf_int8.tflite``: the same model fully integer-quantised on 8 calibration images, with
  int8 input and output tensors (scale and zero point on the I/O).
* ``tf_dynamic_hw.tflite``: a tf.function whose input is [1, None, None, 3] (height and width
  dynamic, -1 in the shape signature).
* ``tf_two_signatures.tflite``: a tf.Module with two signatures, ``encode`` (an image) and
  ``score`` (a vector), from concrete functions.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf

HERE = Path(__file__).resolve().parent


def convnet() -> tf.keras.Model:
    tf.keras.utils.set_random_seed(0)
    x = tf.keras.Input((16, 16, 3), batch_size=1, name="image")
    y = tf.keras.layers.Conv2D(16, 3, padding="same", activation="relu")(x)
    y = tf.keras.layers.DepthwiseConv2D(3, padding="same")(y)
    # 3x3x16x32 weights: past the 1024 elements below which TF leaves weights in float
    y = tf.keras.layers.Conv2D(32, 3, padding="same", activation="relu")(y)
    y = tf.keras.layers.Conv2D(3, 1)(y)
    y = tf.keras.layers.Add()([x, y])
    y = tf.keras.layers.Resizing(32, 32, interpolation="bilinear")(y)
    y = tf.keras.layers.Activation("sigmoid", name="rgb")(y)
    return tf.keras.Model(x, y)


def calibration():
    rng = np.random.default_rng(1)
    for _ in range(8):
        yield [rng.random((1, 16, 16, 3), dtype=np.float32)]


def write(name: str, data: bytes) -> None:
    (HERE / name).write_bytes(data)
    print(f"{name}: {len(data)} bytes")


def main() -> None:
    model = convnet()
    write("tf_convnet.tflite", tf.lite.TFLiteConverter.from_keras_model(model).convert())

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    write("tf_dynamic_range.tflite", conv.convert())

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = calibration
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    write("tf_int8.tflite", conv.convert())

    class Dynamic(tf.Module):
        def __init__(self):
            super().__init__()
            tf.random.set_seed(2)
            self.kernel = tf.Variable(tf.random.normal((3, 3, 3, 4), stddev=0.3))

        @tf.function(input_signature=[tf.TensorSpec((1, None, None, 3), tf.float32, name="image")])
        def features(self, image):
            return {"features": tf.nn.relu(tf.nn.conv2d(image, self.kernel, strides=1, padding="SAME"))}

    m = Dynamic()
    conv = tf.lite.TFLiteConverter.from_concrete_functions([m.features.get_concrete_function()], m)
    write("tf_dynamic_hw.tflite", conv.convert())

    class TwoSignatures(tf.Module):
        def __init__(self):
            super().__init__()
            tf.random.set_seed(3)
            self.kernel = tf.Variable(tf.random.normal((3, 3, 3, 2), stddev=0.3))
            self.weights = tf.Variable(tf.random.normal((6, 2), stddev=0.3))

        @tf.function(input_signature=[tf.TensorSpec((1, 8, 8, 3), tf.float32, name="image")])
        def encode(self, image):
            return {"code": tf.nn.conv2d(image, self.kernel, strides=2, padding="SAME")}

        @tf.function(input_signature=[tf.TensorSpec((1, 6), tf.float32, name="vector")])
        def score(self, vector):
            return {"logits": tf.matmul(vector, self.weights)}

    m = TwoSignatures()
    conv = tf.lite.TFLiteConverter.from_concrete_functions(
        [m.encode.get_concrete_function(), m.score.get_concrete_function()], m)
    write("tf_two_signatures.tflite", conv.convert())


if __name__ == "__main__":
    main()
