"""The demo's text leaderboard and scatter: ranks per device, labels that do not overlap."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pytest
from matplotlib.text import Text

from maikit.leaderboard import Entry, device_groups, paper_entries, scatter_figure
from maikit.tasks import DEPTH, ISP


def _measured(task):
    """Two rows of this CPU as the demo makes them: an FP32 and an INT8 file of one model,
    the same fidelity, runtimes 10% apart (their labels fell on each other)."""
    if task is ISP:
        return [Entry("maikit isp/smallnet FP32", 23.0, {"psnr": 22.81, "ssim": 0.79}, 40.0, 26.0, "measured", "this CPU"),
                Entry("maikit isp/smallnet INT8", 11.0, {"psnr": 22.80, "ssim": 0.79}, 36.0, 26.1, "measured", "this CPU")]
    return [Entry("maikit depth/aiia_hit FP32", 1660.0, {"si_rmse": 0.42}, 1.3, 1520.0, "measured", "this CPU"),
            Entry("maikit depth/aiia_hit INT8", 660.0, {"si_rmse": 0.42}, 1.2, 1489.81, "measured", "this CPU")]


@pytest.mark.parametrize("task", [ISP, DEPTH], ids=["isp", "depth"])
def test_scatter_labels_do_not_overlap(task):
    entries = paper_entries(task) + _measured(task)
    fig = scatter_figure(entries, task)
    try:
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        (ax,) = fig.axes
        frame = ax.get_window_extent(renderer)
        # the text's own box (an annotation's extent includes the line drawn to a moved label)
        boxes = {t.get_text(): Text.get_window_extent(t, renderer) for t in ax.texts}
        assert set(boxes) == {e.name for e in entries}
        names = sorted(boxes)
        for i, a in enumerate(names):
            assert frame.x0 <= boxes[a].x0 and boxes[a].x1 <= frame.x1 and frame.y0 <= boxes[a].y0 <= boxes[a].y1 <= frame.y1, a
            for b in names[i + 1:]:
                assert not boxes[a].overlaps(boxes[b]), (a, b)
    finally:
        plt.close(fig)


def test_rows_rank_only_against_the_same_device():
    """Issue 28: an INT8 depth row at 1.2 ms on this CPU ranked 1st with 1489.81 above every
    Raspberry Pi 4 row of the report. Each device's rows rank among themselves."""
    entries = paper_entries(DEPTH) + _measured(DEPTH)
    groups = dict(device_groups(entries, DEPTH))
    assert list(groups) == ["this CPU", "RPi 4 (paper)"]
    assert [e.name for e in groups["this CPU"]] == ["maikit depth/aiia_hit FP32", "maikit depth/aiia_hit INT8"]
    by_score = [e.name for e in sorted(paper_entries(DEPTH), key=lambda e: -e.score)]
    assert [e.name for e in groups["RPi 4 (paper)"]] == by_score
