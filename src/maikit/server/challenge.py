"""The challenge definition file (YAML): fields, defaults and one clear error per bad field.

::

    slug: demo-isp
    title: Learned smartphone ISP (demo)
    task: isp                      # isp | depth
    description: Markdown text
    data:                          # reference splits (docs/challenge-yaml.md#data)
      validation: data/isp/val     # relative paths are relative to the YAML file
      test: data/isp-test/val
    convention: mai21              # ISP RAW convention of the reference data
    upload_cap_mb: 50
    protocol:                      # runtime measurement (maikit.runtime's loop)
      device: litert-cpu           # device tag a worker must serve
      target: cpu                  # op-compatibility findings checked at upload (cpu|gpu|npu)
      threads: 2
      warmup_runs: 1
      warmup_seconds: 0.5
      min_runs: 50
      min_seconds: 1.0
      max_seconds: 150.0
      statistic: avg               # avg (as AI Benchmark) | p50 | p90 | min
      statistic_basis: wall        # wall | cpu: what the score reads (cpu: the inference thread's CPU
                                   #   time, for shared cloud workers; wall time is stored and shown too)
      input_shape: [1, 544, 960, 4]  # NHWC shape every runtime is timed at (default: the task's official one)
      drift:                       # optional: the phase's drift control on device workers (else each
        tolerance: 0.10            #   worker's own --drift-tolerance/--cv-tolerance/--max-attempts):
        cv_tolerance: 0.10         #   reference drift and sample CV allowed, attempts at most
        max_attempts: 3
    score: official                # the task's formula (maikit.scoring)
    leaderboard:                   # columns (Table 1 by default)
      - {key: psnr, title: PSNR, sort: desc, precision: 2}
    phases:
      - slug: validation
        kind: validation           # development | validation | test
        start: 2021-03-01T00:00:00+00:00   # ISO 8601 with a time zone
        end: 2021-03-21T23:59:59+00:00
        max_submissions_per_day: 5
        max_submissions: 100
        max_failed_per_day: 20
        execution_time_limit_s: 600
        visibility: public         # public | private | hidden-until-published
        ranking: best              # best | last | selected
        bundle: {code: required, factsheet: required}   # optional: the final bundle (maikit.server.bundle)
    kit: {folder: kit, files: [{path: train.zip}]}   # optional: the starting kit (maikit.server.bundle)

Every field, its default and allowed values: ``docs/challenge-yaml.md``. A file passes
three checks: the model below (types, ranges, one error per field), :func:`semantic_problems`
(what a field means for the task and the other fields: leaderboard columns the task has, a
daily limit within the total) and, where the reference data is read, :func:`data_problems`
(the split folders exist and hold the task's folders) and :func:`outside_root`.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from maikit.errors import MaikitError
from maikit.server.bundle import BundleDef, Kit, kit_file_problems, kit_problems

SLUG = r"^[a-z0-9][a-z0-9-]{0,62}$"
STATISTICS = {"avg": "avg_ms", "p50": "p50_ms", "p90": "p90_ms", "min": "min_ms"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Drift(_Strict):
    """The phase's drift control (:class:`maikit.runtime.drift.DriftPolicy`): how far the
    reference may drift from its calibrated time and how noisy a measurement may be before it
    is repeated, and how often at most."""

    tolerance: float = Field(0.10, gt=0, le=10)
    cv_tolerance: float = Field(0.10, gt=0, le=10)
    max_attempts: int = Field(3, ge=1, le=20)


# the database's column lengths for what a definition names (maikit.server.db.models: a test
# keeps them equal): longer is refused here, naming the field, not by the database
TITLE_MAX, DEVICE_TAG_MAX = 200, 64


class Protocol(_Strict):
    device: str = Field("litert-cpu", max_length=DEVICE_TAG_MAX)
    target: Literal["cpu", "gpu", "npu"] = "cpu"
    threads: int = Field(2, ge=1, le=64)
    warmup_runs: int = Field(1, ge=0)
    warmup_seconds: float = Field(0.5, ge=0)
    min_runs: int = Field(50, ge=1)
    min_seconds: float = Field(1.0, ge=0)
    max_seconds: float = Field(150.0, gt=0)
    statistic: Literal["avg", "p50", "p90", "min"] = "avg"
    # what the score and the ranks read: the wall time per inference (as on a phone), or the
    # CPU time of the inference's thread (steadier on a shared cloud VM: docs/runtime-measurement.md);
    # both are measured, stored and shown either way
    statistic_basis: Literal["wall", "cpu"] = "wall"
    drift: Drift | None = None  # None: each device worker's own policy
    # the one input shape (NHWC) every runtime file is timed at; None: the task's official latency
    # shape (maikit.taskspec; the reports time every model there). A fixed file of another shape
    # is refused at preflight; a file with dynamic height/width is resized to it.
    input_shape: list[int] | None = None

    def timed_shape(self, task: str) -> list[int]:
        """The NHWC input shape runtimes are timed at in a challenge of ``task``."""
        from maikit.taskspec import SPECS

        return list(self.input_shape) if self.input_shape is not None else list(SPECS[task].latency_input_shape)

    @model_validator(mode="after")
    def _limits(self) -> "Protocol":
        if self.max_seconds < self.min_seconds:
            raise ValueError(f"max_seconds ({self.max_seconds}) is below min_seconds ({self.min_seconds})")
        if self.statistic_basis == "cpu" and self.target != "cpu":
            raise ValueError(f"statistic_basis cpu needs target cpu: on the {self.target} the inference's thread "
                             "waits for the accelerator, so its CPU time leaves out the work (use wall)")
        return self

    def bench_kwargs(self) -> dict:
        """Keyword arguments of :func:`maikit.runtime.benchmark_tflite`."""
        return {"threads": self.threads, "runs": self.min_runs, "min_seconds": self.min_seconds,
                "max_seconds": self.max_seconds, "warmup_runs": self.warmup_runs, "warmup_seconds": self.warmup_seconds}


class Column(_Strict):
    key: str
    title: str
    sort: Literal["asc", "desc"] = "desc"
    precision: int = Field(2, ge=0, le=10)


PHASE_KINDS = ("development", "validation", "test")


class PhaseDef(_Strict):
    slug: str = Field(pattern=SLUG)
    title: str | None = None
    # development: dates and words only (the reports' phase I: data and local tools, no
    # uploads); validation: uploads scored on the validation split; test: on the hidden one
    kind: Literal["development", "validation", "test"]
    start: datetime
    end: datetime
    max_submissions_per_day: int | None = Field(5, ge=0)
    max_submissions: int | None = Field(None, ge=0)
    max_failed_per_day: int | None = Field(20, ge=0)
    execution_time_limit_s: float = Field(600.0, gt=0)
    memory_limit_mb: int = Field(4096, ge=64)
    # how long a job may wait with no worker that can take it (none serving its device tag,
    # healthy and heard from within this time) before its submission fails as an
    # infrastructure failure (no quota used)
    worker_wait_limit_s: float = Field(3600.0, gt=0)
    visibility: Literal["public", "private", "hidden-until-published"] | None = None
    ranking: Literal["best", "last", "selected"] = "best"
    bundle: BundleDef = BundleDef()

    @field_validator("start", "end")
    @classmethod
    def _aware(cls, v: datetime) -> datetime:
        if v.tzinfo is None or v.utcoffset() is None:
            raise ValueError("needs a time zone (e.g. 2021-03-01T00:00:00+00:00 or ...Z)")
        return v

    @model_validator(mode="after")
    def _order(self) -> "PhaseDef":
        if self.end <= self.start:
            raise ValueError(f"end ({self.end.isoformat()}) is not after start ({self.start.isoformat()})")
        if self.visibility is None:
            self.visibility = "public" if self.kind == "validation" else "hidden-until-published"
        return self


class DataDef(_Strict):
    validation: str | None = None
    test: str | None = None


class ChallengeDef(_Strict):
    slug: str = Field(pattern=SLUG)
    title: str = Field(max_length=TITLE_MAX)
    task: Literal["isp", "depth"]
    description: str = ""
    data: DataDef = DataDef()
    convention: str | None = None
    upload_cap_mb: float = Field(50.0, gt=0)
    protocol: Protocol = Protocol()
    score: Literal["official"] = "official"
    leaderboard: list[Column] | None = None
    phases: list[PhaseDef] = Field(min_length=1)
    kit: Kit | None = None

    @model_validator(mode="after")
    def _defaults(self) -> "ChallengeDef":
        slugs = [p.slug for p in self.phases]
        dup = {s for s in slugs if slugs.count(s) > 1}
        if dup:
            raise ValueError(f"phase slugs must be unique, repeated: {', '.join(sorted(dup))}")
        if self.leaderboard is None:
            self.leaderboard = default_columns(self.task, self.protocol.statistic_basis)
        return self

    def phase(self, slug: str) -> PhaseDef:
        for p in self.phases:
            if p.slug == slug:
                return p
        raise KeyError(slug)

    def split_path(self, kind: str) -> str | None:
        return {"validation": self.data.validation, "test": self.data.test}.get(kind)


def default_columns(task: str, basis: str = "wall") -> list[Column]:
    """Table 1 of the reports: the task's metrics, runtime, score (team and size are always shown);
    a phase scored on CPU time (``statistic_basis: cpu``) shows it beside the wall time."""
    from maikit.taskspec import SPECS

    spec = SPECS[task]
    cols = [Column(key=m.name, title=m.title, sort="desc" if m.higher_is_better else "asc", precision=4) for m in spec.metrics]
    cols.append(Column(key="runtime_ms", title="Runtime, ms", sort="asc", precision=1))
    if basis == "cpu":
        cols.append(Column(key="cpu_ms", title="CPU time, ms", sort="asc", precision=1))
    return cols + [Column(key="score", title="Score (from CPU time)" if basis == "cpu" else "Score", sort="desc", precision=2)]


def column_keys(task: str) -> tuple[str, ...]:
    """The leaderboard columns a task's submissions have: its metrics, the runtime (wall time;
    ``cpu_ms``: the inference thread's CPU time), the score."""
    from maikit.taskspec import SPECS

    return (*SPECS[task].metric_names, "runtime_ms", "cpu_ms", "score")


