"""The ISP model zoo: every registered ISP model gets these tests (timm style).

Contract (maikit.models._registry): packed RAW N×4×H×W → RGB N×3×2H×2W in [0, 1].
References: Table 1 of the ISP report (sizes, typed here), docs/references.md#punet (PUNET layer list),
colour_demosaicing's Malvar 2004 implementation (classic ISP), LiteRT (conversion).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from _int8_check import int8_matches_float
from _zoo_export import session_exporter

from maikit.models import create_model, get_model_entry, list_models
from maikit.models.blocks import param_count
from maikit.tasks import MAI21, RawConvention, get_raw_convention

ISP_MODELS = list_models("isp")
TRAINABLE = [n for n in ISP_MODELS if get_model_entry(n).trainable]

# ISP report Table 1, typed from the report: model -> (row key, printed team, size KB)
TABLE1 = {
    "isp/smallnet": ("dh_isp", "dh.isp", 21),
    "isp/csanet": ("aiisp", "AIISP", 123),
    "isp/tuned_unet": ("tuned_unet", "Tuned U-Net", 13313),
    "isp/enerzai": ("enerzai", "ENERZAi Research", 9),
    "isp/isp_forever": ("isp_forever", "isp_forever", 175),
    "isp/noahtcv": ("noahtcv", "NOAHTCV", 244),
    "isp/acvlab": ("acvlab", "ACVLab", 7),
    "isp/cvml": ("cvml", "CVML", 76),
    "isp/enerzai_esrgan": ("enerzai_esrgan", "ENERZAi Research *", 11),
    "isp/eds": ("eds", "EdS", 1017),
}
# documented exceptions to the ×1.5 size rule (none needed so far)
SIZE_TOLERANCE: dict[str, float] = {}


def _side(name: str, at_least: int = 32) -> int:
    m = get_model_entry(name).size_multiple
    return -(-at_least // m) * m


def _outputs(model: torch.nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
    return model.forward_train(x) if hasattr(model, "forward_train") else {"out": model(x)}


# ----------------------------------------------------------------------------- registry
def test_every_table1_row_has_a_model():
    assert set(TABLE1) <= set(ISP_MODELS)
    assert {"isp/punet", "isp/classic"} <= set(ISP_MODELS)


@pytest.mark.parametrize("name", ISP_MODELS)
def test_registry_metadata(name):
    e = get_model_entry(name)
    assert e.task == "isp" and e.name == name and e.size_multiple >= 1
    if name in TABLE1:
        key, team, size = TABLE1[name]
        assert e.paper is not None and (e.paper.key, e.paper.team, e.paper.size_kb) == (key, team, size)
    else:
        assert e.paper is None
    if e.trainable:
        assert e.recipes is not None
        assert not e.recipes.fast.needs_vgg(), "fast recipes must not use the VGG term"
        assert 8 <= e.recipes.fast.batch_size <= 16
        fractions = [s.fraction for s in e.recipes.paper.stages]
        assert not fractions or abs(sum(fractions) - 1) < 1e-9
    else:
        assert e.recipes is None


def test_paper_recipes_follow_the_report():
    # facts typed from ISP report §4 and docs/references.md#punet
    pu = get_model_entry("isp/punet")
    r = pu.recipes.paper
    assert (r.lr, r.batch_size, r.steps) == (5e-5, 32, 100_000)
    assert {(t.name, t.weight) for t in r.losses} == {("mse", 20.0), ("vgg", 1.0), ("ssim", 20.0)}
    assert set(r.augment) == {"flip", "rot90"} and pu.extra["reported_psnr"] == 23.03

    r = get_model_entry("isp/smallnet").recipes.paper
    assert (r.lr, r.batch_size, r.optimizer) == (1e-4, 4, "adam") and r.lr_final < r.lr
    assert [[t.name for t in s.losses] for s in r.stages] == [["l1"], ["l1", "vgg"]]

    r = get_model_entry("isp/csanet").recipes.paper
    assert (r.lr, r.lr_final, r.batch_size, r.steps, r.augment) == (5e-4, 1e-5, 100, 100_000, ("hflip",))
    assert {t.name for t in r.losses} == {"charbonnier", "vgg", "ssim"}

    r = get_model_entry("isp/tuned_unet").recipes.paper
    assert r.lr == 1e-4 and {t.name for t in r.losses} == {"mse", "ssim"}

    r = get_model_entry("isp/enerzai").recipes.paper
    assert (r.lr, r.batch_size) == (1e-3, 4)
    assert all({t.name for t in s.losses} == {"charbonnier", "ms_ssim"} for s in r.stages)
    assert "detach_super_at_psnr" in dict(r.stages[0].options)

    assert {t.name for t in get_model_entry("isp/enerzai_esrgan").recipes.paper.losses} == {"ms_ssim", "l1"}
    r = get_model_entry("isp/isp_forever").recipes.paper
    assert (r.lr, r.batch_size) == (1e-4, 16) and {t.name for t in r.losses} == {"l1", "ssim", "vgg"}
    r = get_model_entry("isp/noahtcv").recipes.paper
    assert r.lr == 1e-4 and {t.name for t in r.losses} == {"l1", "ssim"}


# ----------------------------------------------------------------------------- forward / backward
@pytest.mark.parametrize("name", ISP_MODELS)
def test_forward_shape_and_range(name):
    torch.manual_seed(0)
    model = create_model(name).eval()
    h, w = _side(name), _side(name, 48)  # non-square catches H/W mix-ups
    x = torch.rand(2, 4, h, w)
    with torch.no_grad():
        y = model(x)
    assert y.shape == (2, 3, 2 * h, 2 * w)
    assert torch.isfinite(y).all() and y.min() >= 0 and y.max() <= 1
    assert y.std() > 1e-5, "output is constant"


@pytest.mark.parametrize("name", TRAINABLE)
def test_backward_reaches_every_parameter(name):
    torch.manual_seed(0)
    model = create_model(name).train()
    x = torch.rand(2, 4, _side(name), _side(name))
    outs = _outputs(model, x)
    sum((o - 0.5).square().mean() for o in outs.values()).backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None, f"no gradient reaches `{pname}`"
        assert torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, f"zero/non-finite gradient at `{pname}`"


def _conv(cin: int, cout: int, k: int = 3) -> int:
    return cin * cout * k * k + cout


def test_punet_matches_facts_layer_list():
    # docs/references.md#punet: 16/32/64/128/256, two 3x3 convs per block, four level-5 blocks, 3x3 transposed
    # convs up, final transposed conv to 4 channels and 3x3 conv to 3
    dc = lambda i, o: _conv(i, o) + _conv(o, o)  # noqa: E731
    w = [16, 32, 64, 128, 256]
    expected = dc(4, 16) + sum(dc(w[i - 1], w[i]) for i in range(1, 4))
    expected += dc(128, 256) + 3 * dc(256, 256)
    expected += sum(_conv(w[i + 1], w[i]) + dc(2 * w[i], w[i]) for i in range(4))
    expected += _conv(16, 4) + _conv(4, 3)
    assert param_count(create_model("isp/punet")) == expected
    # output head tanh*0.58+0.5 before clipping
    torch.manual_seed(0)
    out = create_model("isp/punet").forward_train(torch.rand(1, 4, 32, 32) * 50)["out"]
    assert out.min() >= 0.5 - 0.58 - 1e-6 and out.max() <= 0.5 + 0.58 + 1e-6


def test_smallnet_layer_list():
    assert param_count(create_model("isp/smallnet")) == _conv(4, 16) + _conv(16, 16) + _conv(16, 12)


@pytest.mark.parametrize("name", sorted(TABLE1))
def test_size_close_to_published(name):
    size_kb = param_count(create_model(name)) * 4 / 1000
    published = TABLE1[name][2]
    tol = SIZE_TOLERANCE.get(name, 1.5)
    assert published / tol <= size_kb <= published * tol, f"{size_kb:.1f} KB vs published {published} KB"


def test_enerzai_heads():
    torch.manual_seed(0)
    model = create_model("isp/enerzai").eval()
    x = torch.rand(1, 4, 32, 32)
    outs = model.forward_train(x)
    assert set(outs) == {"out", "super"}
    assert outs["out"].shape == outs["super"].shape == (1, 3, 64, 64)
    assert torch.equal(outs["out"], model(x))  # forward is the sub-net
    assert not torch.allclose(outs["out"], outs["super"])
    # the exported sub-net excludes the super-net head from its size
    full = param_count(model, exported_only=False)
    assert param_count(model) == full - sum(p.numel() for p in model.super_head.parameters())
    # the sub-net's loss does not touch the super head
    model.zero_grad()
    model.forward_train(x)["out"].mean().backward()
    assert all(p.grad is None for p in model.super_head.parameters())


# ----------------------------------------------------------------------------- TFLite
@pytest.fixture(scope="session")
def zoo_export(tmp_path_factory):
    """``export(name)``: the zoo model (seed 0) built here, and what ``export_model`` wrote for it
    at 1x64x64x4 (the folder, its record), once per session."""

    def build(name: str):
        torch.manual_seed(0)
        return create_model(name).eval()

    return session_exporter(tmp_path_factory, build, input_hw=(64, 64))


@pytest.mark.slow
@pytest.mark.parametrize("name", ISP_MODELS)
def test_converts_to_tflite_fp32_and_int8(name, zoo_export, tmp_path):
    """``export_model`` on every ISP model of the zoo (both files, verified >= 60 dB): the
    latency file agrees with the model built here; the fidelity file runs at any size or says
    which shape it fixed; int8 from the float file."""
    import shutil

    from maikit.export.tflite import TfliteRunner

    model, out, record = zoo_export(name)
    assert record["model"] == name and record["verify_psnr_db"] >= 60.0
    assert record["input_shape"] == [1, 64, 64, 4] and record["output_shape"] == [1, 128, 128, 3]
    if record["dynamic"]:
        runner = TfliteRunner(out / "model_none.tflite")
        assert runner.dynamic
        h, w = _side(name, 96), _side(name, 160)  # another size than the one exported at
        y = runner.run(np.random.default_rng(1).random((1, h, w, 4), np.float32))
        assert y.shape == (1, 2 * h, 2 * w, 3) and np.isfinite(y).all()
    else:
        assert "is fixed at 1x64x64x4" in record["note"] and "--shape H,W" in record["note"]
    path = Path(shutil.copy(out / "model.tflite", tmp_path / "m.tflite"))  # the int8 file is written beside it
    x = torch.rand(1, 4, 64, 64, generator=torch.Generator().manual_seed(4))
    got = TfliteRunner(path, threads=2).run(x.permute(0, 2, 3, 1).numpy())
    with torch.no_grad():
        ref = model(x).permute(0, 2, 3, 1).numpy()
    assert got.shape == (1, 128, 128, 3)
    assert ref.std() > 1e-5
    assert np.abs(got - ref).max() < 1e-4
    int8_matches_float(path, "isp", (1, 64, 64, 4))


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in ISP_MODELS if get_model_entry(n).dynamic_shapes])
def test_dynamic_shape_tflite_runs_at_other_sizes(name, tmp_path):
    """``dynamic_shapes=True`` means: converts with symbolic H, W and runs at another size."""
    import litert_torch
    from ai_edge_litert.interpreter import Interpreter
    from torch.export import Dim

    m = get_model_entry(name).size_multiple
    torch.manual_seed(0)
    model = create_model(name).eval()
    nhwc = litert_torch.to_channel_last_io(model, args=[0], outputs=[0])
    h, w = Dim("h", min=1, max=256), Dim("w", min=1, max=256)
    with torch.no_grad():
        edge = litert_torch.convert(nhwc, (torch.rand(1, 4 * m, 4 * m, 4),), dynamic_shapes=(({1: m * h, 2: m * w},),))
    edge.export(str(tmp_path / "m.tflite"))
    interp = Interpreter(model_path=str(tmp_path / "m.tflite"), num_threads=2)
    inp = interp.get_input_details()[0]
    assert list(inp["shape_signature"][1:3]) == [-1, -1]
    x = torch.rand(1, 4, 3 * m, 5 * m)
    interp.resize_tensor_input(inp["index"], [1, 3 * m, 5 * m, 4])
    interp.allocate_tensors()
    interp.set_tensor(inp["index"], x.permute(0, 2, 3, 1).numpy())
    interp.invoke()
    got = interp.get_tensor(interp.get_output_details()[0]["index"])
    with torch.no_grad():
        ref = model(x).permute(0, 2, 3, 1).numpy()
    assert got.shape == ref.shape == (1, 6 * m, 10 * m, 3)
    assert np.abs(got - ref).max() < 1e-4


def test_upconv_matches_tf_same_alignment():
    # TF conv2d_transpose "SAME": full output cropped by (k - s) // 2 at the start
    from maikit.models.blocks import up_conv

    torch.manual_seed(0)
    x = torch.randn(1, 3, 5, 7)
    for k in (2, 3, 4, 5):
        up = up_conv(3, 2, k, stride=2)
        full = torch.nn.functional.conv_transpose2d(x, up.conv.weight, up.conv.bias, stride=2)
        b = (k - 2) // 2
        torch.testing.assert_close(up(x), full[:, :, b:b + 10, b:b + 14])


# ----------------------------------------------------------------------------- classic ISP
BGGR = RawConvention("bggr-test", offsets=((0, 0), (0, 1), (1, 0), (1, 1)), divisor=1023.0,
                     channel_names=("B", "G1", "G2", "R"))
CONVENTIONS = [MAI21, get_raw_convention("mai22-4095"), BGGR]


def _unpack(packed: np.ndarray, conv: RawConvention) -> np.ndarray:
    """4×H×W packed → 2H×2W mosaic, using the convention's offsets (independent of the model)."""
    _, h, w = packed.shape
    mosaic = np.zeros((2 * h, 2 * w), packed.dtype)
    for k, (i, j) in enumerate(conv.offsets):
        mosaic[i::2, j::2] = packed[k]
    return mosaic


