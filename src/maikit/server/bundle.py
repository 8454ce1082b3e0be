"""The testing phase's parts beside the model: the starting kit a challenge hands out, what a
phase's final bundle must hold (a code archive, a factsheet), and the factsheet itself.

In the challenge definition (docs/challenge-yaml.md)::

    kit:                             # downloads for signed-in participants
      folder: kit                    # the only folder they are served from (relative: to the YAML)
      guideline: true                # list the optimisation guideline generated for protocol.target
      files:
        - path: train.zip            # inside folder
          title: Training data
          kind: training             # training | validation-inputs | starter | other
          phases: [validation]       # optional: listed in these phases only (default: all)
          sha256: ...                # optional: checked when the challenge is saved (else filled in)
    phases:
      - slug: testing
        bundle:                      # what an upload must carry beside the .tflite file(s)
          code: required             # required | optional | none (the default)
          factsheet: required        # required | optional | none
          code_cap_mb: 50

The factsheet itself is :mod:`maikit.server.factsheet`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from maikit.archive import unsafe_name

GUIDELINE_NAME = "optimisation-guideline-{target}.md"  # the generated guideline's name in a kit listing
SHA256 = r"^[0-9a-f]{64}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --------------------------------------------------------------------------------------
# The starting kit and the bundle a phase requires


class KitFile(_Strict):
    path: str = Field(min_length=1, max_length=300)
    title: str | None = Field(None, max_length=200)
    kind: Literal["training", "validation-inputs", "starter", "other"] = "other"
    phases: list[str] | None = None
    # filled in by the server when the challenge is saved (a given sha256 is checked against the file)
    sha256: str | None = Field(None, pattern=SHA256)
    size_bytes: int | None = Field(None, ge=0)

    @field_validator("path")
    @classmethod
    def _inside(cls, v: str) -> str:
        why = unsafe_name(v)
        if why:
            raise ValueError(f"must be a relative path inside the kit folder, without '..' (got {v[:100]!r})")
        if v.startswith("optimisation-guideline-"):
            raise ValueError("names starting with 'optimisation-guideline-' are the generated guideline's")
        return v.replace("\\", "/")


class Kit(_Strict):
    folder: str = Field(min_length=1)
    guideline: bool = True
    files: list[KitFile] = []

    @model_validator(mode="after")
    def _unique(self) -> "Kit":
        paths = [f.path for f in self.files]
        dup = sorted({p for p in paths if paths.count(p) > 1})
        if dup:
            raise ValueError(f"kit file paths must be unique, repeated: {', '.join(dup)}")
        return self


class BundleDef(_Strict):
    code: Literal["required", "optional", "none"] = "none"
    factsheet: Literal["required", "optional", "none"] = "none"
    code_cap_mb: float = Field(50.0, gt=0, le=2000)

    @property
    def any(self) -> bool:
        return self.code != "none" or self.factsheet != "none"


def kit_problems(kit: Kit | None, phase_slugs: list[str], data_paths: list[str | None]) -> list[str]:
    """What is wrong between the kit and the rest of the definition: phases it names that do not
    exist, a kit folder that holds or lies inside the hidden reference data."""
    if kit is None:
        return []
    out = []
    for i, f in enumerate(kit.files):
        unknown = [p for p in f.phases or [] if p not in phase_slugs]
        if unknown:
            out.append(f"kit.files[{i}].phases: no phase {', '.join(map(repr, unknown))} in this challenge")
    folder = Path(kit.folder)
    if folder.is_absolute():
        for data in filter(None, data_paths):
            if Path(data).is_absolute() and (within(folder, Path(data)) or within(Path(data), folder)):
                out.append(f"kit.folder: {kit.folder} overlaps the hidden reference data {data}; "
                           "the kit must be a folder of its own")
    return out


def within(inner: Path, outer: Path) -> bool:
    """Whether ``inner`` is ``outer`` or lies inside it (paths as given: resolve them first)."""
    try:
        inner.relative_to(outer)
        return True
    except ValueError:
        return False


def resolve_kit_file(folder: str, path: str, splits: list[str | None]) -> Path:
    """The real path of a kit file: inside the kit folder and outside the reference splits once
    links are resolved, and a regular file (ValueError with the reason otherwise)."""
    if not Path(folder).is_absolute():
        raise ValueError(f"kit.folder must be an absolute path on the server, got {folder!r} "
                         "(mai challenge create makes it so)")
    real_folder = Path(folder).resolve()
    real = (real_folder / path).resolve()
    for data in filter(None, splits):
        if within(real, Path(data).resolve()):
            raise ValueError(f"kit file {path!r} lies inside the hidden reference data")
    if not within(real, real_folder):
        raise ValueError(f"kit file {path!r} resolves outside the kit folder (a link?)")
    if not real.is_file():
        raise ValueError(f"kit file {path!r} is not a file in {folder}")
    return real


def kit_file_problems(kit: Kit | None, splits: list[str | None]) -> list[str]:
    """Each declared kit file that could not be served from here, one line naming it (run
    where the kit is: ``mai challenge check`` next to the file, the server when it checks)."""
    out = []
    for i, f in enumerate(kit.files if kit is not None and Path(kit.folder).is_absolute() else []):
        try:
            resolve_kit_file(kit.folder, f.path, splits)
        except ValueError as e:
            out.append(f"kit.files[{i}]: {e}")
    return out
