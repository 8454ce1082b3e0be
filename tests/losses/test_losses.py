"""Losses against hand computations and independent references (scikit-image, the metrics)."""

from __future__ import annotations


import numpy as np
import pytest
import torch
import torch.nn.functional as F
from skimage.metrics import structural_similarity

from maikit.errors import MaikitError
from maikit.losses import LOSSES, build_distill_loss, build_loss, create_loss
from maikit.losses.ssim import ms_ssim_scales
from maikit.tasks import DEPTH, get_task


def _smooth_images(n: int, c: int, h: int, w: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    base = F.avg_pool2d(torch.rand(n, c, h + 4, w + 4, generator=g, dtype=torch.float64), 5, 1)
    noisy = (base + 0.05 * torch.randn(base.shape, generator=g, dtype=torch.float64)).clamp(0, 1)
    return noisy, base


def _depth_pair(seed: int = 0, h: int = 24, w: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    gt = 1.0 + 9.0 * torch.rand(2, 1, h, w, generator=g, dtype=torch.float64)
    gt[:, :, :4, :] = 0.0  # unknown rows
    gt[0, 0, 10, 5:9] = 0.0
    pred = gt.clamp_min(1.0) * (1.0 + 0.2 * torch.rand(gt.shape, generator=g, dtype=torch.float64))
    return pred, gt


# ---------------------------------------------------------------- SSIM / MS-SSIM
def test_ssim_loss_is_one_minus_skimage_ssim():
    pred, gt = _smooth_images(2, 3, 37, 45)
    loss = create_loss("ssim")(pred, gt)
    # an 11-tap window (radius int(truncate*sigma + 0.5) = 5); skimage averages the valid interior
    ref = np.mean([
        structural_similarity(p.permute(1, 2, 0).numpy(), g.permute(1, 2, 0).numpy(), channel_axis=2,
                              gaussian_weights=True, sigma=1.5, truncate=10 / 3, use_sample_covariance=False,
                              data_range=1.0)
        for p, g in zip(pred, gt)
    ])
    assert float(loss) == pytest.approx(1.0 - ref, abs=1e-6)


def test_ms_ssim_loss_matches_official_metric_on_large_images():
    from maikit.metrics import ms_ssim

    pred, gt = _smooth_images(1, 3, 192, 192, seed=3)
    loss = create_loss("ms_ssim")(pred, gt)
    ref = ms_ssim(pred[0].permute(1, 2, 0).numpy(), gt[0].permute(1, 2, 0).numpy())
    assert float(loss) == pytest.approx(1.0 - ref, abs=1e-5)


def test_ms_ssim_scales_shrink_with_patch():
    assert ms_ssim_scales(256, 256) == 5
    assert ms_ssim_scales(128, 128) == 4  # 128, 64, 32, 16
    assert ms_ssim_scales(32, 40) == 2
    assert ms_ssim_scales(8, 8) == 1
    pred, gt = _smooth_images(1, 3, 40, 40)
    assert 0.0 < float(create_loss("ms_ssim")(pred, gt)) < 1.0
    assert float(create_loss("ms_ssim")(gt, gt)) == pytest.approx(0.0, abs=1e-6)


# ---------------------------------------------------------------- masking
MASKED = ["l1", "mse", "charbonnier", "silog", "scale_invariant", "gradient", "gradient_l1", "robust", "berhu",
          "ssim", "ms_ssim", "virtual_normal"]


@pytest.mark.parametrize("name", MASKED)
def test_masked_losses_ignore_unknown_depth(name):
    pred, gt = _depth_pair()
    mask = gt > 0
    changed = pred.clone()
    changed[~mask] = 123.0  # wild values where the target is unknown
    loss = create_loss(name)
    torch.manual_seed(0)
    a = loss(pred, gt, mask)
    torch.manual_seed(0)
    b = loss(changed, gt, mask)
    assert torch.isfinite(a)
    assert float(a) == pytest.approx(float(b), rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("name", [n for n, i in LOSSES.items() if i.kind == "image" and not n.startswith(("vgg", "perc"))])
def test_gradients_exist(name):
    pred, gt = _depth_pair(seed=1, h=40, w=40)
    pred = pred.float().requires_grad_()
    torch.manual_seed(0)
    create_loss(name)(pred, gt.float(), gt > 0).backward()
    assert pred.grad is not None and torch.isfinite(pred.grad).all()
    assert pred.grad.abs().sum() > 0
    assert (pred.grad[gt.expand_as(pred) == 0] == 0).all()  # no gradient through unknown pixels


# ---------------------------------------------------------------- depth losses vs hand computations
def _log_diffs(pred, gt):
    return [(np.log(p[g > 0]) - np.log(g[g > 0])) for p, g in zip(pred.numpy(), gt.numpy())]


def test_silog_lambda0_is_masked_log_rmse():
    pred, gt = _depth_pair()
    ref = np.mean([np.sqrt(np.mean(d**2)) for d in _log_diffs(pred, gt)])
    got = create_loss("silog", lam=0.0, eps=0.0)(pred, gt, gt > 0)
    assert float(got) == pytest.approx(ref, rel=1e-9)


def test_silog_bts_variant_and_lambda_spelling():
    pred, gt = _depth_pair(seed=2)
    ref = np.mean([10 * np.sqrt(np.mean(d**2) - 0.85 * np.mean(d) ** 2) for d in _log_diffs(pred, gt)])
    got = create_loss("silog", **{"lambda": 0.85, "scale": 10.0, "eps": 0.0})(pred, gt, gt > 0)
    assert float(got) == pytest.approx(ref, rel=1e-9)


def test_scale_invariant_loss_is_blind_to_scale_and_equals_challenge_si_rmse():
    from maikit.metrics import depth_metrics

    pred, gt = _depth_pair(seed=4)
    loss = create_loss("scale_invariant", eps=0.0)
    a = loss(pred, gt, gt > 0)
    b = loss(pred * 3.7, gt, gt > 0)
    assert float(a) == pytest.approx(float(b), rel=1e-9)
    # one image against the organisers' metric (millimetres; every depth here is > 1 m)
    one = loss(pred[:1], gt[:1], gt[:1] > 0)
    ref = depth_metrics(pred[0, 0].numpy() * 1000, gt[0, 0].numpy() * 1000)["si_rmse"]
    assert float(one) == pytest.approx(ref, rel=1e-7)


def test_barron_alpha2_is_scaled_l2_and_other_shapes():
    pred, gt = _depth_pair(seed=5)
    mask = gt > 0
    x = (pred - gt)[mask]
    c = 0.3
    assert float(create_loss("robust", alpha=2.0, c=c)(pred, gt, mask)) == pytest.approx(
        float(0.5 * ((x / c) ** 2).mean()), rel=1e-12)
    assert float(create_loss("robust", alpha=1.0, c=c)(pred, gt, mask)) == pytest.approx(
        float((torch.sqrt((x / c) ** 2 + 1) - 1).mean()), rel=1e-12)
    assert float(create_loss("barron", alpha=0.0, c=c)(pred, gt, mask)) == pytest.approx(
        float(torch.log(0.5 * (x / c) ** 2 + 1).mean()), rel=1e-12)
    # near alpha = 2 the general formula tends to the L2 limit (small residuals: x/c < 1)
    big_c = 5.0
    assert float(create_loss("robust", alpha=1.9999, c=big_c)(pred, gt, mask)) == pytest.approx(
        float(0.5 * ((x / big_c) ** 2).mean()), rel=1e-3)


def test_gradient_losses_by_hand():
    gt = torch.tensor([[[[1.0, 2.0, 4.0], [1.0, 0.0, 3.0]]]], dtype=torch.float64)
    pred = torch.tensor([[[[1.5, 2.0, 5.0], [2.0, 7.0, 3.5]]]], dtype=torch.float64)
    # residual r = pred - gt on valid pixels; differences only between two valid neighbours
    # r = [[0.5, 0, 1], [1, x, 0.5]]: x-pairs (0.5,0),(0,1) -> 0.5+1; y-pairs (0.5,1),(1,0.5) -> 0.5+0.5
    expected = (0.5 + 1.0 + 0.5 + 0.5) / 5
    assert float(create_loss("gradient_l1")(pred, gt, gt > 0)) == pytest.approx(expected)
    # log-space matching is zero for a prediction off by a global scale
    p2, g2 = _depth_pair(seed=6)
    g2 = g2.clamp_min(0)
    assert float(create_loss("gradient")(g2.clamp_min(1.0) * 2.5, g2, g2 > 0)) == pytest.approx(0.0, abs=1e-9)
    assert float(create_loss("grad")(p2, g2, g2 > 0)) > 0


def test_virtual_normal_scale_invariant_and_sensitive_to_shape():
    _, gt = _depth_pair(seed=7)
    vnl = create_loss("virtual_normal", samples=500)
    torch.manual_seed(1)
    assert float(vnl(gt.clamp_min(1.0) * 2.0, gt, gt > 0)) == pytest.approx(0.0, abs=1e-6)
    torch.manual_seed(1)
    bumpy = gt.clamp_min(1.0) * (1 + 0.3 * torch.rand(gt.shape, dtype=gt.dtype))
    assert float(vnl(bumpy, gt, gt > 0)) > 0.01


def test_no_valid_pixel_gives_zero_not_nan():
    pred = torch.rand(1, 1, 8, 8, requires_grad=True)
    gt = torch.zeros(1, 1, 8, 8)
    for name in ("l1", "silog", "gradient", "virtual_normal", "robust"):
        v = create_loss(name)(pred, gt, gt > 0)
        assert float(v.detach()) == 0.0
        v.backward()


# ---------------------------------------------------------------- VGG
def test_vgg_without_weights_says_what_to_do():
    with pytest.raises(MaikitError, match="--vgg-weights.*--recipe fast"):
        create_loss("vgg")
    with pytest.raises(MaikitError, match="--vgg-weights"):
        build_loss([("l1", 1.0), ("vgg", 0.1)])


def test_vgg_loads_torchvision_layout_state_dict(tmp_path):
    from maikit.losses import VGG19Features
    from maikit.losses.perceptual import VGG19_LAYERS

    assert VGG19_LAYERS["relu5_4"] == 35 and VGG19_LAYERS["relu1_1"] == 1 and VGG19_LAYERS["pool5"] == 36
    torch.manual_seed(0)
    full = VGG19Features()
    state = full.state_dict()
    assert "features.0.weight" in state and "features.34.weight" in state and len(state) == 32
    state = {**state, "classifier.0.weight": torch.zeros(2, 2)}  # a full torchvision file has these
    path = tmp_path / "vgg19.pth"
    torch.save(state, path)
    loss = create_loss("vgg", weights=str(path))
    x = torch.rand(1, 3, 32, 32)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    assert torch.allclose(loss.features(x), full.features[:36]((x - mean) / std), atol=1e-6)
    pred = torch.rand(1, 3, 32, 32, requires_grad=True)
    v = loss(pred, x)
    v.backward()
    assert float(v.detach()) > 0 and pred.grad.abs().sum() > 0
    assert not any(p.requires_grad for p in loss.vgg.parameters())


def test_vgg_rejects_bad_files(tmp_path):
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a torch file")
    with pytest.raises(MaikitError, match="cannot read VGG-19 weights"):
        create_loss("vgg", weights=str(bad))
    wrong = tmp_path / "wrong.pth"
    torch.save({"features.0.weight": torch.zeros(1)}, wrong)
    with pytest.raises(MaikitError, match="not a VGG-19 state dict"):
        create_loss("vgg", weights=str(wrong))
    with pytest.raises(MaikitError, match="not found"):
        create_loss("vgg", weights=str(tmp_path / "missing.pth"))


# ---------------------------------------------------------------- distillation
def test_feature_l2_same_shape_is_mse_and_adapts_shapes():
    s, t = torch.rand(2, 8, 6, 8), torch.rand(2, 8, 6, 8)
    assert float(build_distill_loss("feature_l2")(s, t)) == pytest.approx(float(F.mse_loss(s, t)), rel=1e-6)
    loss = build_distill_loss("feature_l2")
    s = torch.rand(2, 5, 12, 16, requires_grad=True)
    t = torch.rand(2, 8, 6, 8)
    loss.prepare(s, t)
    params = list(loss.parameters())
    assert len(params) == 2 and params[0].shape == (8, 5, 1, 1)  # the 1x1 adapter
    v = loss(s, t)
    v.backward()
    assert s.grad.abs().sum() > 0 and params[0].grad.abs().sum() > 0
    with pytest.raises(MaikitError, match="different numbers"):
        loss([s, s], [t])


def test_pairwise_distillation_compares_affinities():
    t = torch.rand(2, 8, 10, 12)
    loss = build_distill_loss("pairwise", grid=4)
    assert float(loss(t * 3.0, t)) == pytest.approx(0.0, abs=1e-6)  # cosine affinity: scale-free
    assert float(loss(torch.cat([t, t], 1), t)) == pytest.approx(0.0, abs=1e-6)  # channel count differs
    pooled = F.adaptive_avg_pool2d(t, (4, 4)).flatten(2)
    other = torch.rand(2, 8, 10, 12)
    po = F.adaptive_avg_pool2d(other, (4, 4)).flatten(2)
    a = F.normalize(pooled, dim=1).transpose(1, 2) @ F.normalize(pooled, dim=1)
    b = F.normalize(po, dim=1).transpose(1, 2) @ F.normalize(po, dim=1)
    assert float(loss(other, t)) == pytest.approx(float(((a - b) ** 2).mean()), rel=1e-5)
    with pytest.raises(MaikitError, match="not a distillation loss"):
        build_distill_loss("l1")


# ---------------------------------------------------------------- composite
def test_build_loss_weighted_sum_parts_and_heads():
    pred, gt = _smooth_images(2, 3, 24, 24)
    sup = (pred * 0.5).clamp(0, 1)
    fn = build_loss([("l1", 2.0), ("mse", 0.5)], outputs=("out", "super"))
    total, parts = fn({"out": pred, "super": sup}, {"y": gt})
    l1, l2 = (pred - gt).abs().mean(), ((pred - gt) ** 2).mean()
    l1s, l2s = (sup - gt).abs().mean(), ((sup - gt) ** 2).mean()
    assert float(total) == pytest.approx(float(2 * l1 + 0.5 * l2 + 2 * l1s + 0.5 * l2s), rel=1e-9)
    assert set(parts) == {"l1", "mse", "l1@super", "mse@super"}
    with pytest.raises(MaikitError, match="`super`"):
        fn({"out": pred}, (None, gt))
    with pytest.raises(MaikitError, match="unknown loss"):
        build_loss([("nope", 1.0)])


def test_build_loss_masks_depth_targets():
    pred, gt = _depth_pair()
    fn = build_loss([("l1", 1.0)], task=DEPTH)
    total, _ = fn(pred, (None, gt))
    m = gt > 0
    assert float(total) == pytest.approx(float((pred - gt).abs()[m].mean()), rel=1e-12)


def test_every_zoo_recipe_term_is_a_registered_loss():
    from maikit.models import get_model_entry, list_models

    for name in list_models():
        entry = get_model_entry(name)
        if entry.recipes is None:
            continue
        for recipe in (entry.recipes.paper, entry.recipes.fast):
            term_lists = [recipe.losses] + [s.losses for s in recipe.stages]
            for terms in term_lists:
                usable = [t for t in terms if not t.name.startswith("vgg")]
                if usable:
                    build_loss(usable, task=get_task(entry.task))
            if recipe.distill:
                assert LOSSES[recipe.distill].kind == "distill", name