def _pattern(conv: RawConvention) -> str:
    at = {off: name[0] for off, name in zip(conv.offsets, conv.channel_names)}
    return "".join(at[(i, j)] for i in (0, 1) for j in (0, 1))


def _malvar_reference(mosaic: np.ndarray, pattern: str) -> np.ndarray:
    """colour_demosaicing's Malvar 2004 with mirror borders (no edge repeat, keeps the CFA phase)."""
    from colour_demosaicing import demosaicing_CFA_Bayer_Malvar2004

    padded = np.pad(mosaic.astype(np.float64), 2, mode="reflect")
    return demosaicing_CFA_Bayer_Malvar2004(padded, pattern)[2:-2, 2:-2]  # H×W×3


def _scene(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A packed RAW-like frame: smooth colour gradients + texture, different channel levels."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    base = 0.25 + 0.2 * np.sin(6 * xx + 3 * yy) + 0.05 * rng.standard_normal((h, w))
    levels = np.array([0.45, 0.8, 0.6, 0.8])[:, None, None]  # per packed channel
    return np.clip(base[None] * levels + 0.02 * rng.standard_normal((4, h, w)), 0, 1).astype(np.float32)


@pytest.mark.parametrize("conv", CONVENTIONS, ids=lambda c: c.name)
def test_classic_demosaic_matches_colour_demosaicing(conv):
    packed = _scene(20, 28)
    model = create_model("isp/classic", convention=conv)
    with torch.no_grad():
        ours = model.demosaic(torch.from_numpy(packed)[None])[0].permute(1, 2, 0).numpy()
    ref = _malvar_reference(_unpack(packed, conv), _pattern(conv))
    assert ours.shape == ref.shape == (40, 56, 3)
    np.testing.assert_allclose(ours, ref, atol=1e-5)


def _srgb(x: np.ndarray) -> np.ndarray:
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1 / 2.4) - 0.055)


