"""The charts' geometry against independent references (NumPy's histogram; the scatter's
ordering and Pareto polyline by hand)."""

from __future__ import annotations

import numpy as np

from maikit.server.web.charts import histogram, scatter


def test_histogram_counts_match_numpy():
    rng = np.random.default_rng(3)
    samples = list(rng.normal(10.0, 0.5, 200))
    h = histogram(samples, bins=12)
    ref, _edges = np.histogram(samples, bins=12)
    got = [int(title.split(" ")[0]) for *_xywh, title in h.bars]
    assert got == ref.tolist() and h.n == 200
    heights = [b[3] for b in h.bars]
    assert heights[int(np.argmax(ref))] == max(heights)


def test_scatter_puts_better_points_higher_and_draws_the_front_left_to_right():
    rows = [{"rank": 1, "team": "a", "submission_id": 1, "psnr": 24.0, "runtime_ms": 50.0, "pareto": True},
            {"rank": 2, "team": "b", "submission_id": 2, "psnr": 23.0, "runtime_ms": 20.0, "pareto": True},
            {"rank": 3, "team": "c", "submission_id": 3, "psnr": 22.0, "runtime_ms": 60.0, "pareto": False}]
    sc = scatter(rows, "psnr", "PSNR", True, {2})
    by = {p.href: p for p in sc.points}
    assert by["#row-1"].y < by["#row-2"].y < by["#row-3"].y  # SVG y grows downwards
    assert by["#row-2"].x < by["#row-1"].x < by["#row-3"].x
    assert sc.front == f"{by['#row-2'].x},{by['#row-2'].y} {by['#row-1'].x},{by['#row-1'].y}"
    assert by["#row-2"].own and not by["#row-1"].own
    # lower-is-better metrics (si-RMSE) are drawn with the better value up too
    low = scatter([dict(r, psnr=r["psnr"] / 100) for r in rows], "psnr", "si-RMSE", False, set())
    ys = {p.href: p.y for p in low.points}
    assert ys["#row-3"] < ys["#row-2"] < ys["#row-1"]


def test_tick_labels_carry_the_digits_their_step_needs():
    from maikit.server.web.charts import _ticks

    assert [label for _v, label in _ticks(260, 370)] == ["275", "300", "325", "350"]
    assert [label for _v, label in _ticks(20, 31)] == ["20.0", "22.5", "25.0", "27.5", "30.0"]
    assert [label for _v, label in _ticks(10.4310, 10.4326)] == ["10.4310", "10.4315", "10.4320", "10.4325"]
