"""Finished tiny training runs shared by the training tests (on the session data of tests/conftest.py)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def isp_run(isp_data, tmp_path_factory):
    """A finished 4-step isp/smallnet run (fast recipe, 32x32 RGB patches)."""
    from maikit.train import TrainConfig, train

    out = tmp_path_factory.mktemp("runs") / "isp_smallnet"
    result = train(TrainConfig(task="isp", model="smallnet", data=str(isp_data), out=str(out), steps=4, batch=2,
                               patch=16, recipe="fast", val_every=2), progress=False)
    return result


@pytest.fixture(scope="session")
def depth_run(depth_data, tmp_path_factory):
    """A finished 2-step depth/tcl run (fast recipe, 64x48 frames)."""
    from maikit.train import TrainConfig, train

    out = tmp_path_factory.mktemp("runs") / "depth_tcl"
    result = train(TrainConfig(task="depth", model="tcl", data=str(depth_data), out=str(out), steps=2, batch=2,
                               recipe="fast", val_every=1), progress=False)
    return result
