"""The pages in a real browser: accounts, upload to leaderboard, preflight, escaping,
privacy, organiser actions, accessibility basics."""

from __future__ import annotations

import hashlib
import re

from _web import screenshot, server_fixtures, sign_in, sign_up

HOSTILE_TEAM = '<script>window.__team_pwned=1</script><img src=x onerror="window.__team_pwned=2">Tiny & Co'


def test_sign_up_creates_a_token_shown_once_that_the_api_accepts(site, new_page):
    page = new_page()
    sign_up(page, site.url, "dana")
    cookie = next(c for c in page.context.cookies() if c["name"] == "mai_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    page.get_by_label("Label").fill("laptop")
    page.get_by_role("button", name="Create token").click()
    token = page.locator("#new-token").inner_text()
    assert token.startswith("mai_u_")
    # the token works on the API as this user
    me = site.http.get("/api/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json()["username"] == "dana"
    # shown once: a reload of the account page does not show it again
    page.goto(f"{site.url}/account")
    assert page.locator("#new-token").count() == 0 and token not in page.content()
    page.get_by_role("button", name="Revoke token laptop").click()
    assert site.http.get("/api/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    # a form posted without its CSRF token is refused
    r = page.request.post(f"{site.url}/account/tokens", form={"label": "forged"})
    assert r.status == 403
    page.get_by_role("button", name="Sign out").click()
    page.goto(f"{site.url}/account")
    assert page.get_by_role("heading", name="Sign in needed").is_visible()


def test_upload_runs_to_finished_and_appears_on_leaderboard_and_scatter(site, new_page, tiny_models, tmp_path):
    page = new_page()
    sign_up(page, site.url, "erin", team=HOSTILE_TEAM)
    page.goto(f"{site.url}/challenges/c1")
    page.get_by_role("link", name="Submit").first.click()
    runtime_file = tiny_models["isp"] / "model.tflite"
    page.get_by_label("Model for runtime and fidelity").set_input_files(str(runtime_file))
    page.get_by_label("Optional second file").set_input_files(str(tiny_models["isp"] / "model_none.tflite"))
    page.get_by_label("Description").fill("tiny <b>conv</b>")
    page.get_by_role("button", name="Upload and check").click()
    heading = page.locator("#verdict-title")
    assert heading.inner_text().startswith("Accepted: submission ")
    sub_id = int(heading.inner_text().rsplit(" ", 1)[1])
    assert page.locator(".left-today").inner_text() == "49"

    # my submissions: the row goes to Finished while the page stays open (polling)
    page.get_by_role("link", name="your submissions").click()
    status = page.locator(f'tr[data-id="{sub_id}"] [data-field="status"]')
    status.filter(has_text="Finished").wait_for(timeout=240_000)
    assert page.locator(f'tr[data-id="{sub_id}"] td', has_text="tiny <b>conv</b>").count() == 1

    # the leaderboard: own row highlighted, the team name as text, Pareto, a linked point
    page.goto(f"{site.url}/challenges/c1/phases/validation/leaderboard")
    row = page.locator(f"#row-{sub_id}")
    assert "own" in row.get_attribute("class") and "pareto" in row.get_attribute("class")
    assert row.locator("td.team").inner_text().startswith(HOSTILE_TEAM)
    assert page.evaluate("window.__team_pwned") is None
    api = site.get(f"/api/submissions/{sub_id}", "organiser").json()
    assert row.locator("td.num").nth(1).inner_text() == f"{api['metrics']['psnr']:.4f}"
    point = page.locator(f'#scatter a[href="#row-{sub_id}"] circle')
    assert point.count() == 1 and "pareto" in page.locator(f'#scatter a[href="#row-{sub_id}"]').get_attribute("class")
    assert page.locator("#scatter polyline.front").count() == 1
    point.click()
    assert page.url.endswith(f"#row-{sub_id}")
    assert page.get_by_text("Published results of the").is_visible()
    screenshot(page, tmp_path, "leaderboard")
    csv_text = page.request.get(f"{site.url}/challenges/c1/phases/validation/leaderboard.csv").text()
    assert csv_text.splitlines()[0].startswith("rank,team,size_kb,psnr") and str(sub_id) in csv_text

    # the submission's page: sha256 of the file, every runtime sample in the histogram
    page.goto(f"{site.url}/submissions/{sub_id}")
    assert page.locator("#sha256").inner_text() == hashlib.sha256(runtime_file.read_bytes()).hexdigest()
    export = site.get("/api/challenges/c1/phases/validation/export", "organiser").json()["submissions"]
    samples = next(s for s in export if s["id"] == sub_id)["runtime"]["samples_ms"]
    title = page.locator("#histogram title").first.text_content()
    assert title.startswith(f"Histogram of {len(samples)} runtime samples")
    assert sum(int(t.split(" ")[0]) for t in page.locator("#histogram rect title").all_text_contents()) == len(samples)
    assert page.locator("#fingerprint").count() == 1
    assert page.locator("#drift").count() == 0 and page.get_by_text("Not measured (no reference model").is_visible()
    screenshot(page, tmp_path, "submission-detail")


def test_junk_file_gets_a_preflight_message_and_costs_no_quota(site, new_page, tmp_path):
    page = new_page()
    sign_up(page, site.url, "frank")
    page.goto(f"{site.url}/challenges/c1/phases/validation/submit")
    before = page.locator(".left-today").inner_text()
    page.get_by_label("Model for runtime and fidelity").set_input_files(
        {"name": "junk.tflite", "mimeType": "application/octet-stream", "buffer": b"this is not a flatbuffer" * 10})
    page.get_by_role("button", name="Upload and check").click()
    assert page.locator("#verdict-title").inner_text() == "Rejected at preflight"
    assert page.locator(".preflight-reason").inner_text().startswith("preflight: runtime file:")
    counts = page.locator("#counts").inner_text()  # what counts where: the quota no, the failed-attempt limit yes
    assert "uses none of your submission quota" in counts and "1 of 50 failed attempts used today" in counts, counts
    assert page.locator(".left-today").inner_text() == before == "50"
    screenshot(page, tmp_path, "submit-preflight")
    page.goto(f"{site.url}/challenges/c1")
    assert page.locator('tr[data-phase="validation"] .left-today').inner_text() == "50"


def test_upload_over_the_cap_is_refused_before_anything_is_stored(site, new_page):
    page = new_page()
    sign_up(page, site.url, "gwen")
    page.goto(f"{site.url}/challenges/c1/phases/validation/submit")
    csrf = page.locator('input[name="csrf"]').first.get_attribute("value")
    files_dir = site.platform.store.root
    before = sorted(p.relative_to(files_dir) for p in files_dir.rglob("*"))
    big = b"\0" * 3_200_000  # the challenge's cap is 1 MB per file
    r = page.request.post(f"{site.url}/challenges/c1/phases/validation/submit",
                          multipart={"csrf": csrf, "file": {"name": "big.tflite", "mimeType": "application/octet-stream",
                                                            "buffer": big}})
    assert r.status == 413 and "cap of 1 MB" in r.text()
    assert sorted(p.relative_to(files_dir) for p in files_dir.rglob("*")) == before


def test_phase_dates_show_utc_and_the_readers_local_time(site, new_page, tmp_path):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    page = new_page(timezone_id="Asia/Tokyo", locale="en-GB")
    page.goto(f"{site.url}/challenges/c1")
    when = page.locator('tr[data-phase="validation"] time').first
    utc = datetime.fromisoformat(when.get_attribute("datetime").replace("Z", "+00:00"))
    assert when.inner_text() == utc.strftime("%Y-%m-%d %H:%M UTC")
    tokyo = utc.astimezone(ZoneInfo("Asia/Tokyo"))
    local = page.locator('tr[data-phase="validation"] .local').first.inner_text()
    assert local.startswith("your time: ") and tokyo.strftime("%H:%M") in local and str(tokyo.day) in local
    screenshot(page, tmp_path, "challenge-home")


def test_script_in_a_team_name_and_the_description_render_as_text(site, new_page):
    page = new_page()
    team = HOSTILE_TEAM.replace("Tiny", "Other")  # team names are unique
    sign_up(page, site.url, "hank", team=team)
    assert page.locator("#team-name").inner_text() == team
    assert page.locator("header .team").inner_text() == team
    page.goto(f"{site.url}/challenges/c1")
    desc = page.locator("section.description")
    assert desc.locator("script, img").count() == 0
    assert desc.locator("strong").inner_text() == "RAW"
    assert desc.locator('a[href="https://example.org/report"]').count() == 1
    assert desc.locator('a[href^="javascript"]').count() == 0
    assert "<script>window.__desc_pwned = 1</script>" in desc.inner_text()
    assert page.evaluate("[window.__team_pwned, window.__desc_pwned, window.__img_pwned]") == [None, None, None]


def test_a_participant_gets_404_on_another_ones_submission(site, new_page, tiny_models):
    r = site.upload("c1", tiny_models["isp"] / "model.tflite", who="bob")
    assert r.status_code == 201, r.text
    other = r.json()["id"]
    page = new_page()
    sign_up(page, site.url, "ivan")
    for path in (f"/submissions/{other}", f"/submissions/{other}.json"):
        resp = page.goto(site.url + path)
        assert resp.status == 404, path
    page.goto(f"{site.url}/submissions/{other}")
    assert page.get_by_role("heading", name="Not found").is_visible()
    # nor may a participant open the organiser's pages
    assert page.goto(f"{site.url}/organiser").status == 403
    assert page.goto(f"{site.url}/organiser/devices").status == 403
    site.wait_done(other, "bob")


def test_organiser_reruns_a_submission_and_publishes_the_test_phase(site, new_page, tiny_models, tmp_path):
    r = site.upload("c1", tiny_models["isp"] / "model.tflite", who="alice", phase="testing",
                    fidelity=tiny_models["isp"] / "model_none.tflite")
    assert r.status_code == 201, r.text
    first = r.json()["id"]
    assert site.wait_done(first, "alice")["status"] == "Finished"

    participant = new_page()
    sign_up(participant, site.url, "judy")
    assert participant.goto(f"{site.url}/challenges/c1/phases/testing/leaderboard").status == 403

    org = new_page()
    sign_in(org, site.url, "organiser", "org-pass")
    org.goto(f"{site.url}/organiser?challenge=c1&phase=testing")
    org.get_by_role("button", name=f"Re-run submission {first}").click()
    msg = org.locator("#message").inner_text()
    m = re.fullmatch(rf"Submission {first} re-runs as (\d+)\.", msg)
    assert m, msg
    new_id = int(m.group(1))
    api = site.get(f"/api/submissions/{new_id}", "organiser").json()
    assert api["parent_id"] == first and api["counts_quota"] is False
    assert site.wait_done(new_id, "alice")["status"] == "Finished"

    org.get_by_role("button", name="Publish c1 testing").click()
    assert org.locator('tr[data-phase="c1/testing"] .published').inner_text() == "published"
    resp = participant.goto(f"{site.url}/challenges/c1/phases/testing/leaderboard")
    assert resp.status == 200
    assert participant.locator(f"#row-{new_id}").count() == 1 and participant.locator(f"#row-{first}").count() == 0

    org.goto(f"{site.url}/organiser/devices")
    worker = org.locator("table.workers tbody tr").first
    assert worker.locator("th").inner_text() == "w1"
    assert worker.locator(".health").inner_text() in ("idle", "busy, lease current")
    screenshot(org, tmp_path, "organiser-devices")
    exported = org.request.get(f"{site.url}/organiser/challenges/c1/phases/testing/export.json").json()
    assert {s["id"] for s in exported["submissions"]} >= {first, new_id}


AXE_RULES = ["label", "image-alt", "svg-img-alt", "heading-order", "page-has-heading-one", "button-name", "link-name",
             "document-title", "html-has-lang", "select-name", "duplicate-id-aria", "list", "listitem", "th-has-data-cells"]


def _basics(page) -> list[str]:
    """The same basics as plain DOM checks (beside axe-core's rules, and on the pages axe does not visit)."""
    return page.evaluate("""() => {
      const bad = [];
      for (const el of document.querySelectorAll('input:not([type=hidden]), select, textarea')) {
        const byFor = el.id && document.querySelector('label[for="' + el.id + '"]');
        if (!byFor && !el.closest('label') && !el.getAttribute('aria-label')) bad.push('no label: ' + (el.name || el.id));
      }
      for (const img of document.querySelectorAll('img')) if (!img.hasAttribute('alt')) bad.push('no alt: ' + img.src);
      for (const svg of document.querySelectorAll('svg[role=img]')) if (!svg.getAttribute('aria-labelledby') && !svg.getAttribute('aria-label')) bad.push('svg without a name');
      let last = 0;
      for (const h of document.querySelectorAll('h1, h2, h3, h4, h5, h6')) {
        const level = Number(h.tagName[1]);
        if (last && level > last + 1) bad.push('heading jumps from h' + last + ' to h' + level + ': ' + h.textContent);
        last = level;
      }
      if (document.querySelectorAll('h1').length !== 1) bad.push('not one h1');
      return bad;
    }""")


def accessibility_problems(page, axe_source: str) -> list[str]:
    """The page's accessibility problems: the plain DOM checks and axe-core's."""
    found = _basics(page)
    page.add_script_tag(content=axe_source)
    result = page.evaluate("rules => axe.run(document, {runOnly: {type: 'rule', values: rules}})", AXE_RULES)
    return found + [f"{v['id']}: {n['html'][:80]}" for v in result["violations"] for n in v["nodes"]]


def test_pages_pass_the_accessibility_basics(site, new_page, axe_source):
    page = new_page()
    sign_in(page, site.url, "organiser", "org-pass")
    subs = site.get("/api/challenges/c1/phases/validation/submissions", "organiser").json()
    paths = ["/", "/challenges/c1", "/challenges/c1/phases/validation/leaderboard", "/challenges/c1/phases/validation/submit",
             "/challenges/c1/phases/validation/submissions", "/account", "/organiser", "/organiser/devices"]
    if subs:
        paths.append(f"/submissions/{subs[0]['id']}")
    problems = {}
    for path in paths:
        page.goto(site.url + path)
        found = accessibility_problems(page, axe_source)
        if found:
            problems[path] = found
    for path in ("/signin", "/signup"):
        anon = new_page()
        anon.goto(site.url + path)
        if _basics(anon):
            problems[path] = _basics(anon)
    assert problems == {}


def test_submission_page_shows_the_device_workers_drift_and_per_op_profile(site, new_page, tiny_models, isp_split,
                                                                          tmp_path):
    from maikit.runtime.devices import MeasureProtocol, get_backend
    from maikit.runtime.drift import DriftPolicy, calibrate
    from maikit.worker.device import DeviceRunner

    # a second challenge measured on its own device tag, served by a calibrated litert-cpu backend
    d = server_fixtures.challenge_def("c2", isp_split)
    d["protocol"] = dict(server_fixtures.FAST, device="sim-phone")
    site.create_challenge(d)
    proto = MeasureProtocol(threads=1, runs=5, min_seconds=0.0, warmup_runs=1, warmup_seconds=0.0, statistic="p50")
    calibrate(get_backend("litert-cpu"), n=2, reference=str(tiny_models["isp"] / "model.tflite"), protocol=proto,
              store=tmp_path / "sim-phone.json", device_name="sim-phone")
    runner = DeviceRunner("litert-cpu", device="sim-phone", state_dir=tmp_path,
                          policy=DriftPolicy(tolerance=50.0, cv_tolerance=50.0, max_attempts=1), per_op_top=3)
    site.worker(name="phone-1", roles=["runtime"], device_tag="sim-phone", device_runner=runner)
    r = site.upload("c2", tiny_models["isp"] / "model.tflite", who="alice", fidelity=tiny_models["isp"] / "model_none.tflite")
    assert r.status_code == 201, r.text
    sub_id = r.json()["id"]
    assert site.wait_done(sub_id, "alice")["status"] == "Finished"
    run = next(s for s in site.get("/api/challenges/c2/phases/validation/export", "organiser").json()["submissions"]
               if s["id"] == sub_id)["runtime"]

    page = new_page()
    sign_in(page, site.url, "organiser", "org-pass")
    page.goto(f"{site.url}/submissions/{sub_id}")
    drift = page.locator("#drift").inner_text()
    assert f"drift {run['drift']['drift'] * 100:.1f} %" in drift
    assert f"{run['drift']['baseline_ms']:.3f} ms" in drift
    by_type = run["op_profile"]["by_type"]
    rows = page.locator("#op-profile tbody tr")
    assert rows.count() == len(by_type)
    assert rows.first.locator("td").first.inner_text() == next(iter(by_type))
    screenshot(page, tmp_path, "submission-detail-device")
    page.goto(f"{site.url}/organiser/devices")
    assert page.get_by_role("heading", name="Device sim-phone").is_visible()
    screenshot(page, tmp_path, "organiser-devices-two")


def test_organiser_cancels_a_waiting_submission_and_reruns_a_phase(site, new_page, tiny_models, isp_split):
    # runtime jobs for a device no worker serves wait in the queue: a submission to cancel
    d = server_fixtures.challenge_def("c3", isp_split)
    d["protocol"] = dict(server_fixtures.FAST, device="no-such-device")
    site.create_challenge(d)
    r = site.upload("c3", tiny_models["isp"] / "model.tflite", who="bob", fidelity=tiny_models["isp"] / "model_none.tflite")
    assert r.status_code == 201, r.text
    sub_id = r.json()["id"]
    used = site.get("/api/challenges/c3/phases/validation/quota", "bob").json()["used_today"]
    assert used == 1

    org = new_page()
    sign_in(org, site.url, "organiser", "org-pass")
    # its page says where it waits; once the jobs queued before it ran, nothing is ahead of it
    # (jobs queued later have larger ids), so the position stays 0
    server_fixtures.wait_for(lambda: site.get(f"/api/submissions/{sub_id}", "bob").json()["queue_position"] == 0,
                             120, 0.2, "the runtime job to be first in the queue")
    org.goto(f"{site.url}/submissions/{sub_id}")
    assert "0 jobs ahead in the queue" in org.locator("#summary").inner_text()
    org.goto(f"{site.url}/organiser?challenge=c3")
    org.get_by_role("button", name=f"Cancel submission {sub_id}").click()
    assert org.locator("#message").inner_text() == f"Submission {sub_id} cancelled."
    assert site.get(f"/api/submissions/{sub_id}", "bob").json()["status"] == "Cancelled"
    assert site.get("/api/challenges/c3/phases/validation/quota", "bob").json()["used_today"] == 0  # cancelled: free

    org.get_by_role("button", name="Re-run every submission of c3 validation").click()
    assert org.locator("#message").inner_text() == "1 submission of c3/validation re-run."
    rerun = [s for s in site.get("/api/challenges/c3/phases/validation/submissions", "organiser").json()
             if s["parent_id"] == sub_id]
    assert len(rerun) == 1 and rerun[0]["status"] in ("Queued", "Running")  # its fidelity job may have started
    # filters: only the cancelled one
    org.goto(f"{site.url}/organiser?challenge=c3&status=Cancelled")
    assert org.locator("#all-subs tbody tr").count() == 1
    assert org.locator("#all-subs tbody tr").get_attribute("data-id") == str(sub_id)
    org.goto(f"{site.url}/organiser?challenge=c3")
    org.get_by_role("button", name=f"Cancel submission {rerun[0]['id']}").click()
    assert site.get(f"/api/submissions/{rerun[0]['id']}", "bob").json()["status"] == "Cancelled"
