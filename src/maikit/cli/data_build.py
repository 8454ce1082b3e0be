"""``mai data align`` and ``mai data from-stereo``: build a dataset from your own captures.

Subcommands of the ``data`` group (registered onto it from here), thin layers over
:func:`maikit.data.align.align_dataset` and :func:`maikit.data.stereo.from_stereo`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from maikit.cli._common import console, err_console, in_range, non_negative, positive, print_json
from maikit.cli.data import data_app
from maikit.errors import MaikitError
from maikit.tasks import RAW_CONVENTIONS, get_raw_convention

_CONVENTION_HELP = "RAW convention of the written RAW patches: " + "; ".join(
    f"{c.name} = {c.description}" for c in RAW_CONVENTIONS.values()
)


def _bar(json_out: bool) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    console=err_console, transient=True, disable=json_out)


def from_stereo_cmd(
    left: Path = typer.Option(..., "--left", help="Folder of left photos (PNG/JPEG/TIFF)."),
    right: Path = typer.Option(..., "--right", help="Folder of right photos, paired with the left ones by file name."),
    calib: Path = typer.Option(..., "--calib", help="Middlebury 2014 calib.txt or ZED SN<serial>.conf."),
    out: Path = typer.Option(..., "--out", "-o", help="Output dataset root: SPLIT/rgb/ and SPLIT/depth/."),
    split: str = typer.Option("train", "--split", help="Split folder to write."),
    max_depth_m: float = typer.Option(50.0, "--max-depth-m", callback=positive, help="Farther depth is written as 0 (unknown)."),
    min_depth_m: float = typer.Option(0.4, "--min-depth-m", callback=non_negative, help="Nearer depth is written as 0 (the ZED's limit: 0.4 m)."),
    keep_size: bool = typer.Option(False, "--keep-size", help="Write at the rectified left view's own size instead of 480x640."),
    wls: bool = typer.Option(False, "--wls", help="Smooth disparities with the WLS filter (needs opencv-contrib)."),
    num_disparities: Optional[int] = typer.Option(None, "--num-disparities", min=16, help="Disparity search range in px (default: the calibration's ndisp, else down to the minimum depth)."),
    json_out: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Depth maps from stereo pairs: rectify, SGBM with left-right check, depth = f·B/d (mm)."""
    from maikit.data.stereo import from_stereo

    with _bar(json_out) as bar:
        task_id = bar.add_task("matching", total=None)
        summary = from_stereo(left, right, calib, out, split=split, max_depth_m=max_depth_m, min_depth_m=min_depth_m,
                              keep_size=keep_size, wls=wls, num_disparities=num_disparities,
                              progress=lambda d, t, n: bar.update(task_id, completed=d, total=t, description=n))
    if json_out:
        print_json(summary)
        return
    table = Table(title=f"stereo -> {escape(str(out))}/{escape(split)}", title_justify="left")
    for col in ("pair", "size", "valid", "median depth", "s"):
        table.add_column(col, justify="left" if col == "pair" else "right")
    for f in summary["frames"]:
        med = f"{f['depth_median_m']:.2f} m" if f["depth_median_m"] is not None else "-"
        table.add_row(escape(f["name"]), f"{f['width']}x{f['height']}", f"{f['valid']:.0%}", med, f"{f['seconds']:.1f}")
    console.print(table)
    for s in summary["skipped"]:
        console.print(f"[yellow]skipped[/] {escape(s['name'])}: {escape(s['reason'])}")
    console.print(f"[green]✓[/] {summary['pairs']} pair(s) written; report {escape(summary['report'])}")


def align_cmd(
    raw: Path = typer.Option(..., "--raw", help="Folder of phone RAW files (DNG or other camera RAW, or RAW PNGs)."),
    rgb: Path = typer.Option(..., "--rgb", help="Folder of target photos (JPEG/PNG/TIFF), paired by file name."),
    out: Path = typer.Option(..., "--out", "-o", help="Output dataset root: SPLIT/mediatek_raw/ and SPLIT/fujifilm/."),
    split: str = typer.Option("train", "--split", help="train, val or test."),
    patch: int = typer.Option(256, "--patch", min=2, help="Patch size in RAW pixels (even)."),
    raw_convention: str = typer.Option("mai21", "--raw-convention", help=_CONVENTION_HELP),
    min_confidence: float = typer.Option(0.9, "--min-confidence", callback=in_range(0.0, 1.0), help="Share of a patch's pixels that must pass the flow's forward-backward check."),
    json_out: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Align phone RAW photos with target photos and cut training patches in the ISP layout.

    Per pair: homography from features (RANSAC), dense optical flow with a forward-backward
    check, target warped onto the RAW grid, patches kept where the alignment is confident.
    Pairs that cannot be aligned are skipped with their reason.
    """
    from maikit.data.align import align_dataset

    conv = get_raw_convention(raw_convention)
    if split not in ("train", "val", "test"):
        raise MaikitError(f"`--split` must be train, val or test, got {split!r}")
    with _bar(json_out) as bar:
        task_id = bar.add_task("aligning", total=None)
        summary = align_dataset(raw, rgb, out, split=split, patch=patch, raw_convention=conv,
                                min_confidence=min_confidence,
                                progress=lambda d, t, n: bar.update(task_id, completed=d, total=t, description=n))
    if json_out:
        print_json(summary)
        return
    table = Table(title=f"align -> {escape(str(out))}/{escape(split)}", title_justify="left")
    for col in ("pair", "matches", "inliers", "residual px", "kept", "rejected", "status"):
        table.add_column(col, justify="left" if col in ("pair", "status") else "right")
    for p in summary["pairs"]:
        g = p.get("global", {})
        res = g.get("residual_px")
        table.add_row(escape(p["name"]), str(g.get("matches", "-")), f"{g.get('inlier_ratio', 0):.0%}" if g else "-",
                      f"{res:.2f}" if res is not None else "-", str(p.get("kept", 0)), str(p.get("rejected", 0)),
                      "ok" if p["status"] == "aligned" else f"[yellow]skipped[/]: {escape(p['reason'])}")
    console.print(table)
    console.print(f"[green]✓[/] {summary['patches']} patch pair(s) from {summary['aligned']} of {len(summary['pairs'])} "
                  f"photo pair(s); reports in {escape(summary['reports'])}; check with: mai data check {escape(str(out))}")


def register(app: typer.Typer) -> None:
    data_app.command("align")(align_cmd)
    data_app.command("from-stereo")(from_stereo_cmd)
