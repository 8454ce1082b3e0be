"""Shared recipe helper for the ISP zoo: the CPU-friendly ``fast`` recipe.

The fast recipe keeps a team's pixel/structure losses, drops the VGG-19 perceptual term
(no pretrained weights ship offline, docs/references.md#lowering, and it is slow on CPU), and trains a few
thousand steps at batch 8 with a somewhat higher learning rate on 128×128 packed patches.
"""

from __future__ import annotations

from maikit.models.recipe import Recipe, terms


def fast_recipe(*pairs: tuple[str, float], lr: float = 5e-4, batch_size: int = 8, steps: int = 3000,
                notes: str = "") -> Recipe:
    """A fast recipe from ``(loss, weight)`` pairs; VGG terms are refused here by design."""
    if any(name.startswith("vgg") for name, _ in pairs):
        raise ValueError("fast recipes must not use the VGG perceptual loss")
    return Recipe(losses=terms(*pairs), optimizer="adam", lr=lr, lr_final=lr / 10, schedule="cosine",
                  batch_size=batch_size, steps=steps, augment=("flip", "rot90"),
                  notes=notes or "CPU-friendly variant of the paper recipe (no VGG term)")
