"""``mai demo``: the end-to-end demo (see ``maikit.demo``)."""

from __future__ import annotations

from pathlib import Path

import typer

from maikit.cli._common import console, err_console, positive, print_json, quiet_libraries, say
from maikit.errors import MaikitError


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo(
        out: Path = typer.Option(Path("demo_out"), "--out", help="Parent folder; the demo writes a new timestamped folder inside."),
        quick: bool = typer.Option(False, "--quick", help="Tiny sizes and seconds of training: a smoke test of the whole path."),
        isp_minutes: float = typer.Option(None, "--isp-minutes", callback=positive, help="Training budget for the ISP model (default 3)."),
        depth_minutes: float = typer.Option(None, "--depth-minutes", callback=positive, help="Training budget for the depth model (default 3.5)."),
        live: bool = typer.Option(True, "--live/--no-live", help="The last step: the exports through a live challenge "
                                  "platform in FOLDER/platform (a real server on loopback, SQLite)."),
        serve: bool = typer.Option(False, "--serve", help="At the end, serve that platform on --port until Ctrl-C "
                                   "(default: print the command that serves it, and end)."),
        port: int = typer.Option(8000, "--port", min=1, max=65535, help="With --serve: the TCP port."),
        json_out: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    ) -> None:
        """Synthesise data, train isp/smallnet and depth/aiia_hit, export FP32+INT8, inspect, benchmark,
        evaluate, print leaderboards next to the published Table 1 rows, and submit the exports to a
        live challenge platform (prints the one command that serves it)."""
        from dataclasses import replace

        from maikit.demo import DemoPlan, run_demo

        plan = DemoPlan.quick() if quick else DemoPlan()
        if isp_minutes is not None:
            plan = replace(plan, isp_train_minutes=isp_minutes)
        if depth_minutes is not None:
            plan = replace(plan, depth_train_minutes=depth_minutes)
        if serve and not live:
            raise MaikitError("`--serve` needs the live step: drop `--no-live`")
        plan = replace(plan, live=live)
        with quiet_libraries():
            summary = run_demo(out, plan, console=err_console)
        tables = summary.pop("tables")
        if json_out:
            print_json(summary)
        else:
            for table in tables.values():
                console.print(table)
            console.print(
                "[dim]Ranks: this machine's rows among themselves (one device); the published rows (Dimensity 1000+ "
                "APU for ISP, Raspberry Pi 4 for depth) ranked as printed, for reference. Scores use the same "
                "formulas.[/]")
            console.print(f"\n[bold green]Demo finished in {summary['seconds']:.0f} s.[/] Everything is in "
                          f"[bold]{summary['folder']}[/]: data/, runs/, export/, summary.json, leaderboard.txt, "
                          "*_fidelity_vs_runtime.png" + (", platform/ (the live challenge)" if live else ""))
            if live and not serve:
                say(f"Open the live challenge: {summary['platform']['command']}  "
                    "(then http://127.0.0.1:8000/; it prints the organiser's sign-in)")
        if serve:
            import subprocess
            import sys

            argv = [sys.executable, "-m", "maikit", "serve", "--demo", "--data-dir", summary["platform"]["folder"],
                    "--port", str(port)]
            raise typer.Exit(subprocess.call(argv))
