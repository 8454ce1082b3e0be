"""A failed submission's page says what failed in plain words (issue 24 item 6): its stage, the
reason without a Python repr, the phase's limits in words, no "Not measured yet." and no
"failed while it ran" for a file that does not fit the data."""

from __future__ import annotations

import re

from _web import screenshot, sign_up


def test_a_failed_submission_page_says_the_stage_the_reason_and_the_limits(site, new_page, tiny_models, tmp_path):
    page = new_page()
    sign_up(page, site.url, "nora")
    page.goto(f"{site.url}/challenges/c1/phases/validation/submit")
    # a file fixed at 16x16: it passes preflight (the phase times 1x16x16x4) and fails on the 88x88 images
    page.get_by_label("Model for runtime and fidelity").set_input_files(str(tiny_models["isp"] / "model.tflite"))
    page.get_by_role("button", name="Upload and check").click()
    assert page.locator("#verdict-title").inner_text().startswith("Accepted: submission ")
    sub_id = int(re.search(r"\d+", page.locator("#verdict-title").inner_text()).group(0))
    site.wait_done(sub_id, "organiser")
    page.goto(f"{site.url}/submissions/{sub_id}")
    assert page.locator("#status").inner_text() == "Failed"
    reason = page.locator("#reason").inner_text()
    assert reason.startswith("Your fidelity file failed while it was scored on the reference data: "
                             "the fidelity model has a fixed input [1, 16, 16, 4]"), reason
    assert "failed attempt" in reason and "none of your submission quota" in reason, reason
    stage = page.locator("#failed-stage").inner_text()
    assert stage == ("Stage: fidelity. Limits of this phase: 120 s of wall clock and 2048 MB of memory for each of the "
                     "fidelity and runtime stages."), stage
    text = page.locator("main").inner_text()
    for wrong in ("Not measured yet.", "failed while it ran", "Limits(", "memory_mb=", "wall_s="):
        assert wrong not in text, wrong
    assert "Not measured: the submission failed before it was scored." in text
    screenshot(page, tmp_path, "submission-failed")
