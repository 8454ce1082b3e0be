"""The published results: Table 1 of the ISP report (MAI 2021 ISP) and of the depth report (MAI 2022
depth), as printed. Model modules reference their row by ``key``; ``mai score --paper``
recomputes every final score from the fidelity and runtime columns.

Numbers are kept as the printed strings so that the printed precision is known.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from maikit.errors import MaikitError
from maikit.scoring import score
from maikit.taskspec import TaskSpec


@dataclass(frozen=True)
class PaperRow:
    task: str
    key: str  # stable id used by the model zoo
    team: str  # as printed
    author: str
    framework: str
    size_kb: float  # model size in KB (depth table prints MB; converted x1000)
    metrics: dict[str, float]  # fidelity metrics, maikit metric names
    runtime_ms: float
    score_text: str  # final score as printed
    note: str = ""
    printed: dict[str, str] = field(default_factory=dict, compare=False)

    @property
    def score(self) -> float:
        return float(self.score_text)

    @property
    def score_decimals(self) -> int:
        return len(self.score_text.split(".")[1]) if "." in self.score_text else 0

    def to_dict(self) -> dict:
        return {
            "task": self.task,
            "key": self.key,
            "team": self.team,
            "author": self.author,
            "framework": self.framework,
            "size_kb": self.size_kb,
            **self.metrics,
            "runtime_ms": self.runtime_ms,
            "score": self.score,
            "note": self.note,
        }


# ISP report Table 1: Team, Author, Framework, Model Size KB, PSNR, SSIM, Runtime ms, Final Score
_ISP_TABLE = """\
dh_isp|dh.isp|xushusong001|PyTorch / TensorFlow|21|23.2|0.8467|61|25.98|
aiisp|AIISP|AIISP|TensorFlow|123|23.73|0.8487|90.8|25.91|
tuned_unet|Tuned U-Net|Baseline|PyTorch / TensorFlow|13313|23.30|0.8395|78|25.74|
enerzai|ENERZAi Research|Minsu.Kwon|TensorFlow|9|22.97|0.8392|65|25.67|
isp_forever|isp_forever|LearnedSmartphoneISP|PyTorch|175|22.78|0.8472|77|25.24|
noahtcv|NOAHTCV|noahtcv|TensorFlow|244|23.08|0.8237|94.5|25.19|
acvlab|ACVLab|jesse1029|TensorFlow|7|22.03|0.8217|76.3|24.5|
cvml|CVML|vishalchudasama|TensorFlow|76|22.84|0.8379|167|23.5|
enerzai_esrgan|ENERZAi Research *|jaeyon|PyTorch / TensorFlow|11|23.41|0.8534|231|23.39|did not take part in the official test phase
eds|EdS|Etienne|TensorFlow|1017|23.23|0.8481|1861|22.4|PIRM 2018 entry, shown for reference
"""

# depth report Table 1: Team, Author, Framework, Model Size MB, si-RMSE, RMSE, LOG10, REL, Runtime ms, Final Score
_DEPTH_TABLE = """\
tcl|TCL|TCL|TensorFlow|2.9|0.2773|3.47|0.1103|0.2997|46|298|
aiia_hit|AIIA HIT|Zhenyu Li|PyTorch / TensorFlow|1.5|0.311|3.79|0.1241|0.3427|37|232|
miaigo|MiAIgo|ChaoMI|PyTorch / TensorFlow|1.0|0.299|3.89|0.1349|0.3807|54|188|
tencent|Tencent GY-Lab|Parkzyzhang|PyTorch / TensorFlow|3.4|0.303|3.8|0.1899|0.3014|68|141|
tencent_star|Tencent GY-Lab*|Parkzyzhang|PyTorch / TensorFlow|3.4|0.2836|3.56|0.1121|0.2690|103|122|second submission (marked * in the table)
smartlab|SmartLab|RocheL|TensorFlow|7.1|0.3296|4.06|0.1378|0.3662|65|102|
jmu|JMU-CVLab|mvc|PyTorch / TensorFlow|3.5|0.3498|4.46|0.1402|0.3404|139|36|
icl|ICL|Byung Hyun Lee|PyTorch / TensorFlow|5.9|0.338|6.73|0.3323|0.5070|142|42|
"""


def _parse_isp() -> list[PaperRow]:
    rows = []
    for line in _ISP_TABLE.strip().splitlines():
        key, team, author, fw, size, psnr, ssim, rt, sc, note = line.split("|")
        rows.append(PaperRow("isp", key, team, author, fw, float(size),
                             {"psnr": float(psnr), "ssim": float(ssim)}, float(rt), sc, note,
                             {"size": size, "psnr": psnr, "ssim": ssim, "runtime_ms": rt}))
    return rows


def _parse_depth() -> list[PaperRow]:
    rows = []
    for line in _DEPTH_TABLE.strip().splitlines():
        key, team, author, fw, size_mb, si, rmse, log10, rel, rt, sc, note = line.split("|")
        rows.append(PaperRow("depth", key, team, author, fw, float(size_mb) * 1000.0,
                             {"si_rmse": float(si), "rmse": float(rmse), "log10": float(log10),
                              "rel": float(rel)}, float(rt), sc, note,
                             {"size": size_mb, "si_rmse": si, "rmse": rmse, "log10": log10,
                              "rel": rel, "runtime_ms": rt}))
    return rows


PAPER: dict[str, list[PaperRow]] = {"isp": _parse_isp(), "depth": _parse_depth()}


def paper_rows(task: str) -> list[PaperRow]:
    try:
        return list(PAPER[task])
    except KeyError:
        raise MaikitError(f"unknown task `{task}`; choose one of isp, depth") from None


def paper_row(task: str, key: str) -> PaperRow:
    for row in paper_rows(task):
        if row.key == key:
            return row
    raise MaikitError(f"no row `{key}` in the {task} paper table")


def paper_comparison(task: TaskSpec) -> list[dict]:
    """Every Table 1 row of ``task`` with its score recomputed from its own columns.

    Each dict holds the row's published columns (team, size, fidelity metrics, runtime, the
    printed score as ``published``), the recomputed score (``computed``) and whether the two
    agree at the precision the report prints (``match``).
    """
    out = []
    for row in paper_rows(task.name):
        computed = score(task, row.metrics[task.primary_metric], row.runtime_ms)
        d = row.to_dict()
        published = d.pop("score")
        out.append({**d, "published": published, "computed": computed,
                    "match": f"{computed:.{row.score_decimals}f}" == row.score_text})
    return out
