"""The testing phase's pages in a real browser: the starting kit (signed in only, sha256 as
downloaded), the generated guideline, the factsheet form (errors in place, the team's only,
read-only after the end), a final-phase upload refused until its bundle is complete, and the
organisers' bundle download."""

from __future__ import annotations

import hashlib
import io
import os
import zipfile

import pytest
from _web import screenshot, server_fixtures, sign_in, sign_up


@pytest.fixture(scope="module")
def final_site(tmp_path_factory, isp_split):
    """A challenge with a starting kit and a testing phase that needs a code archive and a factsheet."""
    kit = tmp_path_factory.mktemp("final-kit")
    (kit / "train.zip").write_bytes(os.urandom(2048))
    (kit / "starter.py").write_text("print('start here')\n")
    live = server_fixtures.start_live(tmp_path_factory.mktemp("final-server"), None)
    d = server_fixtures.challenge_def("fin", isp_split)
    d["title"] = "Final ISP"
    d["kit"] = {"folder": str(kit), "files": [{"path": "train.zip", "title": "Training data", "kind": "training"},
                                              {"path": "starter.py", "title": "Starter script", "kind": "starter"}]}
    d["phases"][1]["bundle"] = {"code": "required", "factsheet": "required"}
    live.create_challenge(d)
    live.kit = kit
    yield live
    server_fixtures.stop_live(live)


def _code_zip(tmp_path) -> str:
    path = tmp_path / "code.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("train.py", "print('train')\n")
    return str(path)


def _fill_factsheet(page, **over):
    values = {"Team name": "Pixel Pushers", "Method title": "A three-layer net",
              "Members, one per line": "Ada Lovelace | ada@example.org | 1\nAlan Turing | | 2",
              "Affiliations, one per line": "Analytical Engines Ltd\nBletchley Park",
              "Method description": "Three convolutions and a *pixel shuffle*.", "Framework": "PyTorch / TensorFlow",
              "Training data": "the challenge's training split", "Training time": "2 hours",
              "Links, one per line": "code | https://example.org/code"}
    values.update(over)
    for label, value in values.items():
        page.get_by_label(label).fill(value)
    page.get_by_role("button", name="Save factsheet").click()


def test_the_starting_kit_is_listed_with_sha256_for_signed_in_users_and_downloads_match(final_site, new_page, tmp_path):
    anon = new_page()
    anon.goto(f"{final_site.url}/challenges/fin")
    assert anon.locator("#kit").get_by_text("Sign in").is_visible()
    assert anon.locator("table.kit").count() == 0
    assert anon.goto(f"{final_site.url}/challenges/fin/kit/train.zip").status == 401

    page = new_page(accept_downloads=True)
    sign_up(page, final_site.url, "kit-reader")
    page.goto(f"{final_site.url}/challenges/fin")
    data = (final_site.kit / "train.zip").read_bytes()
    row = page.locator('tr[data-kit="train.zip"]')
    assert row.locator("code.sha").inner_text() == hashlib.sha256(data).hexdigest()
    with page.expect_download() as dl:
        row.get_by_role("link", name="train.zip").click()
    assert open(dl.value.path(), "rb").read() == data
    assert page.locator('tr[data-kit="optimisation-guideline-cpu.md"]').count() == 1
    screenshot(page, tmp_path, "kit")

    page.get_by_role("link", name="optimisation guideline").click()
    assert page.locator("h1").inner_text() == "Model optimisation guideline: CPU (builtin kernels + XNNPACK) (Final ISP)"
    assert page.get_by_role("heading", name="What splits the graph or slows it").is_visible()


