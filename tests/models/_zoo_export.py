"""Shared by the zoo conversion tests: each zoo model through ``export_model`` once per session."""

from __future__ import annotations

from typing import Callable

import torch


def session_exporter(tmp_path_factory, build: Callable[[str], torch.nn.Module], **export_kw):
    """``export(name)``: ``build(name)`` (the model the test compares against, built with seed 0)
    and what ``export_model`` wrote for the zoo name (its folder, its record), made once per
    session (the tests of one model run on one pytest-xdist worker)."""
    from maikit.export import export_model

    done: dict[str, tuple] = {}

    def export(name: str):
        if name not in done:
            model = build(name)
            out = tmp_path_factory.mktemp(name.replace("/", "-"))
            torch.manual_seed(0)  # the exporter builds the zoo model itself: the same weights as build's
            done[name] = (model, out, export_model(name, out, **export_kw))
        return done[name]

    return export
