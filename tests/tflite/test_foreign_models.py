"""Models the project did not make, through `mai inspect` and `mai bench`, with LiteRT's own
interpreter as the reference (op histogram, tensor names, shapes, dtypes, outputs)."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest
from _foreign import CUSTOM_OP, TF_MADE, build_all, convs
from typer.testing import CliRunner

from maikit.cli import app
from maikit.errors import MaikitError
from maikit.export.inspect import inspect_tflite
from maikit.runtime import benchmark_tflite
from maikit.runtime.opprofile import profile_ops
from maikit.tflite.runner import ModelRunner

FAST = ["--runs", "2", "--min-seconds", "0", "--warmup-seconds", "0"]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return build_all(tmp_path_factory.mktemp("foreign"))


def _interpreter(path, delegates=False):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    kw = {} if delegates else {"experimental_op_resolver_type": OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES}
    return Interpreter(model_path=str(path), **kw)


def _io(details):
    return [(d["name"], [int(v) for v in d["shape_signature"]], np.dtype(d["dtype"]).name) for d in details]


def _bench(args):
    res = CliRunner().invoke(app, ["bench", *map(str, args)])
    return res, (json.loads(res.stdout) if res.exit_code == 0 and "--json" in args else None)


@pytest.mark.parametrize("name", ["multi", "sigs", "fp16", "custom", "tconvbias", "densify", *TF_MADE])
def test_inspect_agrees_with_the_interpreter(models, name):
    path = models[name]
    report = inspect_tflite(path)
    it = _interpreter(path)
    ops = Counter(d["op_name"] for d in it._get_ops_details())  # subgraph 0, as the interpreter names ops
    sub0 = Counter()
    from maikit.tflite.model import read_tflite

    for op in read_tflite(path)["subgraphs"][0]["ops"]:
        sub0[op["op"]] += 1
    assert sub0 == ops
    if report["subgraphs"] == 1:
        assert report["ops"] == dict(ops)
    ours = lambda entries: [(e["name"], e["shape"], e["dtype"]) for e in entries]  # noqa: E731
    assert ours(report["inputs"]) == _io(it.get_input_details())
    assert ours(report["outputs"]) == _io(it.get_output_details())
    assert set(report["signatures"]) == set(it.get_signature_list())
    for key, sig in report["signatures"].items():
        runner = it.get_signature_runner(key)
        ref_in = {k: (d["name"], [int(v) for v in d["shape_signature"]], np.dtype(d["dtype"]).name)
                  for k, d in runner.get_input_details().items()}
        assert {e["key"]: (e["name"], e["shape"], e["dtype"]) for e in sig["inputs"]} == ref_in


def test_bench_runs_several_inputs_and_outputs(models, tmp_path):
    path = models["multi"]
    res, data = _bench([path, *FAST, "--json"])
    assert res.exit_code == 0, res.output
    ref = _interpreter(path)
    assert [(t["tensor"], t["shape"], t["dtype"]) for t in data["inputs"]] == \
        [(n, s, d) for n, s, d in _io(ref.get_input_details())]
    assert [t["tensor"] for t in data["outputs"]] == [d["name"] for d in ref.get_output_details()]
    assert {t["dtype"] for t in data["inputs"]} == {"float32", "int32", "bool"} and data["runs"] >= 2
    # an input given by name is used as given; the others are filled by type
    offset = tmp_path / "offset.npy"
    np.save(offset, np.array([7], np.int32))
    res, data = _bench([path, *FAST, "--json", "--input", f"args_1={offset}"])
    assert res.exit_code == 0, res.output
    assert [t["source"] for t in data["inputs"]] == ["random", "given", "random"]
    r = ModelRunner(path, threads=1)
    r.prepare({"args_1": np.array([7], np.int32)}, seed=0)
    assert r.values["args_1"].tolist() == [7] and 0 <= r.values["args_1"].min()
    assert r.values["args_2"].dtype == np.bool_ and r.values["args_0"].dtype == np.float32
    r.invoke()
    sig = ref.get_signature_runner("serving_default")
    want = sig(**{k: v for k, v in r.values.items()})
    np.testing.assert_allclose(r.output("output_0"), want["output_0"], rtol=1e-6, atol=1e-6)
    res, _ = _bench([path, *FAST, "--input", f"nope={offset}"])
    assert res.exit_code != 0 and "no input `nope`" in res.output and "args_0" in res.output


def test_bench_picks_a_signature(models):
    path = models["sigs"]
    res, data = _bench([path, *FAST, "--json"])
    assert res.exit_code == 0, res.output
    assert [t["shape"] for t in data["inputs"]] == [[1, 3, 16, 16]]  # the main subgraph: encode
    res, data = _bench([path, *FAST, "--json", "--signature", "mix"])
    assert res.exit_code == 0, res.output
    ref = _interpreter(path).get_signature_runner("mix").get_input_details()
    assert [(t["name"], t["shape"]) for t in data["inputs"]] == [(k, [int(v) for v in d["shape"]]) for k, d in ref.items()]
    assert data["signature"] == "mix"
    res, _ = _bench([path, "--signature", "decode"])
    assert res.exit_code == 1 and "no signature `decode`" in res.output and "`encode`, `mix`" in res.output


def test_a_custom_op_the_runtime_lacks_is_one_line(models):
    res, _ = _bench([models["custom"], *FAST])
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert res.exit_code == 1 and len(lines) == 1 and f"`{CUSTOM_OP}`" in lines[0] and "Traceback" not in res.output
    cpu = [f for f in inspect_tflite(models["custom"], targets=("cpu",))["findings"]]
    assert [(f["op"], f["severity"]) for f in cpu] == [(CUSTOM_OP, "error")]


def test_xnnpack_custom_op_is_no_cpu_error_and_runs(models):
    path = models["tconvbias"]
    findings = inspect_tflite(path, targets=("cpu", "gpu"))["findings"]
    assert not [f for f in findings if f["severity"] == "error"], findings
    cpu = [f for f in findings if f["target"] == "cpu"]
    assert cpu and cpu[0]["op"] == "Convolution2DTransposeBias" and "XNNPACK" in cpu[0]["reason"]
    x = np.random.default_rng(0).random((1, 8, 8, 4), dtype=np.float32)
    runs = []
    for p in (path, models["tconv"]):
        r = ModelRunner(p, threads=1)
        r.prepare({r.inputs[0].key or r.inputs[0].name: x})
        r.invoke()
        runs.append(r.output())
    np.testing.assert_allclose(runs[0], runs[1], rtol=1e-5, atol=1e-5)  # same maths as TRANSPOSE_CONV
    res, _ = _bench([path, *FAST])
    assert res.exit_code == 0, res.output
    res, _ = _bench([path, *FAST, "--no-xnnpack"])
    assert res.exit_code == 1 and "Convolution2DTransposeBias" in res.output and len(res.output.strip().splitlines()) == 1
    prof = profile_ops(path, threads=1, runs=1, min_seconds=0)
    (row,) = [r for r in prof["ops"] if r["op"] == "Convolution2DTransposeBias"]
    assert row["ms"] is not None and row["delegated"]


def test_densify_with_a_constant_input_is_no_gpu_error(models):
    gpu = inspect_tflite(models["densify"], targets=("gpu",))["findings"]
    assert not [f for f in gpu if f["op"] == "DENSIFY"], gpu
    computed = [f for f in inspect_tflite(models["densify_computed"], targets=("gpu",))["findings"] if f["op"] == "DENSIFY"]
    assert computed and computed[0]["severity"] == "error" and "constant" in computed[0]["reason"]
    x = np.random.default_rng(1).random((1, 32, 32, 3), dtype=np.float32)
    outs = []
    for p in (models["densify"], models["f32"]):
        r = ModelRunner(p, threads=1)
        r.prepare({r.inputs[0].name: x})
        r.invoke()
        outs.append(r.output())
    np.testing.assert_array_equal(outs[0], outs[1])
    res, data = _bench([models["densify"], *FAST, "--json"])
    assert res.exit_code == 0 and data["runs"] >= 2, res.output


def test_per_op_on_fp16_weights(models, capfd):
    capfd.readouterr()
    res, data = _bench([models["fp16"], *FAST, "--json", "--per-op"])
    assert res.exit_code == 0, res.output
    prof = data["op_profile"]
    deq = [r for r in prof["ops"] if r["op"] == "DEQUANTIZE"]
    convs_ = [r for r in prof["ops"] if r["op"] == "CONV_2D"]
    assert len(deq) == 3 and all(r["ms"] is None and "weight transform" in r["reason"] for r in deq)
    assert prof["by_type"]["DEQUANTIZE"]["ms"] is None and prof["not_timed"] == 3
    # the convolutions see constant weights as in the whole model: XNNPACK takes them
    assert len(convs_) == 3 and all(r["ms"] > 0 and r["delegated"] for r in convs_)
    assert prof["model_ms"] == pytest.approx(data["avg_ms"])
    assert prof["sum_over_model"] == pytest.approx(prof["sum_ms"] / data["avg_ms"])
    res, _ = _bench([models["fp16"], *FAST, "--per-op"])
    assert res.exit_code == 0, res.output
    assert "not timed alone: 3 op(s) (DEQUANTIZE)" in res.output and "0.000" not in res.output
    assert "sum of the per-op times" in res.output and "whole-model run" in res.output
    native = capfd.readouterr().err
    assert "failed to invoke" not in native and "XNNPACK delegate" not in native, native


def test_an_op_that_cannot_run_alone_is_reported_not_zero(models, capfd):
    capfd.readouterr()
    prof = profile_ops(models["custom"], threads=1, runs=1, min_seconds=0)
    (row,) = [r for r in prof["ops"] if r["op"] == CUSTOM_OP]
    assert row["ms"] is None and CUSTOM_OP in row["reason"] and row["share"] is None
    assert prof["by_type"][CUSTOM_OP]["ms"] is None
    assert all(r["ms"] is not None for r in prof["ops"] if r["op"] != CUSTOM_OP)
    native = capfd.readouterr().err
    assert "unresolved" not in native.lower() and "failed" not in native.lower(), native


def test_fixed_shape_is_not_resized_unless_asked(models, tmp_path):
    path = models["f32"]
    res, _ = _bench([path, *FAST, "--shape", "1x10x10x3"])
    assert res.exit_code == 1 and "--resize" in res.output and "[1, 32, 32, 3]" in res.output
    x = tmp_path / "x.npy"
    np.save(x, np.zeros((1, 10, 10, 3), np.float32))
    res, _ = _bench([path, *FAST, "--input", str(x)])
    assert res.exit_code == 1 and "--resize" in res.output
    res, data = _bench([path, *FAST, "--shape", "1x10x10x3", "--resize", "--json"])
    assert res.exit_code == 0 and data["input_shape"] == [1, 10, 10, 3] and data["resized"] is True
    with pytest.raises(MaikitError, match="--resize"):
        benchmark_tflite(path, runs=1, min_seconds=0, shape=(1, 16, 16, 3))


def test_inspect_shape_sizes_the_macs(models):
    path = models["f32"]

    def conv_macs(h, w):  # independent: from the PyTorch module's layers
        return sum(h * w * m.out_channels * m.in_channels * m.kernel_size[0] * m.kernel_size[1]
                   for m in convs() if hasattr(m, "kernel_size"))

    assert inspect_tflite(path)["macs"] == conv_macs(32, 32)
    report = inspect_tflite(path, input_shape=(1, 64, 48, 3))
    assert report["macs"] == conv_macs(64, 48) and "fixed" in report["macs_note"]
    runner = CliRunner()
    for bad in ("1x-64x64x3", "64x64", "1x64x64x4"):
        res = runner.invoke(app, ["inspect", str(path), "--shape", bad])
        assert res.exit_code != 0 and "Traceback" not in res.output, (bad, res.output)
    res = runner.invoke(app, ["inspect", str(models["multi"]), "--shape", "1x3x8x8", "--json"])
    assert res.exit_code == 0 and "one input" in json.loads(res.stdout)["macs_note"]


def test_eval_keeps_the_one_image_contract(models, tmp_path):
    res = CliRunner().invoke(app, ["eval", str(models["multi"]), "--task", "depth", "--data", str(tmp_path)])
    assert res.exit_code != 0 and "one input image and one output image" in res.output, res.output
    assert "one input image and one output image" in " ".join(CliRunner().invoke(app, ["eval", "--help"]).output.split())


# -- files made by TensorFlow's converter ----------------------------------------------------
TF_SHAPES = {"tf_dynamic_hw": "1x20x24x3"}  # its height and width are -1: measured at this size


def test_the_tensorflow_files_are_what_the_script_says():
    assert set(TF_MADE) == {"tf_convnet", "tf_dynamic_range", "tf_int8", "tf_dynamic_hw", "tf_two_signatures"}
    weights = {}
    for name in ("tf_convnet", "tf_dynamic_range", "tf_int8"):
        it = _interpreter(TF_MADE[name])
        conv_weights = [it._get_tensor_details(op["inputs"][1], 0) for op in it._get_ops_details() if op["op_name"] == "CONV_2D"]
        weights[name] = {np.dtype(t["dtype"]).name for t in conv_weights}
    assert weights == {"tf_convnet": {"float32"}, "tf_dynamic_range": {"float32", "int8"}, "tf_int8": {"int8"}}
    assert _io(_interpreter(TF_MADE["tf_int8"]).get_input_details())[0][2] == "int8"
    assert _io(_interpreter(TF_MADE["tf_dynamic_hw"]).get_input_details())[0][1] == [1, -1, -1, 3]


@pytest.mark.parametrize("name", sorted(TF_MADE))
def test_tensorflow_files_give_litert_s_outputs_and_bench(name):
    path, ref = TF_MADE[name], _interpreter(TF_MADE[name], delegates=True)
    for key in ref.get_signature_list():
        r = ModelRunner(path, threads=1, signature=key)
        shape = TF_SHAPES.get(name)
        r.prepare(shapes={r.inputs[0].key: tuple(int(v) for v in shape.split("x"))} if shape else None, seed=3)
        r.invoke()
        want = ref.get_signature_runner(key)(**r.values)
        assert want and all(np.array_equal(r.output(k), v) for k, v in want.items()), (name, key)
        res, data = _bench([path, *FAST, "--json", "--signature", key, *(["--shape", shape] if shape else [])])
        assert res.exit_code == 0 and data["runs"] >= 2, res.output
        assert [t["dtype"] for t in data["inputs"]] == [np.dtype(d["dtype"]).name for d in
                                                         ref.get_signature_runner(key).get_input_details().values()]
