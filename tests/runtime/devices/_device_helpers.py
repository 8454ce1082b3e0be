"""Paths and environment probes shared by the device-backend tests."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

HERE = Path(__file__).parent
STANDIN = HERE / "standin"  # stand-ins for a phone's adb and benchmark_model
FIXTURES = HERE / "fixtures"  # benchmark_model output in its documented format


def vulkan_ok() -> bool:
    """lavapipe >= 25 installed (scripts/system-deps.sh)."""
    try:
        v = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "mesa-vulkan-drivers"], capture_output=True, text=True).stdout
        return subprocess.run(["dpkg", "--compare-versions", v, "ge", "25"]).returncode == 0 if v else False
    except FileNotFoundError:
        return False


def sshd_path() -> str | None:
    return shutil.which("sshd") or (str(Path("/usr/sbin/sshd")) if Path("/usr/sbin/sshd").exists() else None)
