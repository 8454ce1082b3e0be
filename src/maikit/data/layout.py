"""Dataset layout: where the splits are and which input goes with which target.

Both tasks store data as ``ROOT/<split>/<input_dir>/<name>.png`` and
``ROOT/<split>/<target_dir>/<name>.png`` (docs/references.md#isp-data, #depth-data); the folder names come from the
:class:`~maikit.taskspec.TaskSpec` (``mediatek_raw``/``fujifilm`` for ISP, ``rgb``/``depth`` for
depth). A path given by the user may be a split folder or a dataset root; this module
resolves either, and pairs files by name. Nothing here reads image contents.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from maikit.errors import MaikitError
from maikit.io import list_pngs, natural_key
from maikit.taskspec import SPECS, TaskSpec


@dataclass(frozen=True)
class Pair:
    """One input file and its target, sharing ``name`` (the file name, e.g. ``12.png``)."""

    name: str
    input_path: Path
    target_path: Path


@dataclass
class Pairing:
    """Result of matching a split's input and target folders by file name."""

    split_dir: Path
    pairs: list[Pair] = field(default_factory=list)
    inputs_without_target: list[Path] = field(default_factory=list)
    targets_without_input: list[Path] = field(default_factory=list)
    has_input_dir: bool = True
    has_target_dir: bool = True

    @property
    def unpaired(self) -> list[Path]:
        return self.inputs_without_target + self.targets_without_input


def _known_split_names(task: TaskSpec) -> tuple[str, ...]:
    return task.train_splits + task.val_splits + task.test_splits


def is_split_dir(path: Path, task: TaskSpec) -> bool:
    """A split folder holds the task's input folder, its target folder, or both."""
    return (path / task.input_dir).is_dir() or (path / task.target_dir).is_dir()


def _require_dir(path: Path) -> Path:
    path = Path(path)
    if not path.exists():
        raise MaikitError("folder not found", path)
    if not path.is_dir():
        raise MaikitError("not a folder", path)
    return path


def resolve_splits(path: str | Path, task: TaskSpec) -> dict[str, Path]:
    """Map split name -> split folder for ``path`` (a split folder or a dataset root).

    A split folder maps to ``{its own name: path}``. For a root, every sub-folder that is a
    split folder is returned, the task's known split names (train, val/validation, test)
    first, then any other names in natural order.
    """
    path = _require_dir(Path(path))
    if is_split_dir(path, task):
        return {path.name: path}
    subdirs = [p for p in path.iterdir() if p.is_dir() and is_split_dir(p, task)]
    known = _known_split_names(task)
    subdirs.sort(key=lambda p: (known.index(p.name) if p.name in known else len(known), natural_key(p.name)))
    if not subdirs:
        raise MaikitError(
            f"no {task.name} data here: expected {task.input_dir}/ and {task.target_dir}/ folders, "
            f"or split folders ({', '.join(known)}) holding them",
            path,
        )
    return {p.name: p for p in subdirs}


def detect_task(path: str | Path) -> TaskSpec:
    """The task (its specification) whose official layout ``path`` (a dataset root or a split folder) follows.

    MaikitError naming ``path`` when it is missing, or when the folder names fit no task or
    both.
    """
    found = []
    for task in SPECS.values():
        try:
            resolve_splits(path, task)
            found.append(task)
        except MaikitError as e:
            if e.reason in ("folder not found", "not a folder"):
                raise
    if len(found) != 1:
        raise MaikitError("cannot tell the task from the folder names; pass `--task isp` or `--task depth`", path)
    return found[0]


def resolve_split(root: str | Path, task: TaskSpec, split: str) -> Path:
    """The folder of one named split under ``root`` (``val`` also finds ``validation``).

    ``root`` may also be the split folder itself. Raises MaikitError when it is absent.
    """
    root = _require_dir(Path(root))
    if is_split_dir(root, task):
        return root
    aliases = {name: group for group in (task.train_splits, task.val_splits, task.test_splits) for name in group}
    candidates = aliases.get(split, (split,))
    for name in candidates:
        if is_split_dir(root / name, task):
            return root / name
    raise MaikitError(
        f"no `{split}` split here (looked for {' or '.join(c + '/' for c in candidates)} "
        f"holding {task.input_dir}/ and {task.target_dir}/)",
        root,
    )


def pair_files(split_dir: str | Path, task: TaskSpec) -> Pairing:
    """Match ``<input_dir>/*.png`` with ``<target_dir>/*.png`` by file name (natural order).

    Missing folders are tolerated (recorded in ``has_input_dir``/``has_target_dir``) so a
    checker can report them; use :func:`find_pairs` for a strict list.
    """
    split_dir = _require_dir(Path(split_dir))
    in_dir, tgt_dir = split_dir / task.input_dir, split_dir / task.target_dir
    inputs = list_pngs(in_dir) if in_dir.is_dir() else {}
    targets = list_pngs(tgt_dir) if tgt_dir.is_dir() else {}
    pairing = Pairing(split_dir, has_input_dir=in_dir.is_dir(), has_target_dir=tgt_dir.is_dir())
    for name, path in inputs.items():
        if name in targets:
            pairing.pairs.append(Pair(name, path, targets[name]))
        else:
            pairing.inputs_without_target.append(path)
    pairing.targets_without_input = [p for n, p in targets.items() if n not in inputs]
    return pairing


def find_pairs(split_dir: str | Path, task: TaskSpec, strict: bool = True) -> list[Pair]:
    """The input/target pairs of one split folder, in natural file-name order.

    With ``strict`` (default) an unpaired file or an empty split raises MaikitError naming
    the first offending file and the count; otherwise unpaired files are skipped.
    """
    pairing = pair_files(split_dir, task)
    for present, sub in ((pairing.has_input_dir, task.input_dir), (pairing.has_target_dir, task.target_dir)):
        if not present:
            raise MaikitError(f"missing `{sub}/` folder", pairing.split_dir)
    if strict and pairing.unpaired:
        first = pairing.unpaired[0]
        partner = task.target_dir if first.parent.name == task.input_dir else task.input_dir
        raise MaikitError(
            f"no partner in {partner}/ ({len(pairing.unpaired)} unpaired file(s) in this split; "
            f"run `mai data check` for the full list)",
            first,
        )
    if not pairing.pairs:
        raise MaikitError(f"no paired PNG files in {task.input_dir}/ and {task.target_dir}/", pairing.split_dir)
    return pairing.pairs
