"""One training step of isp/smallnet through maikit's Trainer, the gradients it applied saved
to ``OUT/grads-<rank>.pt``: run by tests/train/test_ddp.py under ``torchrun`` (two gloo
processes, one sample each) and in the test's own process (one process, both samples)."""

from __future__ import annotations

import sys
from pathlib import Path


def one_step_grads(data: str, out: str, batch: int) -> Path:
    import torch

    from maikit.train import TrainConfig
    from maikit.train.loop import Trainer

    cfg = TrainConfig(task="isp", model="smallnet", data=data, out=str(Path(out) / "run"), steps=1, batch=batch,
                      patch=16, recipe="fast", val_every=1, device="cpu")
    trainer = Trainer(cfg, progress=False)
    trainer.run()
    # the optimiser step leaves the gradients it used in place (they are cleared before the next backward)
    grads = {name: p.grad.detach().clone() for name, p in trainer.model.named_parameters()}
    path = Path(out) / f"grads-{trainer.dist.rank}.pt"
    torch.save(grads, path)
    trainer.dist.close()
    return path


if __name__ == "__main__":
    one_step_grads(sys.argv[1], sys.argv[2], int(sys.argv[3]))