def test_the_factsheet_form_saves_shows_errors_in_place_and_is_the_teams_only(final_site, new_page):
    page = new_page()
    sign_up(page, final_site.url, "fs-writer", team="Pixel Pushers")
    page.goto(f"{final_site.url}/challenges/fin")
    page.locator('tr[data-phase="testing"]').get_by_role("link", name="Factsheet").click()
    _fill_factsheet(page, **{"Members, one per line": "Ada Lovelace"})
    assert page.locator("#factsheet-error").inner_text() == "factsheet: members[0] is the contact: give their e-mail"
    assert page.get_by_label("Method title").input_value() == "A three-layer net"  # what was typed is kept
    page.get_by_label("Members, one per line").fill("Ada Lovelace | ada@example.org | 1\nAlan Turing | | 2")
    page.get_by_role("button", name="Save factsheet").click()
    assert page.locator("#saved").is_visible()
    saved = final_site.get("/api/challenges/fin/phases/testing/factsheets", "organiser").json()["factsheets"]
    sheet = next(f["factsheet"] for f in saved if f["factsheet"]["team"] == "Pixel Pushers")
    assert sheet["members"] == [{"name": "Ada Lovelace", "email": "ada@example.org", "affiliations": [1]},
                                {"name": "Alan Turing", "email": None, "affiliations": [2]}]
    assert sheet["links"] == [{"title": "code", "url": "https://example.org/code"}]
    page.reload()
    assert page.get_by_label("Members, one per line").input_value() == "Ada Lovelace | ada@example.org | 1\nAlan Turing |  | 2"

    other = new_page()
    sign_up(other, final_site.url, "fs-outsider")
    other.goto(f"{final_site.url}/challenges/fin/phases/testing/factsheet")
    assert other.get_by_label("Team name").input_value() == "" and "Pixel Pushers" not in other.content()


def test_a_final_upload_is_refused_until_its_bundle_is_complete_and_organisers_download_it(final_site, new_page, tiny_models,
                                                                                           tmp_path):
    page = new_page()
    sign_up(page, final_site.url, "bundler", team="Bundlers")
    page.goto(f"{final_site.url}/challenges/fin/phases/testing/submit")
    model = tiny_models["isp"] / "model.tflite"
    page.get_by_label("Model for runtime and fidelity").set_input_files(str(model))
    page.get_by_label("Code archive").evaluate("el => el.removeAttribute('required')")  # as a script-less client would
    page.get_by_role("button", name="Upload and check").click()
    reason = page.locator(".preflight-reason").inner_text()
    assert "incomplete bundle: this phase needs the code archive and the factsheet" in reason

    page.goto(f"{final_site.url}/challenges/fin/phases/testing/factsheet")
    _fill_factsheet(page, **{"Team name": "Bundlers"})
    page.goto(f"{final_site.url}/challenges/fin/phases/testing/submit")
    assert "yours is on file" in page.locator('label[for="factsheet_file"]').inner_text()
    page.get_by_label("Model for runtime and fidelity").set_input_files(str(model))
    page.get_by_label("Code archive").set_input_files(_code_zip(tmp_path))
    page.get_by_role("button", name="Upload and check").click()
    heading = page.locator("#verdict-title").inner_text()
    assert heading.startswith("Accepted: submission ")
    sub_id = int(heading.rsplit(" ", 1)[1])
    assert page.goto(f"{final_site.url}/organiser/submissions/{sub_id}/bundle").status == 403

    org = new_page(accept_downloads=True)
    sign_in(org, final_site.url, "organiser", "org-pass")
    org.goto(f"{final_site.url}/organiser?challenge=fin&phase=testing")
    with org.expect_download() as dl:
        org.get_by_role("link", name=f"Download the bundle of submission {sub_id}").click()
    with zipfile.ZipFile(io.BytesIO(open(dl.value.path(), "rb").read())) as zf:
        assert sorted(zf.namelist()) == ["code.zip", "factsheet.json", "model.tflite"]
        assert zf.read("model.tflite") == model.read_bytes()
    sheets = org.request.get(f"{final_site.url}/organiser/challenges/fin/phases/testing/factsheets.json").json()
    assert "Bundlers" in {f["factsheet"]["team"] for f in sheets["factsheets"]}


def test_the_new_pages_pass_the_accessibility_basics(final_site, new_page, axe_source):
    from test_pages import accessibility_problems

    page = new_page()
    sign_up(page, final_site.url, "a11y-reader")
    problems = {}
    for path in ("/challenges/fin", "/challenges/fin/guideline", "/challenges/fin/phases/testing/factsheet",
                 "/challenges/fin/phases/testing/submit"):
        page.goto(final_site.url + path)
        found = accessibility_problems(page, axe_source)
        if found:
            problems[path] = found
    assert problems == {}
