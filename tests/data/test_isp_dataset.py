"""IspDataset: item contract, laziness, determinism, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import maikit.io
from maikit.data.isp import IspDataset, IspRawDataset
from maikit.errors import MaikitError
from maikit.tasks import MAI22_4096


def test_item_shapes_dtypes_ranges(isp_root):
    ds = IspDataset(isp_root / "train")
    assert len(ds) == 4 and ds.names == ["0.png", "1.png", "2.png", "3.png"]
    x, y = ds[0]
    assert x.dtype == torch.float32 and y.dtype == torch.float32
    assert x.shape == (4, 8, 12) and y.shape == (3, 16, 24)
    assert 0 <= float(y.min()) and float(y.max()) <= 1
    raw = maikit.io.read_png(isp_root / "train" / "mediatek_raw" / "0.png").astype(np.float32)
    # mai21: channel 2 is R = raw[0::2, 0::2], divided by 1020
    np.testing.assert_allclose(x[2].numpy(), raw[0::2, 0::2] / 1020, rtol=1e-6)
    xp, yp = IspDataset(isp_root / "train", patch=4)[1]
    assert xp.shape == (4, 4, 4) and yp.shape == (3, 8, 8)


def test_other_convention(isp_root):
    x, _ = IspDataset(isp_root / "train", convention=MAI22_4096)[0]
    raw = maikit.io.read_png(isp_root / "train" / "mediatek_raw" / "0.png").astype(np.float32)
    np.testing.assert_allclose(x[0].numpy(), raw[0::2, 0::2] / 4096, rtol=1e-6)


def test_construction_reads_no_image(isp_root, monkeypatch):
    calls = []
    real = maikit.io.read_png
    monkeypatch.setattr(maikit.io, "read_png", lambda p: calls.append(p) or real(p))
    ds = IspDataset(isp_root / "train", patch=4, augment=True)
    assert calls == []
    ds[2]
    assert sorted(str(p).split("/")[-2] for p in calls) == ["fujifilm", "mediatek_raw"]


def test_seeded_determinism(isp_root):
    def items(seed, epoch):
        ds = IspDataset(isp_root / "train", patch=4, augment=True, seed=seed)
        ds.set_epoch(epoch)
        return [torch.cat([a.flatten() for a in ds[i]]) for i in range(len(ds))]

    a, b = items(0, 0), items(0, 0)
    assert all(torch.equal(u, v) for u, v in zip(a, b))
    assert not all(torch.equal(u, v) for u, v in zip(a, items(1, 0)))
    assert not all(torch.equal(u, v) for u, v in zip(a, items(0, 1)))


def test_batches_through_dataloader(isp_root):
    loader = torch.utils.data.DataLoader(IspDataset(isp_root / "train", patch=4, augment=True), batch_size=2)
    x, y = next(iter(loader))
    assert x.shape == (2, 4, 4, 4) and y.shape == (2, 3, 8, 8)


def test_natural_order_and_files_argument(tmp_path, isp_root, png_writer):
    for name in ("10.png", "2.png"):
        png_writer(tmp_path / "s" / "mediatek_raw" / name, np.zeros((4, 4), np.uint16))
        png_writer(tmp_path / "s" / "fujifilm" / name, np.zeros((4, 4, 3), np.uint8))
    assert IspDataset(tmp_path / "s").names == ["2.png", "10.png"]
    split = isp_root / "val"
    ds = IspDataset(files=[(split / "mediatek_raw" / "1.png", split / "fujifilm" / "1.png")])
    assert ds.names == ["1.png"] and ds[0][1].shape == (3, 16, 24)


def test_errors_name_the_file(tmp_path, isp_root, png_writer):
    with pytest.raises(MaikitError, match="larger than the packed frame") as e:
        IspDataset(isp_root / "train", patch=64)[0]
    assert e.value.file.endswith("0.png")

    png_writer(isp_root / "train" / "fujifilm" / "0.png", np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(MaikitError, match="does not match") as e:
        IspDataset(isp_root / "train")[0]
    assert e.value.file.endswith("fujifilm/0.png")

    (isp_root / "train" / "fujifilm" / "3.png").unlink()
    with pytest.raises(MaikitError, match="no partner in fujifilm") as e:
        IspDataset(isp_root / "train")
    assert e.value.file.endswith("mediatek_raw/3.png")

    with pytest.raises(MaikitError, match="folder not found"):
        IspDataset(tmp_path / "nowhere")


def test_raw_only_dataset(isp_root):
    ds = IspRawDataset(isp_root / "val")
    x, name = ds[1]
    assert name == "1.png" and x.shape == (4, 8, 12) and ds.names == ["0.png", "1.png"]
