"""The training loop on tiny synthetic data: files, resume, determinism, stages, distillation."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from maikit.errors import MaikitError
from maikit.train import TrainConfig, load_checkpoint, train


def _rows(run: Path) -> list[dict]:
    with (run / "metrics.csv").open() as f:
        return list(csv.DictReader(f))


def _isp(data, out, **kw) -> TrainConfig:
    base = dict(task="isp", model="smallnet", data=str(data), out=str(out), steps=4, batch=2, patch=16,
                recipe="fast", val_every=2)
    base.update(kw)
    return TrainConfig(**base)


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=False)["model"]


def test_isp_run_writes_checkpoints_metrics_and_curves(isp_run):
    run = Path(isp_run.run_dir)
    for name in ("last.pt", "best.pt", "metrics.csv", "curves.png", "config.json", "summary.json"):
        assert (run / name).is_file(), name
    assert (run / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    all_rows = _rows(run)
    # val_every=2: a training-loss row every step (val_every // 5, at least 1), validation at 2 and 4
    assert [int(r["step"]) for r in all_rows] == [1, 2, 3, 4]
    assert all(r["loss"] not in ("", None) for r in all_rows)
    rows = [r for r in all_rows if r.get("val_psnr")]
    assert [int(r["step"]) for r in rows] == [2, 4]
    assert {"lr", "loss", "l1", "val_psnr", "val_ssim", "patches_per_s"} <= set(rows[0])
    ckpt = load_checkpoint(run / "last.pt")
    assert ckpt["step"] == 4 and ckpt["model_name"] == "isp/smallnet" and ckpt["task"] == "isp"
    assert ckpt["data"]["raw_convention"] == "mai21" and ckpt["data"]["packed_patch"] == 16
    assert {"optimizer", "scheduler", "rng", "config", "recipe", "best"} <= set(ckpt)
    from maikit.models import get_model_entry

    recipe = get_model_entry("isp/smallnet").recipes.fast
    assert ckpt["config"]["steps"] == 4 and ckpt["config"]["lr"] == recipe.lr  # the recipe's, filled in
    assert ckpt["config"]["batch"] == 2
    best = load_checkpoint(run)  # a run folder resolves to best.pt
    assert best["best"]["value"] == pytest.approx(max(float(r["val_psnr"]) for r in rows), rel=1e-5)
    assert isp_run.stopped == "completed" and isp_run.best_value == best["best"]["value"]


def _learning(isp_data, out) -> tuple[list[float], float, float]:
    """30 steps of isp/smallnet on the synthetic set: (training losses row by row, validation
    PSNR of the untrained model, of the trained one)."""
    from maikit.train import Trainer

    trainer = Trainer(_isp(isp_data, out, steps=30, batch=4, patch=32, lr=3e-3, val_every=30), progress=False)
    untrained = trainer.validate()["psnr"]  # the same initial weights, before any step
    result = trainer.run()
    return [float(r["loss"]) for r in _rows(out)], untrained, result.last_val["psnr"]


def _learned(losses: list[float], untrained: float, trained: float) -> bool:
    return len(losses) >= 4 and losses[-1] < 0.6 * losses[0] and trained > untrained + 3.0


def test_training_learns_and_a_no_op_optimiser_does_not(isp_data, tmp_path, monkeypatch):
    losses, untrained, trained = _learning(isp_data, tmp_path / "real")
    assert _learned(losses, untrained, trained), (losses, untrained, trained)  # measured: 8.3 -> 16.4 dB
    from maikit.train.optim import OptimStep

    # the same run with an optimiser that never moves a weight must fail the same check
    monkeypatch.setattr(OptimStep, "step", lambda self, loss, frozen, step_no: None)
    assert not _learned(*_learning(isp_data, tmp_path / "no-op"))


def test_depth_run_validates_with_official_metrics(depth_run):
    run = Path(depth_run.run_dir)
    rows = [r for r in _rows(run) if r.get("val_si_rmse")]
    assert [int(r["step"]) for r in rows] == [1, 2]
    assert {"silog", "val_si_rmse", "val_rmse", "val_log10", "val_rel", "images_per_s"} <= set(rows[0])
    assert depth_run.primary_metric == "si_rmse"
    # lower is better: best.pt holds the smallest si-RMSE seen
    assert depth_run.best_value == pytest.approx(min(float(r["val_si_rmse"]) for r in rows), rel=1e-5)
    assert load_checkpoint(run)["data"]["depth_unit_files"] == "mm"


def test_resume_continues_exactly_through_stages(isp_data, tmp_path):
    # enerzai's fast recipe: joint (out + super) for 2 steps, then the sub-net alone
    kw = dict(model="enerzai", steps=4, val_every=1)
    train(_isp(isp_data, tmp_path / "straight", **kw), progress=False)
    first = train(_isp(isp_data, tmp_path / "halves", stop_at=2, **kw), progress=False)
    assert first.stopped == "stop_at" and first.step == 2
    mid = _weights(tmp_path / "halves" / "last.pt")
    second = train(_isp(isp_data, tmp_path / "halves", resume=True, **kw), progress=False)
    assert second.step == 4 and second.stopped == "completed"
    a, b = _weights(tmp_path / "straight" / "last.pt"), _weights(tmp_path / "halves" / "last.pt")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(mid[k], b[k]) for k in b)  # the resumed half trained (equal weights prove nothing else)
    oa = torch.load(tmp_path / "straight" / "last.pt", weights_only=False)["optimizer"]["state"]
    ob = torch.load(tmp_path / "halves" / "last.pt", weights_only=False)["optimizer"]["state"]
    assert oa and oa.keys() == ob.keys()  # Adam's moments of every trained parameter, restored on resume
    assert all(torch.equal(oa[i][m], ob[i][m]) for i in oa for m in ("exp_avg", "exp_avg_sq"))
    rows = _rows(tmp_path / "halves")
    assert [r["stage"] for r in rows] == ["joint", "joint", "sub_finetune", "sub_finetune"]
    assert rows[0]["charbonnier@super"] and not rows[3].get("charbonnier@super")
    assert _rows(tmp_path / "straight") == [{**r, "patches_per_s": s["patches_per_s"]}
                                            for r, s in zip(rows, _rows(tmp_path / "straight"))]


def test_same_seed_gives_identical_weights(isp_data, tmp_path):
    # "b" also loads its data in two worker processes: the result must not depend on that
    runs = [train(_isp(isp_data, tmp_path / name, steps=3, seed=seed, workers=workers), progress=False)
            for name, seed, workers in (("a", 7, 0), ("b", 7, 2), ("c", 8, 0))]
    a, b, c = (_weights(Path(r.run_dir) / "last.pt") for r in runs)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_existing_run_needs_resume(isp_run, isp_data):
    with pytest.raises(MaikitError, match="--resume"):
        train(_isp(isp_data, isp_run.run_dir), progress=False)
    from maikit.cli import app

    res = CliRunner().invoke(app, ["train", "--task", "isp", "--model", "isp/smallnet", "--data", str(isp_data),
                                   "--out", str(isp_run.run_dir), "--recipe", "fast"])
    assert res.exit_code == 1
    assert "already has a checkpoint" in res.output and "Traceback" not in res.output


def test_paper_recipe_with_vgg_needs_weights(isp_data, tmp_path):
    with pytest.raises(MaikitError, match="--vgg-weights.*--recipe fast"):
        train(_isp(isp_data, tmp_path / "r", recipe="paper"), progress=False)
    assert not (tmp_path / "r" / "last.pt").exists()


def test_model_name_must_match_task(isp_data, tmp_path):
    with pytest.raises(MaikitError, match="belongs to task"):
        train(_isp(isp_data, tmp_path / "r", model="depth/tcl"), progress=False)


def test_time_budget_stops_and_saves(isp_data, tmp_path):
    result = train(_isp(isp_data, tmp_path / "r", steps=50, max_minutes=1e-6), progress=False)
    assert result.stopped == "time budget" and result.step == 1
    assert (tmp_path / "r" / "last.pt").is_file() and result.last_val["psnr"] > 0


def test_time_budget_without_val_every_validates_along_the_way(isp_data, tmp_path):
    """A budgeted run validates every tenth of the budget, so its curves have several points."""
    # the process's own CPU time: other load on the machine does not eat the 3-second budget
    result = train(_isp(isp_data, tmp_path / "r", steps=100_000, max_minutes=0.05, budget_clock="cpu"),
                   progress=False)
    assert result.stopped == "time budget"
    rows = _rows(tmp_path / "r")
    val_steps = [int(r["step"]) for r in rows if r.get("val_psnr")]
    assert len(val_steps) >= 3 and val_steps == sorted(set(val_steps))
    assert len(rows) > len(val_steps)  # loss rows in between


def test_teacher_student_distillation(depth_run, depth_data, tmp_path):
    # jmu's recipe has no distillation loss of its own, so the trainer uses feature_l2 (with a
    # 1x1 adapter: its features have another width than tcl's)
    result = train(TrainConfig(task="depth", model="jmu", data=str(depth_data), out=str(tmp_path / "student"),
                               steps=1, batch=2, recipe="fast", teacher=str(depth_run.run_dir)), progress=False)
    row = _rows(Path(result.run_dir))[-1]
    assert float(row["distill"]) > 0
    assert float(row["loss"]) > float(row["distill"])
    ckpt = torch.load(Path(result.run_dir) / "last.pt", weights_only=False)
    assert ckpt["train_state"]["distill"]  # adapter weights are saved for resume


def test_super_net_detaches_at_psnr_threshold(isp_data, tmp_path, monkeypatch):
    """ENERZAi's paper stage: once the super-net's val PSNR passes the threshold, it is detached."""
    from maikit.train.schedule import PlannedStage

    # a threshold every run passes (the recipe's 21 dB takes real training)
    monkeypatch.setattr(PlannedStage, "detach_super_at_psnr",
                        property(lambda self: 0.0 if "detach_super_at_psnr" in self.options else None))
    result = train(_isp(isp_data, tmp_path / "r", model="enerzai", recipe="paper", steps=4, val_every=1),
                   progress=False)
    rows = _rows(Path(result.run_dir))
    assert [r["stage"] for r in rows[:2]] == ["joint", "joint"]
    assert rows[0]["charbonnier@super"] and float(rows[0]["val_super_psnr"]) > 0
    assert not rows[1].get("charbonnier@super")  # detached after the first validation
    ckpt = torch.load(Path(result.run_dir) / "last.pt", weights_only=False)
    assert ckpt["train_state"]["super_detached"] is True


@pytest.mark.parametrize("source", ["run", "file"])
def test_initial_weights_from_a_run(isp_run, isp_data, tmp_path, source):
    from maikit.train import Trainer

    run = Path(isp_run.run_dir)
    trainer = Trainer(_isp(isp_data, tmp_path / "r", weights=str(run if source == "run" else run / "last.pt")),
                      progress=False)
    want = _weights(run / ("best.pt" if source == "run" else "last.pt"))
    got = trainer.model.state_dict()
    assert all(torch.equal(got[k], want[k]) for k in want)
    assert torch.load(run / "last.pt", weights_only=True)["step"] == 4  # checkpoints hold no code


def test_every_depth_recipe_augmentation_is_understood():
    """A recipe's augmentation names must map to dataset options, never be dropped silently."""
    from maikit.models import get_model_entry, list_models
    from maikit.train.adapters import DepthAdapter

    for name in list_models("depth"):
        recipes = get_model_entry(name).recipes
        for recipe in (recipes.paper, recipes.fast):
            unknown = [a for a in recipe.augment if a not in DepthAdapter._AUGMENT_NAMES]
            assert not unknown, f"{name}: {unknown}"


