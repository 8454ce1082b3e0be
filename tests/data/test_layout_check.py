"""Layout resolution, pairing, ``check_dataset`` and ``mai data check``."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from maikit.cli import app
from maikit.data.check import check_dataset
from maikit.data.layout import find_pairs, pair_files, resolve_split, resolve_splits
from maikit.errors import MaikitError
from maikit.tasks import DEPTH, ISP, MAI22_4095

runner = CliRunner()


# --------------------------------------------------------------------------------------
# layout
# --------------------------------------------------------------------------------------
def test_resolve_root_split_and_alias(isp_root, depth_root):
    assert list(resolve_splits(isp_root, ISP)) == ["train", "val"]
    assert resolve_splits(isp_root / "val", ISP) == {"val": isp_root / "val"}
    assert list(resolve_splits(depth_root, DEPTH)) == ["train", "validation"]
    assert resolve_split(depth_root, DEPTH, "val") == depth_root / "validation"
    assert resolve_split(isp_root / "train", ISP, "train") == isp_root / "train"
    with pytest.raises(MaikitError, match="no `test` split"):
        resolve_split(isp_root, ISP, "test")
    with pytest.raises(MaikitError, match="no depth data here"):
        resolve_splits(isp_root, DEPTH)


def test_pairing_reports_unpaired(isp_root):
    split = isp_root / "train"
    (split / "fujifilm" / "1.png").unlink()
    (split / "mediatek_raw" / "3.png").unlink()
    pairing = pair_files(split, ISP)
    assert [p.name for p in pairing.pairs] == ["0.png", "2.png"]
    assert [p.name for p in pairing.inputs_without_target] == ["1.png"]
    assert [p.name for p in pairing.targets_without_input] == ["3.png"]
    assert [p.name for p in find_pairs(split, ISP, strict=False)] == ["0.png", "2.png"]
    with pytest.raises(MaikitError, match=r"2 unpaired"):
        find_pairs(split, ISP)


# --------------------------------------------------------------------------------------
# check_dataset
# --------------------------------------------------------------------------------------
def test_clean_datasets(isp_root, depth_root):
    rep = check_dataset(isp_root, ISP)
    assert rep.pairs == 6 and rep.problems == [] and rep.splits["val"]["pairs"] == 2
    rep = check_dataset(depth_root, DEPTH)
    assert rep.pairs == 3 and rep.problems == []


def test_check_lists_every_kind_of_problem(isp_root, png_writer):
    s = isp_root / "train"
    (s / "fujifilm" / "0.png").unlink()  # missing partner
    png_writer(s / "mediatek_raw" / "1.png", np.zeros((16, 24), np.uint8))  # wrong dtype
    png_writer(s / "mediatek_raw" / "2.png", np.full((16, 24), 2047, np.uint16))  # 11-bit
    png_writer(s / "fujifilm" / "3.png", np.zeros((8, 8, 3), np.uint8))  # wrong size
    good = (isp_root / "val" / "fujifilm" / "0.png").read_bytes()
    (isp_root / "val" / "fujifilm" / "0.png").write_bytes(good[: len(good) // 2])  # truncated
    (isp_root / "val" / "mediatek_raw" / "1.png").write_text("not an image")  # non-PNG

    rep = check_dataset(isp_root, ISP)
    found = {(p.file.split("isp/")[1], p.reason) for p in rep.problems}
    expect = {
        ("train/mediatek_raw/0.png", "missing partner: no fujifilm/0.png"),
        ("train/mediatek_raw/1.png", "expected RAW Bayer as uint16 1-channel PNG, got uint8 1-channel"),
        ("train/mediatek_raw/2.png", "RAW value 2047 exceeds 10-bit range (max 1023)"),
        ("train/fujifilm/3.png", "size 8x8 does not match its mediatek_raw partner (16x24)"),
        ("val/fujifilm/0.png", "truncated PNG (no IEND chunk)"),
        ("val/mediatek_raw/1.png", "not a PNG file"),
    }
    assert found == expect
    assert rep.pairs == 5 and rep.splits["train"]["problems"] == 4


def test_check_depth_sizes_and_dtypes(depth_root, png_writer):
    s = depth_root / "train"
    png_writer(s / "rgb" / "0.png", np.zeros((240, 320, 3), np.uint8))
    png_writer(s / "depth" / "1.png", np.zeros((480, 640), np.uint8))
    reasons = {(p.file.split("depth/", 1)[1], p.reason) for p in check_dataset(depth_root, DEPTH).problems}
    assert reasons == {
        ("train/rgb/0.png", "size 240x320, expected 480x640"),
        ("train/depth/1.png", "expected depth target as uint16 1-channel PNG, got uint8 1-channel"),
    }


def test_missing_or_empty_folder_raises(tmp_path):
    with pytest.raises(MaikitError, match="folder not found"):
        check_dataset(tmp_path / "absent", ISP)
    (tmp_path / "e" / "train" / "mediatek_raw").mkdir(parents=True)
    (tmp_path / "e" / "train" / "fujifilm").mkdir(parents=True)
    with pytest.raises(MaikitError, match="empty dataset"):
        check_dataset(tmp_path / "e", ISP)


def test_check_convention_bit_depth_and_progress(isp_root):
    ticks = []
    check_dataset(isp_root / "val", ISP, MAI22_4095, progress=lambda d, t: ticks.append((d, t)))
    assert ticks[-1] == (4, 4) and len(ticks) == 4


# --------------------------------------------------------------------------------------
# mai data check
# --------------------------------------------------------------------------------------
def test_cli_clean_and_json_shape(isp_root):
    res = runner.invoke(app, ["data", "check", str(isp_root), "--task", "isp"])
    assert res.exit_code == 0, res.output
    assert "6 pairs, no problems" in res.stdout
    res = runner.invoke(app, ["data", "check", str(isp_root), "--json"])  # task detected
    assert res.exit_code == 0
    out = json.loads(res.stdout)
    assert out["pairs"] == 6 and out["problems"] == [] and out["task"] == "isp"


def test_cli_problems_exit_1(isp_root):
    (isp_root / "val" / "fujifilm" / "1.png").unlink()
    res = runner.invoke(app, ["data", "check", str(isp_root), "--task", "isp", "--json"])
    assert res.exit_code == 1
    out = json.loads(res.stdout)
    assert out["pairs"] == 5
    assert out["problems"] == [
        {"file": str(isp_root / "val" / "mediatek_raw" / "1.png"), "reason": "missing partner: no fujifilm/1.png"}
    ]
    res = runner.invoke(app, ["data", "check", str(isp_root), "--task", "isp"])
    assert res.exit_code == 1 and "missing partner" in res.stdout


@pytest.mark.parametrize("args", [["--task", "isp"], ["--task", "nope"], ["--raw-convention", "x"]])
def test_cli_errors_exit_1_one_line(tmp_path, isp_root, args):
    target = tmp_path / "absent" if args[1] == "isp" else isp_root
    res = runner.invoke(app, ["data", "check", str(target), *args])
    assert res.exit_code == 1
    assert res.stdout == "" and len(res.stderr.strip().splitlines()) == 1
    assert "Traceback" not in res.stderr


def test_input_only_test_split_is_fine(isp_root, png_writer):
    png_writer(isp_root / "test" / "mediatek_raw" / "0.png", np.zeros((4, 6), np.uint16))
    rep = check_dataset(isp_root, ISP)
    assert rep.problems == [] and rep.splits["test"] == {
        "path": str(isp_root / "test"), "pairs": 0, "inputs": 1, "targets": 0, "problems": 0}
    png_writer(isp_root / "val2" / "mediatek_raw" / "0.png", np.zeros((4, 6), np.uint16))
    assert [(p.file, p.reason) for p in check_dataset(isp_root, ISP).problems] == [
        (str(isp_root / "val2" / "fujifilm"), "missing `fujifilm/` folder"),
        (str(isp_root / "val2" / "mediatek_raw" / "0.png"), "missing partner: no fujifilm/0.png"),
    ]
