"""Every registered depth model: the I/O contract at the challenge shape, gradients, size vs
the paper, distillation features and recipes, TCL's collapse, and TFLite conversion."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from _int8_check import int8_matches_float
from _zoo_export import session_exporter

from maikit.models import create_model, get_model_entry, list_models
from maikit.models.depth._base import DepthRange
from maikit.tasks import DEPTH

MODELS = list_models("depth")
SOLUTIONS = [n for n in MODELS if get_model_entry(n).paper is not None]
CHALLENGE_NCHW = (1, 3, DEPTH.latency_input_shape[1], DEPTH.latency_input_shape[2])  # 1×3×480×640
LOSS_NAMES = {"silog", "si", "grad", "virtual_normal", "robust", "ssim", "l2", "l1"}
DISTILL_NAMES = {"feature_l2", "pairwise"}
AUGMENT_NAMES = {"flip", "r2_crop", "rotate", "color_jitter"}


def _image(shape, seed=0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(shape, generator=g) * 255.0


def _build(name: str):
    torch.manual_seed(0)
    return create_model(name)


def test_every_solution_of_table_1_is_registered():
    # depth report Table 1 (the starred Tencent second submission shares the first's description)
    assert set(SOLUTIONS) == {f"depth/{k}" for k in ("tcl", "aiia_hit", "miaigo", "tencent", "smartlab", "jmu", "icl")}
    assert {"depth/unet", "depth/teacher"} <= set(MODELS)


@pytest.mark.parametrize("name", MODELS)
def test_forward_at_challenge_shape_gives_positive_metres(name):
    model = _build(name).eval()
    with torch.no_grad():
        y = model(_image(CHALLENGE_NCHW))
    assert y.shape == (1, 1, 480, 640)
    assert torch.isfinite(y).all() and (y > 0).all()
    rng = model.depth_range
    assert y.min() >= rng.min_m - 1e-6 and y.max() <= rng.max_m + 1e-6
    assert rng.max_m <= 50.0  # the dataset's depth range (ZED, up to 50 m)


@pytest.mark.parametrize("name", MODELS)
def test_other_input_sizes_come_back_at_their_size(name):
    model = _build(name).eval()
    with torch.no_grad():
        y = model(_image((2, 3, 120, 200)))
    assert y.shape == (2, 1, 120, 200)


@pytest.mark.parametrize("name", MODELS)
def test_backward_reaches_every_parameter(name):
    model = _build(name).train()
    out = model.forward_train(_image((1, 3, 120, 160)))  # the model resizes to its working size anyway
    (torch.log(out["out"]).mean() + out["features"].pow(2).mean()).backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None, pname
        assert torch.isfinite(p.grad).all(), pname
        assert p.grad.abs().sum() > 0, pname


@pytest.mark.parametrize("name", SOLUTIONS)
def test_size_matches_the_published_model_size(name):
    entry = get_model_entry(name)
    model = _build(name)
    if hasattr(model, "collapse"):
        model.collapse()  # the exported (collapsed) graph is what the table measured
    bytes_per_param = entry.extra.get("size_bytes_per_param", 4)  # 4 = FP32; smartlab documents 1
    size_mb = sum(p.numel() for p in model.parameters()) * bytes_per_param / 1e6
    published_mb = entry.paper.size_kb / 1000.0
    assert 1 / 1.5 <= size_mb / published_mb <= 1.5, f"{size_mb:.2f} MB vs {published_mb} MB"


@pytest.mark.parametrize("name", MODELS)
def test_forward_train_exposes_the_last_decoder_features(name):
    model = _build(name).eval()
    x = _image((1, 3, 96, 128), seed=1)
    with torch.no_grad():
        out = model.forward_train(x)
        plain = model(x)
    assert set(out) == {"out", "features"}
    assert torch.equal(out["out"], plain)
    f = out["features"]
    assert f.ndim == 4 and f.shape[:2] == (1, model.feature_channels)
    assert torch.isfinite(f).all()


@pytest.mark.parametrize("name", MODELS)
def test_recipes_use_names_the_trainer_knows(name):
    entry = get_model_entry(name)
    for recipe in (entry.recipes.paper, entry.recipes.fast):
        terms = list(recipe.losses) + [t for s in recipe.stages for t in s.losses]
        assert terms and {t.name for t in terms} <= LOSS_NAMES
        assert set(recipe.augment) <= AUGMENT_NAMES
        assert recipe.distill is None or recipe.distill in DISTILL_NAMES
        assert recipe.steps > 0 and recipe.lr > 0
        if recipe.stages:
            assert math.isclose(sum(s.fraction for s in recipe.stages), 1.0)
    fast = entry.recipes.fast
    assert 4 <= fast.batch_size <= 8
    assert fast.steps <= 5000


@pytest.mark.parametrize("name, distill", [
    ("depth/tencent", "feature_l2"), ("depth/smartlab", "pairwise"), ("depth/icl", "feature_l2"),
    ("depth/aiia_hit", "pairwise"),
])
def test_distilled_students_name_their_loss_and_teacher(name, distill):
    entry = get_model_entry(name)
    assert entry.recipes.paper.distill == distill
    assert entry.extra["teacher"] == "depth/teacher"
    teacher = get_model_entry(entry.extra["teacher"])
    student_params = sum(p.numel() for p in create_model(name).parameters())
    assert sum(p.numel() for p in teacher.build().parameters()) > student_params


def test_published_training_details_are_in_the_paper_recipes():
    # depth report §4: MiAIgo Adam 8e-4 batch 8 SSIM; JMU Adam 1e-4 batch 64 100 epochs; SmartLab batch 2;
    # Tencent poly decay, 500 epochs; ICL AdamW batch 32 cosine
    miaigo = get_model_entry("depth/miaigo").recipes.paper
    assert (miaigo.optimizer, miaigo.lr, miaigo.batch_size) == ("adam", 8e-4, 8)
    assert [t.name for t in miaigo.losses] == ["ssim"]
    jmu = get_model_entry("depth/jmu").recipes.paper
    assert (jmu.optimizer, jmu.lr, jmu.batch_size) == ("adam", 1e-4, 64)
    assert jmu.steps == 100 * math.ceil(8300 / 64)
    assert {"flip", "rotate", "color_jitter"} <= set(jmu.augment)
    assert get_model_entry("depth/smartlab").recipes.paper.batch_size == 2
    tencent = get_model_entry("depth/tencent").recipes.paper
    assert tencent.schedule == "poly" and tencent.steps == 500 * math.ceil(8300 / tencent.batch_size)
    icl = get_model_entry("depth/icl").recipes.paper
    assert (icl.optimizer, icl.batch_size, icl.schedule) == ("adamw", 32, "cosine")
    assert "r2_crop" in get_model_entry("depth/aiia_hit").recipes.paper.augment


def test_depth_range_formulas():
    z = torch.tensor([-30.0, -1.0, 0.0, 2.0, 30.0])
    sig = DepthRange(0.4, 50.0, "sigmoid")(z)
    assert torch.allclose(sig, 0.4 + 49.6 / (1 + torch.exp(-z)))
    assert torch.equal(DepthRange(1e-3, 40.0, "clamp")(torch.tensor([-1.0, 0.5, 99.0])),
                       torch.tensor([1e-3, 0.5, 40.0]))
    assert torch.equal(DepthRange(1e-3, 50.0, "relu")(torch.tensor([-1.0, 3.0])), torch.tensor([1e-3, 3.0]))
    r = DepthRange(0.4, 50.0)
    assert math.isclose(float(r(torch.tensor(r.logit(5.0)))), 5.0, rel_tol=1e-5)


@pytest.mark.parametrize("kind", ["clamp", "relu"])
def test_clamped_outputs_keep_a_gradient_in_training_only(kind):
    r = DepthRange(1e-3, 40.0, kind)
    z = torch.tensor([-2.0, 0.5, 99.0], requires_grad=True)
    out = r.train()(z)
    assert torch.equal(out.detach(), torch.tensor([1e-3, 0.5, 40.0]))  # same values as in eval
    torch.log(out).sum().backward()
    assert (z.grad != 0).all()  # a pixel below the floor is pushed back up, not left dead
    assert float(z.grad[0]) > 0
    z2 = torch.tensor([-2.0, 0.5, 99.0], requires_grad=True)
    torch.log(r.eval()(z2)).sum().backward()
    assert float(z2.grad[0]) == 0.0 and float(z2.grad[2]) == 0.0  # eval: the plain clamp


def test_linear_output_gain_scales_the_unit_and_the_start_value():
    r = DepthRange(1e-3, 50.0, "relu", gain=10.0).eval()
    assert torch.equal(r(torch.tensor([-1.0, 0.25, 9.0])), torch.tensor([1e-3, 2.5, 50.0]))
    assert math.isclose(float(r(torch.tensor(r.logit(5.0)))), 5.0, rel_tol=1e-6)
    with pytest.raises(ValueError, match="gain"):
        DepthRange(0.4, 50.0, "sigmoid", gain=2.0)


def test_tcl_collapse_keeps_the_output_and_folds_every_block():
    from maikit.models.depth.tcl import CollapsibleLinearBlock

    model = _build("depth/tcl")
    # move BN statistics and weights away from their init so the check is not trivial
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    model.train()
    with torch.no_grad():
        model(_image((2, 3, 128, 160), seed=3))
    model.eval()
    x = _image(CHALLENGE_NCHW, seed=2)
    with torch.no_grad():
        before = model.forward_train(x)
        n_before = sum(p.numel() for p in model.parameters())
        model.collapse()
        after = model.forward_train(x)
    blocks = [m for m in model.modules() if isinstance(m, CollapsibleLinearBlock)]
    assert len(blocks) == 4 and all(b.collapsed is not None and not hasattr(b, "wide") for b in blocks)
    assert sum(p.numel() for p in model.parameters()) < n_before
    assert torch.allclose(after["features"], before["features"], rtol=1e-4, atol=1e-4)
    assert torch.allclose(after["out"], before["out"], rtol=1e-4, atol=1e-4)


def test_collapsible_block_equals_two_convolutions_plus_identity():
    from maikit.models.depth.tcl import CollapsibleLinearBlock

    torch.manual_seed(0)
    clb = CollapsibleLinearBlock(6, 6, 3, expansion=4)
    x = torch.randn(1, 6, 9, 11)
    with torch.no_grad():
        expected = x + F.conv2d(F.conv2d(x, clb.wide.weight, clb.wide.bias, padding=1),
                                clb.narrow.weight, clb.narrow.bias)
        clb.collapse()
        assert clb.collapsed.kernel_size == (3, 3) and clb.collapsed.in_channels == 6
        assert torch.allclose(clb(x), expected, atol=1e-5)


@pytest.fixture(scope="session")
def challenge_tflite(tmp_path_factory):
    """``convert(name)``: the zoo model (seed 0, collapsed where its entry says so), built here,
    and what ``export_model`` wrote for it at the challenge shape (the folder, its record), once
    per session (a conversion costs about 30 CPU seconds whatever the shape)."""

    def build(name: str):
        model = _build(name).eval()
        if get_model_entry(name).extra.get("collapse_before_export"):
            model.collapse()
        return model

    return session_exporter(tmp_path_factory, build)


@pytest.mark.slow
@pytest.mark.parametrize("name", MODELS)
def test_converts_to_tflite_fp32_and_int8_at_the_challenge_shape(name, challenge_tflite, tmp_path):
    """``export_model`` on every depth model of the zoo (both files, verified): the latency file
    at 1x480x640x3 agrees with the model built here; the fidelity file is the same graph at that
    shape (a dynamic height/width does not export) and says so; int8 from the float file."""
    import shutil

    from maikit.export.tflite import TfliteRunner

    model, out, record = challenge_tflite(name)
    assert record["model"] == name and record["verify_psnr_db"] >= 60.0
    assert record["input_shape"] == list(DEPTH.latency_input_shape)
    if record["dynamic"]:
        assert TfliteRunner(out / "model_none.tflite").dynamic
    else:  # says which shape it fixed, and how to ask for another
        assert "is fixed at 1x480x640x3" in record["note"] and "--shape H,W" in record["note"]
        assert (out / "model_none.tflite").read_bytes() == (out / "model.tflite").read_bytes()
    path = Path(shutil.copy(out / "model.tflite", tmp_path / "model.tflite"))  # the int8 file is written beside it
    x = _image(CHALLENGE_NCHW, seed=4)
    runner = TfliteRunner(path, threads=2)
    assert runner.input_shape == DEPTH.latency_input_shape
    assert runner.output_shape == DEPTH.latency_output_shape
    got = runner.run(x.permute(0, 2, 3, 1).numpy())
    with torch.no_grad():
        ref = model(x).permute(0, 2, 3, 1).numpy()
    assert np.abs(got - ref).max() < 1e-3 * np.abs(ref).max()
    int8_matches_float(path, "depth", DEPTH.latency_input_shape)


@pytest.mark.parametrize("stride,k", [(2, 3), (1, 3), (2, 5)])
def test_normalising_first_conv_is_normalise_then_pad_with_normalised_black(stride, k):
    from maikit.models.depth._base import IMAGENET_MEAN, IMAGENET_STD, NormalizingConv2d, Normalize

    torch.manual_seed(stride * 10 + k)
    plain = torch.nn.Conv2d(3, 8, k, stride=stride, padding=k // 2)
    conv = NormalizingConv2d.replacing(plain, Normalize())
    assert set(conv.state_dict()) == set(plain.state_dict())
    x = _image((2, 3, 12, 16), seed=1)
    # written out: ImageNet statistics on 0..1, the border filled with what black (0) normalises to
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    z = (x / 255.0 - mean) / std
    black = (0.0 - mean) / std
    p = k // 2
    padded = black.expand(2, 3, 12 + 2 * p, 16 + 2 * p).clone()
    padded[..., p:p + 12, p:p + 16] = z
    want = F.conv2d(padded, plain.weight, plain.bias, stride=stride)
    torch.testing.assert_close(conv(x), want, rtol=1e-5, atol=1e-4)
    # away from the border it is the plain convolution of the normalised image
    inner = slice(1, -1)
    torch.testing.assert_close(conv(x)[..., inner, inner], plain(z)[..., inner, inner], rtol=1e-5, atol=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["depth/aiia_hit"])  # its conversion is the one of the test above
def test_exported_depth_net_starts_resize_then_convolution(name, challenge_tflite):
    """The normalisation is folded into the first convolution: no MUL/ADD on the input image."""
    from ai_edge_litert.interpreter import Interpreter

    from maikit.export.tflite import TfliteRunner

    model, out, _ = challenge_tflite(name)
    path = out / "model.tflite"
    x = _image(CHALLENGE_NCHW, seed=5)
    ops = [o["op_name"] for o in sorted(Interpreter(model_path=str(path))._get_ops_details(), key=lambda o: o["index"])]
    first_conv = ops.index("CONV_2D")
    assert ops[:first_conv] in (["RESIZE_BILINEAR"], ["RESIZE_BILINEAR", "PAD"]), ops[:first_conv + 1]
    got = TfliteRunner(path).run(x.permute(0, 2, 3, 1).numpy())
    with torch.no_grad():
        ref = model(x).permute(0, 2, 3, 1).numpy()
    assert np.abs(got - ref).max() < 1e-3 * np.abs(ref).max()
