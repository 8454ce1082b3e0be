"""``mai demo``: the end-to-end demo (see ``maikit.demo``)."""

from __future__ import annotations

from pathlib import Path

import typer

from maikit.cli._common import console, err_console, positive, print_json, quiet_libraries


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo(
        out: Path = typer.Option(Path("demo_out"), "--out", help="Parent folder; the demo writes a new timestamped folder inside."),
        quick: bool = typer.Option(False, "--quick", help="Tiny sizes and seconds of training: a smoke test of the whole path."),
        isp_minutes: float = typer.Option(None, "--isp-minutes", callback=positive, help="Training budget for the ISP model (default 3)."),
        depth_minutes: float = typer.Option(None, "--depth-minutes", callback=positive, help="Training budget for the depth model (default 3.5)."),
        json_out: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    ) -> None:
        """Synthesise data, train isp/smallnet and depth/aiia_hit, export FP32+INT8, inspect, benchmark,
        evaluate, and print leaderboards next to the published Table 1 rows."""
        from dataclasses import replace

        from maikit.demo import DemoPlan, run_demo

        plan = DemoPlan.quick() if quick else DemoPlan()
        if isp_minutes is not None:
            plan = replace(plan, isp_train_minutes=isp_minutes)
        if depth_minutes is not None:
            plan = replace(plan, depth_train_minutes=depth_minutes)
        with quiet_libraries():
            summary = run_demo(out, plan, console=err_console)
        tables = summary.pop("tables")
        if json_out:
            print_json(summary)
            return
        for table in tables.values():
            console.print(table)
        console.print(
            "[dim]Published runtimes: Dimensity 1000+ APU (ISP), Raspberry Pi 4 (depth). maikit rows: this "
            "machine's CPU with LiteRT; scores use the same formulas.[/]"
        )
        console.print(f"\n[bold green]Demo finished in {summary['seconds']:.0f} s.[/] Everything is in "
                      f"[bold]{summary['folder']}[/]: data/, runs/, export/, summary.json, leaderboard.txt, "
                      "*_fidelity_vs_runtime.png")