def semantic_problems(c: ChallengeDef) -> list[str]:
    """What the model's types cannot say, one line each naming the field: a RAW convention the
    task does not have, leaderboard columns the task does not have (they would stay empty), a
    daily limit above the phase's total, a starting kit naming unknown phases or overlapping
    the reference data."""
    from maikit.taskspec import RAW_CONVENTIONS, SPECS

    problems = []
    if c.convention is not None:
        if SPECS[c.task].raw_convention is None:
            problems.append(f"convention: task {c.task} has no RAW input; leave it out")
        elif c.convention not in RAW_CONVENTIONS:
            problems.append(f"convention: {c.convention!r} is not a RAW convention ({', '.join(RAW_CONVENTIONS)})")
    shape = c.protocol.input_shape
    if shape is not None:
        channels = SPECS[c.task].latency_input_shape[3]
        if len(shape) != 4 or shape[0] != 1 or shape[3] != channels or min(shape) < 1:
            problems.append(f"protocol.input_shape: {shape} is not an input of task {c.task}: give [1, height, width, "
                            f"{channels}] (NHWC, batch 1, {channels} channels; the task's official shape is "
                            f"{list(SPECS[c.task].latency_input_shape)})")
    keys = column_keys(c.task)
    for i, col in enumerate(c.leaderboard or []):
        if col.key not in keys:
            problems.append(f"leaderboard[{i}].key: {col.key!r} is not a column of task {c.task} "
                            f"(its columns: {', '.join(keys)})")
    for i, ph in enumerate(c.phases):
        if ph.max_submissions_per_day is not None and ph.max_submissions is not None \
                and ph.max_submissions_per_day > ph.max_submissions:
            problems.append(f"phases[{i}].max_submissions_per_day: {ph.max_submissions_per_day} per day is above "
                            f"the phase's total max_submissions ({ph.max_submissions})")
    problems += kit_problems(c.kit, [p.slug for p in c.phases], [c.data.validation, c.data.test])
    return problems


