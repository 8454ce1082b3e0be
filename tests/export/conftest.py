"""Session-scoped exports shared by the export and inspect tests."""

from __future__ import annotations

import os

import pytest
from _fixtures import SMALL_HW, TinyDepth, TinyIsp
from maikit.tasks import DEPTH, ISP


def pytest_collection_modifyitems(config, items):
    """The zoo-wide export test takes minutes: run it with `-m slow` or MAI_SLOW=1."""
    if "slow" in (config.getoption("-m") or "") or os.environ.get("MAI_SLOW") == "1":
        return
    skip = pytest.mark.skip(reason="zoo-wide export: run with -m slow or MAI_SLOW=1")
    for item in items:
        if "slow" in item.keywords and "test_zoo_export" in item.nodeid:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def isp_export(tmp_path_factory):
    from maikit.export import export_model

    out = tmp_path_factory.mktemp("isp_fp32")
    model = TinyIsp().eval()
    record = export_model(model, out, task=ISP, input_hw=SMALL_HW)
    return model, out, record


@pytest.fixture(scope="session")
def isp_export_gpu(tmp_path_factory):
    from maikit.export import export_model

    out = tmp_path_factory.mktemp("isp_gpu")
    model = TinyIsp().eval()
    record = export_model(model, out, task=ISP, input_hw=SMALL_HW, gpu_friendly=True)
    return model, out, record


@pytest.fixture(scope="session")
def depth_int8(tmp_path_factory):
    from maikit.export import export_model

    out = tmp_path_factory.mktemp("depth_int8")
    model = TinyDepth().eval()
    record = export_model(model, out, task=DEPTH, precision="int8", input_hw=(24, 32), calib_samples=4)
    return model, out, record
