"""Browser tests of the web pages: a real uvicorn server on loopback with an in-thread
worker (tiny data, fast runtime protocol), driven by Playwright through Debian's Chromium
(``/usr/bin/chromium``; installed by scripts/system-deps.sh, never downloaded here).

Each test gets a fresh browser context (its own cookies); a failing test leaves
``failure.png`` in its temporary folder. ``MAI_SCREENSHOTS=1`` copies the pages' screenshots
to /tmp/maikit-screenshots/.
"""

from __future__ import annotations

import _system
import pytest
from _web import CHROMIUM, CHROMIUM_ARGS, server_fixtures

tiny_models = server_fixtures.tiny_models
isp_split = server_fixtures.isp_split

DESCRIPTION = """# The task

Turn **RAW** into RGB. See [the report](https://example.org/report).

<script>window.__desc_pwned = 1</script>

[bad link](javascript:alert(1)) <img src=x onerror="window.__img_pwned=1">
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory, tiny_models, isp_split):
    """A running platform with one challenge (validation public, testing hidden until
    published) and one in-thread worker."""
    live = server_fixtures.start_live(tmp_path_factory.mktemp("web-server"), None)
    d = server_fixtures.challenge_def("c1", isp_split)
    d["title"] = "Tiny ISP"
    d["description"] = DESCRIPTION
    live.create_challenge(d)
    live.worker(name="w1")
    yield live
    server_fixtures.stop_live(live)


@pytest.fixture(scope="session")
def browser():
    _system.require("chromium")
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    yield b
    b.close()
    pw.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)


@pytest.fixture
def new_page(browser, request, tmp_path):
    """``new_page(**context_options)`` opens a page in a fresh context (another person);
    screenshots on failure."""
    contexts = []

    def make(**options):
        ctx = browser.new_context(viewport={"width": 1200, "height": 900}, **options)
        ctx.set_default_timeout(30_000)
        contexts.append(ctx)
        return ctx.new_page()

    yield make
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        for i, ctx in enumerate(contexts):
            for j, page in enumerate(ctx.pages):
                try:
                    page.screenshot(path=str(tmp_path / f"failure-{i}-{j}.png"), full_page=True)
                except Exception:
                    pass
    for ctx in contexts:
        ctx.close()


@pytest.fixture(scope="session")
def axe_source() -> str:
    """axe-core's axe.min.js as the axe-playwright-python wheel ships it (a test dependency):
    nothing downloaded or cached outside the test run."""
    from importlib.resources import files

    return files("axe_playwright_python").joinpath("axe.min.js").read_text()