def data_problems(c: ChallengeDef) -> list[str]:
    """Reference splits that are not there, one line each: a missing folder, or one without
    the task's input and target folders (``data.validation: ... does not exist``). Run it where
    the data is read (this machine for ``mai challenge check``, the server with ``--server``)."""
    from maikit.taskspec import SPECS

    spec = SPECS[c.task]
    problems = []
    for kind in ("validation", "test"):
        path = getattr(c.data, kind)
        if not path:
            continue
        folder = Path(path)
        if not folder.is_dir():
            problems.append(f"data.{kind}: {path} " + ("is not a folder" if folder.exists() else "does not exist"))
            continue
        for sub in (spec.input_dir, spec.target_dir):
            if not (folder / sub).is_dir():
                problems.append(f"data.{kind}: {path} has no {sub}/ folder (a reference split holds "
                                f"{spec.input_dir}/ and {spec.target_dir}/)")
                break
    return problems


def absolute(path: str, base: str | os.PathLike) -> str:
    """``path`` made absolute against ``base`` and normalised lexically: ``..`` and ``.`` are
    folded, symbolic links are left as they are (:func:`outside_root` explains why)."""
    return os.path.normpath(os.path.join(os.path.abspath(base), path))


def outside_root(path: str, root: str | os.PathLike) -> bool:
    """Whether a data path lies outside the reference data folder ``root``.

    The test is on the path's words, after ``..`` is folded: a path is inside when its
    components start with the root's. Symbolic links inside the root are followed when the
    data is read, since only the machine's operator can have put them there (an organiser
    writes the file, not the folder); a path that names ``..`` after a link is refused
    outright, because the folding cannot know where that lands."""
    if ".." in Path(path).parts:
        return True
    root_parts = Path(os.path.normpath(os.path.abspath(root))).parts
    parts = Path(os.path.normpath(path)).parts
    return not Path(path).is_absolute() or parts[:len(root_parts)] != root_parts


