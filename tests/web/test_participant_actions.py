"""Issue 25 in a browser: a participant cancels their own waiting submission and selects the
one the board shows from their submissions page, sees why a file was rejected there; a closed
phase offers no sign-in to submit; the organiser page groups phases by challenge, with slugs."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from _web import screenshot, server_fixtures, sign_in


def _account(site, name: str, password: str = "pass-word-1") -> dict:
    """A participant made by the organiser (API), and their token's headers."""
    r = site.post("/api/users", "organiser", json={"username": name, "password": password})
    assert r.status_code == 201, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def _upload(site, slug: str, headers: dict, data: bytes, fidelity: bytes | None = None) -> dict:
    files = {"file": ("model.tflite", data, "application/octet-stream")}
    if fidelity is not None:  # else the fixed-size runtime file is run on the split too (and fails there)
        files["fidelity_file"] = ("model_none.tflite", fidelity, "application/octet-stream")
    r = site.http.post(f"/api/challenges/{slug}/phases/validation/submissions", headers=headers, files=files)
    assert r.status_code in (201, 422), r.text
    return r.json()


def test_a_participant_cancels_and_selects_on_their_submissions_page(site, new_page, tiny_models, isp_split, tmp_path):
    d = server_fixtures.challenge_def("p1", isp_split, ranking="selected", max_submissions_per_day=2)
    d["protocol"] = dict(server_fixtures.FAST, device="no-worker-here")  # runtime jobs wait: rows stay active
    site.create_challenge(d)
    headers = _account(site, "fern")
    model = (tiny_models["isp"] / "model.tflite").read_bytes()
    none = (tiny_models["isp"] / "model_none.tflite").read_bytes()
    first, second = (_upload(site, "p1", headers, model, none)["id"] for _ in range(2))
    junk = _upload(site, "p1", headers, b"not a flatbuffer")
    quota = site.http.get("/api/challenges/p1/phases/validation/quota", headers=headers).json()
    assert quota["used_today"] == 2

    page = new_page()
    sign_in(page, site.url, "fern", "pass-word-1")
    page.goto(f"{site.url}/challenges/p1/phases/validation/submissions")
    assert page.locator("#ranking-note").is_visible()
    # the rejected file says why, where it is listed
    reason = page.locator(f'tr[data-id="{junk["submission_id"]}"] .reason').inner_text()
    assert reason == junk["detail"] and reason.startswith("preflight: ")
    assert page.get_by_role("button", name=f"Cancel submission {junk['submission_id']}").count() == 0

    page.get_by_role("button", name=f"Cancel submission {first}").click()
    assert page.locator("#message").inner_text() == f"Submission {first} cancelled; it does not count toward your quota."
    assert page.locator(f'tr[data-id="{first}"] [data-field="status"]').inner_text() == "Cancelled"
    assert page.locator(f'tr[data-id="{first}"] .reason').inner_text() == "cancelled by its owner"
    assert site.http.get("/api/challenges/p1/phases/validation/quota", headers=headers).json()["used_today"] == 1
    assert page.get_by_role("button", name=f"Select submission {first} for the leaderboard").count() == 0

    page.get_by_role("button", name=f"Select submission {second} for the leaderboard").click()
    assert page.locator("#message").inner_text() == f"Submission {second} is the one the leaderboard shows for you."
    assert page.locator(f'tr[data-id="{second}"] .selected').inner_text() == "selected"
    assert site.http.get(f"/api/submissions/{second}", headers=headers).json()["selected"] is True
    assert page.get_by_role("button", name=f"Select submission {second} for the leaderboard").count() == 0
    screenshot(page, tmp_path, "my-submissions-actions")
    # the submission's own page says who cancelled it
    page.goto(f"{site.url}/submissions/{first}")
    assert page.locator("#reason").inner_text() == ("You (or your team) cancelled this submission; it counts toward neither your quota "
                                                     "nor the failed-attempt limit.")
    # a form without the page's CSRF token is refused
    assert page.request.post(f"{site.url}/submissions/{second}/cancel", form={}).status == 403


def test_a_closed_phase_offers_no_sign_in_to_submit(site, new_page, isp_split):
    now = datetime.now(timezone.utc)
    d = server_fixtures.challenge_def("p2", isp_split)
    d["phases"][1].update(start=(now - timedelta(days=9)).isoformat(), end=(now - timedelta(days=1)).isoformat())
    d["phases"].append(dict(d["phases"][0], slug="final", kind="test", start=(now + timedelta(days=5)).isoformat(),
                            end=(now + timedelta(days=9)).isoformat()))
    site.create_challenge(d)
    page = new_page()
    page.goto(f"{site.url}/challenges/p2")
    open_row, closed_row = page.locator('tr[data-phase="validation"]'), page.locator('tr[data-phase="testing"]')
    assert open_row.get_by_role("link", name="Sign in to submit").count() == 1
    assert closed_row.get_by_role("link", name="Sign in to submit").count() == 0
    assert closed_row.locator(".state").inner_text() == "closed"
    # a phase that has not started says so (it said "closed", as one that ended)
    later = page.locator('tr[data-phase="final"]')
    assert later.locator(".state").inner_text() == "not open yet"
    assert later.get_by_role("link", name="Sign in to submit").count() == 0
    assert [p["state"] for p in site.get("/api/challenges/p2").json()["phases"]] == ["open", "closed", "not open yet"]
    sign_in(page, site.url, "organiser", "org-pass")
    page.goto(f"{site.url}/challenges/p2")
    assert page.locator('tr[data-phase="testing"]').get_by_role("link", name="Submit").count() == 0
    assert page.locator('tr[data-phase="validation"]').get_by_role("link", name="Submit").count() == 1


def test_the_organiser_page_groups_phases_by_challenge_with_slugs(site, new_page, isp_split, tmp_path):
    d = server_fixtures.challenge_def("p3", isp_split)
    d["title"] = "Grouped"
    d["phases"].insert(0, dict(d["phases"][0], slug="development", kind="development", title="Development"))
    site.create_challenge(d)
    page = new_page()
    sign_in(page, site.url, "organiser", "org-pass")
    page.goto(f"{site.url}/organiser")
    section = page.locator("section#c-p3")
    assert section.get_by_role("heading", level=2).inner_text() == "Grouped p3"
    assert section.locator("tbody tr th code.slug").all_inner_texts() == ["development", "validation", "testing"]
    dev = section.locator('tr[data-phase="p3/development"]')
    assert dev.get_by_role("button").count() == 0 and "no uploads" in dev.inner_text()
    assert section.get_by_role("button", name="Publish p3 testing").is_visible()
    # every challenge has a section of its own, named in the list at the top
    slugs = [c["slug"] for c in site.get("/api/challenges").json()]
    assert page.locator("section.challenge").evaluate_all("els => els.map(e => e.id)") == [f"c-{s}" for s in slugs]
    assert page.get_by_role("navigation", name="Challenges").get_by_role("link").count() == len(slugs)
    screenshot(page, tmp_path, "organiser-grouped")