def test_unknown_depth_augmentation_is_an_error(tmp_path):
    from maikit.errors import MaikitError
    from maikit.train.adapters import DepthAdapter
    from maikit.train.config import TrainConfig

    cfg = TrainConfig(task="depth", model="depth/tcl", data=str(tmp_path), out=str(tmp_path / "run"))
    with pytest.raises(MaikitError, match="unknown depth augmentation 'mixup'"):
        DepthAdapter().train_dataset(cfg, ("flip", "mixup"), 1)


def test_bf16_mixed_precision_and_channels_last_on_cpu(isp_data, tmp_path, monkeypatch):
    """--amp bf16 runs the training forward in bfloat16 on NHWC batches; weights stay float32."""
    seen = []
    conv_forward = torch.nn.Conv2d.forward

    def spy(self, x):
        out = conv_forward(self, x)
        if self.training:
            seen.append((x.is_contiguous(memory_format=torch.channels_last), out.dtype))
        return out

    monkeypatch.setattr(torch.nn.Conv2d, "forward", spy)
    result = train(_isp(isp_data, tmp_path / "r", steps=2, amp="bf16", channels_last=True), progress=False)
    assert seen and all(nhwc and dtype == torch.bfloat16 for nhwc, dtype in seen)
    ckpt = torch.load(tmp_path / "r" / "last.pt", weights_only=False)
    assert ckpt["config"]["amp"] == "bf16" and ckpt["config"]["channels_last"] is True
    assert all(v.dtype == torch.float32 for v in ckpt["model"].values() if v.is_floating_point())
    assert ckpt["train_state"]["scaler"] is None  # bfloat16 needs no loss scaling
    assert result.last_val["psnr"] > 0 and all(torch.isfinite(v).all() for v in ckpt["model"].values()
                                                if v.is_floating_point())
    seen.clear()
    train(_isp(isp_data, tmp_path / "f32", steps=1), progress=False)  # the default on CPU: float32, NCHW
    assert seen and all(not nhwc and dtype == torch.float32 for nhwc, dtype in seen)