def test_classic_full_pipeline_matches_numpy_reference():
    from maikit.models.isp.classic import DEFAULT_CCM, DEFAULT_TONE

    packed = _scene(24, 32, seed=1)
    names = [n[0] for n in MAI21.channel_names]
    means = packed.mean(axis=(1, 2))
    g = np.mean([m for m, n in zip(means, names) if n == "G"])
    gains = np.array([1.0 if n == "G" else np.clip(g / m, 0.25, 8.0) for m, n in zip(means, names)])
    rgb = _malvar_reference(_unpack(packed * gains[:, None, None], MAI21), _pattern(MAI21))
    rgb = np.clip(rgb @ np.array(DEFAULT_CCM).T, 0, 1)
    y = _srgb(rgb)
    expected = np.clip(y + DEFAULT_TONE * (y * y * (3 - 2 * y) - y), 0, 1)
    with torch.no_grad():
        ours = create_model("isp/classic")(torch.from_numpy(packed)[None])[0].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(ours, expected, atol=2e-5)


def test_classic_gray_world_neutralises_a_colour_cast():
    # a flat grey scene seen through a colour cast: every packed channel constant
    packed = np.empty((4, 16, 16), np.float32)
    for k, name in enumerate(MAI21.channel_names):
        packed[k] = {"R": 0.30, "G": 0.45, "B": 0.20}[name[0]]
    with torch.no_grad():
        out = create_model("isp/classic")(torch.from_numpy(packed)[None])[0].numpy()
    assert np.ptp(out, axis=0).max() < 1e-5  # R = G = B everywhere
    assert abs(out.mean() - 0.45) > 0.1  # gamma/tone were applied (not the linear value)
