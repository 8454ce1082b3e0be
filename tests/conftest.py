"""Fixtures shared by every test folder (helpers in ``tests/_fixtures.py``).

Data fixtures write tiny datasets once per session (synthetic, in the official layouts) or
once per test (random PNG pairs written with plain OpenCV); model fixtures convert the tiny
models of ``_fixtures`` to .tflite once per session.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from _fixtures import make_depth_split, make_isp_split, mosaic_ref, write_png_cv


@pytest.fixture
def mosaic():
    """The reference RGGB mosaic function (RGB HxWx3 -> HxW)."""
    return mosaic_ref


@pytest.fixture
def png_writer():
    """``write(path, img)``: a PNG written with plain OpenCV (RGB order for 3 channels)."""
    return write_png_cv


@pytest.fixture
def isp_root(tmp_path: Path) -> Path:
    """An ISP root with 4 train and 2 val pairs of 16x24 RGB, RAW = 4 x the RGB's mosaic."""
    root = tmp_path / "isp"
    make_isp_split(root / "train", n=4, seed=1)
    make_isp_split(root / "val", n=2, seed=2)
    return root


@pytest.fixture
def depth_root(tmp_path: Path) -> Path:
    """A depth root with 2 train pairs and 1 pair in `validation/` (the other accepted name)."""
    root = tmp_path / "depth"
    make_depth_split(root / "train", n=2)
    make_depth_split(root / "validation", n=1, seed=3)
    return root


@pytest.fixture(scope="session")
def isp_data(tmp_path_factory):
    """Synthetic ISP data (unprocessed photos): 8 train / 2 val pairs, RGB 64x64."""
    from maikit.data.synth_isp import synth_isp

    root = tmp_path_factory.mktemp("isp_data")
    synth_isp(root, 10, seed=0, val_fraction=0.2, patch=64)
    return root


@pytest.fixture(scope="session")
def depth_data(tmp_path_factory):
    """Synthetic depth scenes, 64x48: 4 train / 2 val."""
    from maikit.data.synth_depth import SynthParams, synth_depth

    root = tmp_path_factory.mktemp("depth_data")
    synth_depth(root, 6, seed=0, val_fraction=0.34, params=SynthParams(width=64, height=48))
    return root


@pytest.fixture(scope="session")
def tiny_isp_tflite(tmp_path_factory) -> Path:
    """TinyIsp converted at a fixed 1x16x16x4 input (NHWC): a small ISP-shaped .tflite."""
    import torch

    from _fixtures import TinyIsp
    from maikit.export.tflite import convert_to_tflite

    path = tmp_path_factory.mktemp("tiny_isp") / "tiny_isp.tflite"
    convert_to_tflite(TinyIsp().eval(), torch.rand(1, 4, 16, 16), path)
    return path


@pytest.fixture
def listener():
    """A TCP listener on this process's 127.0.0.1 (connections queue in its backlog); its port."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(8)
        yield srv.getsockname()[1]

