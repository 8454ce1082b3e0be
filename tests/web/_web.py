"""Helpers of the browser tests (a module of its own: every test folder has a conftest)."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import sys
from pathlib import Path

from _system import CHROMIUM  # noqa: F401  (the browser tests' one path to it)

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SHOTS = Path("/tmp/maikit-screenshots")

# the platform's fixtures and helpers (live server, tiny models and data), shared rather than copied
# (one module instance under its own name, whichever folder's tests load it first)
if "platform_testing" in sys.modules:
    server_fixtures = sys.modules["platform_testing"]
else:
    _spec = importlib.util.spec_from_file_location("platform_testing", Path(__file__).parents[1] / "server" / "platform_testing.py")
    server_fixtures = importlib.util.module_from_spec(_spec)
    sys.modules["platform_testing"] = server_fixtures
    _spec.loader.exec_module(server_fixtures)
wait_for = server_fixtures.wait_for
free_port = server_fixtures.free_port


def screenshot(page, tmp_path: Path, name: str) -> Path:
    """A full-page screenshot in the test's folder (and /tmp/maikit-screenshots with MAI_SCREENSHOTS)."""
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    if os.environ.get("MAI_SCREENSHOTS"):
        SHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, SHOTS / path.name)
    return path


def sign_up(page, base: str, username: str, password: str = "correct horse", team: str | None = None) -> None:
    page.goto(f"{base}/signup")
    page.get_by_label("User name", exact=True).fill(username)
    page.get_by_label("Password").fill(password)
    if team is not None:
        page.get_by_label("Team name").fill(team)
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url(f"{base}/account")


def sign_in(page, base: str, username: str, password: str) -> None:
    page.goto(f"{base}/signin")
    page.get_by_label("User name", exact=True).fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(re.escape(base) + r"/(\?.*)?$"))
