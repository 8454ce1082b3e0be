"""Small .tflite files for the device-backend tests (converted once per session)."""

from __future__ import annotations

import pytest


def _convert(model, sample, path, **kw):
    from maikit.export.tflite import convert_to_tflite

    return convert_to_tflite(model.eval(), sample, path, **kw)


@pytest.fixture(scope="session")
def smallnet_file(tmp_path_factory):
    """isp/smallnet (the drift reference's architecture) at a small fixed input, 1x32x48x4."""
    import torch

    from maikit.models import create_model

    torch.manual_seed(0)
    return _convert(create_model("isp/smallnet"), torch.rand(1, 4, 32, 48), tmp_path_factory.mktemp("dev") / "smallnet.tflite")


@pytest.fixture(scope="session")
def gather_rank5_file(tmp_path_factory):
    """A conv net with one GATHER_ND (a reversed-column index) and a rank-5 RESHAPE."""
    import torch
    import torch.nn as nn

    class GatherRank5(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1 = nn.Conv2d(4, 8, 3, padding=1)
            self.c2 = nn.Conv2d(8, 3, 1)

        def forward(self, x):
            y = torch.relu(self.c1(x))
            n, c, h, w = y.shape
            y = (y.reshape(n, 2, c // 2, h, w) * 2.0).reshape(n, c, h, w)
            return self.c2(y[:, :, :, torch.arange(w - 1, -1, -1)])

    torch.manual_seed(0)
    return _convert(GatherRank5(), torch.rand(1, 4, 16, 16), tmp_path_factory.mktemp("dev") / "gather_rank5.tflite")


@pytest.fixture(scope="session")
def dynamic_file(tmp_path_factory):
    """RGB in, depth out, with dynamic height and width (1x?x?x3)."""
    import torch
    import torch.nn as nn

    class Depthish(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1 = nn.Conv2d(3, 8, 3, padding=1)
            self.c2 = nn.Conv2d(8, 1, 3, padding=1)

        def forward(self, x):
            return 0.5 + 10.0 * torch.sigmoid(self.c2(torch.relu(self.c1(x) / 255.0)))

    torch.manual_seed(1)
    return _convert(Depthish(), torch.rand(1, 3, 24, 32), tmp_path_factory.mktemp("dev") / "dynamic.tflite", dynamic_hw=True)
