"""Dataset validation: the file rules of each task and ``check_dataset``.

This module owns what a valid file is (docs/references.md#isp-data, #depth-data):

* ISP input: single-channel uint16 PNG, even height and width, values within the RAW
  convention's bit depth (10-bit, max 1023, for every preset);
* ISP target: uint8 3-channel PNG of the RAW's size (= 2x the packed RAW);
* depth input: uint8 3-channel 480x640; depth target: uint16 single-channel 480x640 (mm).

Readers (``isp.read_raw``, the datasets) apply the same rules and raise on the first broken
rule; :func:`check_dataset` reads every file once and lists every problem. It stays free
of torch so ``mai data check`` starts fast.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from maikit import io as mio
from maikit.data.layout import pair_files, resolve_splits
from maikit.errors import MaikitError
from maikit.taskspec import ISP, RawConvention, TaskSpec


@dataclass(frozen=True)
class Problem:
    file: str
    reason: str


@dataclass
class CheckReport:
    """``pairs``: complete pairs over all splits; ``problems``: every problem found;
    ``splits``: per split name ``{"path", "pairs", "inputs", "targets", "problems"}``."""

    pairs: int
    problems: list[Problem] = field(default_factory=list)
    splits: dict[str, dict] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict:
        return {
            "pairs": self.pairs,
            "problems": [{"file": p.file, "reason": p.reason} for p in self.problems],
            "splits": self.splits,
        }


# --------------------------------------------------------------------------------------
# File rules (pure functions on decoded arrays)
# --------------------------------------------------------------------------------------
def _describe(img: np.ndarray) -> str:
    channels = 1 if img.ndim == 2 else img.shape[2]
    return f"{img.dtype} {channels}-channel"


def _format_problems(img: np.ndarray, dtype: str, channels: int, what: str) -> list[str]:
    got_channels = 1 if img.ndim == 2 else img.shape[2]
    if str(img.dtype) != dtype or got_channels != channels:
        return [f"expected {what} as {dtype} {channels}-channel PNG, got {_describe(img)}"]
    return []


def raw_problems(raw: np.ndarray, convention: RawConvention = ISP.raw_convention) -> list[str]:
    """Problems of a decoded ISP RAW frame (empty list when valid)."""
    problems = _format_problems(raw, ISP.input_file_dtype, ISP.input_file_channels, "RAW Bayer")
    if raw.ndim == 2 and (raw.shape[0] % 2 or raw.shape[1] % 2):
        problems.append(f"RAW size {raw.shape[0]}x{raw.shape[1]} is odd (height and width must be even)")
    if not problems and raw.size:
        peak = int(raw.max())
        if peak > convention.max_value:
            problems.append(
                f"RAW value {peak} exceeds {convention.bit_depth}-bit range (max {convention.max_value})"
            )
    return problems


def _fixed_hw(task: TaskSpec) -> tuple[int, int] | None:
    # Depth frames have one size everywhere (the latency shape is the frame size); ISP
    # files come as patches or full-resolution frames of any even size.
    if task.latency_input_shape == task.full_res_input_shape:
        return tuple(task.full_res_input_shape[1:3])
    return None


def _fixed_size_problems(img: np.ndarray, task: TaskSpec) -> list[str]:
    hw = _fixed_hw(task)
    if hw and img.shape[:2] != hw:
        return [f"size {img.shape[0]}x{img.shape[1]}, expected {hw[0]}x{hw[1]}"]
    return []


def input_problems(img: np.ndarray, task: TaskSpec, convention: RawConvention = ISP.raw_convention) -> list[str]:
    """Problems of a decoded input file of ``task``."""
    if task.raw_convention is not None:  # RAW Bayer input: the convention's bit depth applies
        return raw_problems(img, task.convention(convention))
    problems = _format_problems(img, task.input_file_dtype, task.input_file_channels, f"{task.input_dir} image")
    return problems + _fixed_size_problems(img, task)


def target_problems(img: np.ndarray, task: TaskSpec, input_hw: tuple[int, int] | None = None) -> list[str]:
    """Problems of a decoded target file; ``input_hw`` (the partner's size) enables the size check."""
    problems = _format_problems(img, task.target_file_dtype, task.target_file_channels, f"{task.target_dir} target")
    if _fixed_hw(task):
        problems += _fixed_size_problems(img, task)
    elif input_hw is not None and img.shape[:2] != tuple(input_hw):
        # In file terms both tasks keep one pixel grid: the ISP RGB is 2x the packed RAW,
        # i.e. the RAW file's own height and width.
        problems.append(
            f"size {img.shape[0]}x{img.shape[1]} does not match its {task.input_dir} partner "
            f"({input_hw[0]}x{input_hw[1]})"
        )
    return problems


# --------------------------------------------------------------------------------------
# Whole-dataset check
# --------------------------------------------------------------------------------------
def check_dataset(
    path: str | Path,
    task: TaskSpec,
    convention: RawConvention = ISP.raw_convention,
    progress: Callable[[int, int], None] | None = None,
) -> CheckReport:
    """Read every PNG of a split folder or dataset root once and list every problem.

    Checks: readable complete PNG, dtype and channels, RAW bit depth (per ``convention``),
    sizes (ISP: even RAW, RGB = RAW size; depth: 480x640), and a partner for every file.
    A missing folder, or one without any PNG, raises MaikitError. ``progress(done, total)``
    is called after each file.
    """
    splits = resolve_splits(path, task)
    pairings = {name: pair_files(d, task) for name, d in splits.items()}
    total = sum(2 * len(p.pairs) + len(p.unpaired) for p in pairings.values())
    if total == 0:
        raise MaikitError(f"empty dataset: no PNG files in {task.input_dir}/ or {task.target_dir}/", path)

    report = CheckReport(pairs=0)
    done = 0

    def read(file: Path) -> np.ndarray | None:
        nonlocal done
        try:
            return mio.read_png(file)
        except MaikitError as e:
            report.problems.append(Problem(str(file), e.reason))
            return None
        finally:
            done += 1
            if progress is not None:
                progress(done, total)

    def add(file: Path, reasons: list[str]) -> int:
        report.problems.extend(Problem(str(file), r) for r in reasons)
        return len(reasons)

    for name, pairing in pairings.items():
        before = len(report.problems)
        input_only = not pairing.has_target_dir and name in task.test_splits
        for sub, present in ((task.input_dir, pairing.has_input_dir), (task.target_dir, pairing.has_target_dir)):
            if not present and not (sub == task.target_dir and input_only):
                add(pairing.split_dir / sub, [f"missing `{sub}/` folder"])
        if pairing.has_input_dir and pairing.has_target_dir and not (pairing.pairs or pairing.unpaired):
            add(pairing.split_dir, ["empty split: no PNG files"])
        for pair in pairing.pairs:
            raw = read(pair.input_path)
            if raw is not None:
                add(pair.input_path, input_problems(raw, task, convention))
            tgt = read(pair.target_path)
            if tgt is not None:
                add(pair.target_path, target_problems(tgt, task, None if raw is None else raw.shape[:2]))
        for file in pairing.inputs_without_target:
            img = read(file)
            if img is not None:
                add(file, input_problems(img, task, convention))
            if not input_only:
                add(file, [f"missing partner: no {task.target_dir}/{file.name}"])
        for file in pairing.targets_without_input:
            img = read(file)
            if img is not None:
                add(file, target_problems(img, task))
            add(file, [f"missing partner: no {task.input_dir}/{file.name}"])
        report.pairs += len(pairing.pairs)
        report.splits[name] = {
            "path": str(pairing.split_dir),
            "pairs": len(pairing.pairs),
            "inputs": len(pairing.pairs) + len(pairing.inputs_without_target),
            "targets": len(pairing.pairs) + len(pairing.targets_without_input),
            "problems": len(report.problems) - before,
        }
    return report