def _where(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _validated(obj: object, base_dir: str | os.PathLike | None) -> tuple[ChallengeDef | None, list[str]]:
    if not isinstance(obj, dict):
        return None, ["(top level): expected a mapping of challenge fields"]
    try:
        c = ChallengeDef.model_validate(obj)
    except ValidationError as e:
        return None, [f"{_where(err['loc'])}: {err['msg']}" for err in e.errors()]
    if base_dir is not None:
        for kind in ("validation", "test"):
            p = getattr(c.data, kind)
            if p and not Path(p).is_absolute():
                setattr(c.data, kind, absolute(p, base_dir))
        if c.kit is not None and not Path(c.kit.folder).is_absolute():
            c.kit.folder = absolute(c.kit.folder, base_dir)
    return c, semantic_problems(c)


def parse_challenge(obj: object, source: str = "challenge", base_dir: str | os.PathLike | None = None) -> ChallengeDef:
    """Validate a loaded YAML/JSON object; MaikitError names the first bad field and why.

    Relative data paths are made absolute against ``base_dir`` (:func:`absolute`).
    """
    c, problems = _validated(obj, base_dir)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise MaikitError(problems[0] + more, source)
    return c


def problems_of(obj: object, base_dir: str | os.PathLike | None = None) -> list[str]:
    """Every problem of a challenge object, one line each (empty when valid); with
    ``base_dir``, also its reference data and its kit's files as seen from there
    (:func:`data_problems`, :func:`~maikit.server.bundle.kit_file_problems`)."""
    c, problems = _validated(obj, base_dir)
    if c is not None and not problems and base_dir is not None:
        problems = data_problems(c) + kit_file_problems(c.kit, [c.data.validation, c.data.test])
    return problems


def _loader():
    """YAML's safe loader without its timestamp type: dates stay text, so a bad one (month
    13) is the date field's error, named by the model, not a bare ValueError while reading."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.yaml_implicit_resolvers = {first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
                                      for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
    return Loader


def read_yaml(text: str | bytes) -> object:
    """A challenge file's text as data (MaikitError: not valid YAML, with the parser's first line)."""
    import yaml

    try:
        return yaml.load(text, Loader=_loader())  # noqa: S506 (a SafeLoader subclass)
    except yaml.YAMLError as e:
        raise MaikitError(f"not valid YAML ({str(e).splitlines()[0]})") from None


def load_yaml(path: str | os.PathLike) -> object:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise MaikitError(f"cannot read ({e.strerror})", path) from None
    except UnicodeDecodeError:
        raise MaikitError("not a text file", path) from None
    try:
        return read_yaml(text)
    except MaikitError as e:
        raise MaikitError(str(e), path) from None


def load_challenge(path: str | os.PathLike) -> ChallengeDef:
    return parse_challenge(load_yaml(path), str(path), base_dir=Path(path).parent)