def test_amp_modes():
    from maikit.train.loop import amp_dtype

    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert amp_dtype("auto", cpu) is None and amp_dtype("off", cuda) is None
    assert amp_dtype("auto", cuda) == torch.float16 and amp_dtype("fp16", cuda) == torch.float16
    assert amp_dtype("bf16", cpu) == torch.bfloat16 and amp_dtype("bf16", cuda) == torch.bfloat16
    with pytest.raises(MaikitError, match="needs a CUDA device"):
        amp_dtype("fp16", cpu)
    with pytest.raises(MaikitError, match="unknown mixed-precision mode `fp8`"):
        amp_dtype("fp8", cpu)
    # run configurations saved when `amp` was a yes/no switch still load
    base = dict(task="isp", model="isp/smallnet", data="d", out="o")
    assert TrainConfig.from_dict({**base, "amp": True}).amp == "auto"
    assert TrainConfig.from_dict({**base, "amp": False}).amp == "off"


def test_fp16_on_cpu_is_a_one_line_error(isp_data, tmp_path):
    from maikit.cli import app

    res = CliRunner().invoke(app, ["train", "--task", "isp", "--model", "smallnet", "--data", str(isp_data),
                                   "--out", str(tmp_path / "r"), "--recipe", "fast", "--device", "cpu",
                                   "--amp", "fp16", "--steps", "1"])
    assert res.exit_code == 1 and "on CPU use --amp bf16" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "r" / "last.pt").exists()


def test_json_run_writes_progress_lines_to_a_piped_stderr(isp_data, tmp_path):
    """With stderr a pipe (a script, a CI log) progress comes as plain lines from the first step on,
    not as a bar drawn only when training stops; stdout stays one JSON document."""
    import json
    import os
    import subprocess
    import sys

    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "maikit", "train", "--task", "isp", "--model", "smallnet", "--data", str(isp_data),
           "--out", str(out), "--steps", "3", "--batch", "2", "--patch", "16", "--recipe", "fast", "--val-every", "3",
           "--json"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[2] / "src"),
                                                       os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["step"] == 3
    lines = [ln for ln in proc.stderr.splitlines() if " step " in ln]
    assert lines and "step 1/3" in lines[0] and "loss" in lines[0], proc.stderr
    assert "step 3/3" in lines[-1]
