"""The team server for real: `tvmviz serve` over HTTP, a real OpenID Connect provider (panva/oidc-provider
on Debian's node), sign-in in Chromium as two people, API tokens, ownership, concurrent uploads."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.paths import ORACLE_EXAMPLE, R18, ROOT
from tests.processes import (CHROMIUM, LAUNCH_ARGS, OIDC_DIR, choose_files, free_port, oidc_secrets, start_oidc, stop,
                             wait_http)
from tvmviz.server import accounts
from tvmviz.store import Store

MAX_UPLOAD_MB = 2
USERS = {"ana": "ana@example.com", "bo": "bo@example.com", "admin": "admin@example.com"}


def cli(*args, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tvmviz", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, **kw)


@pytest.fixture(scope="module")
def team(tmp_path_factory):
    """A running team server with three token holders and a real OIDC provider."""
    if not (OIDC_DIR / "node_modules" / "oidc-provider").exists():
        pytest.fail("tests/oidc/node_modules is missing: scripts/test.sh runs `npm ci --prefix tests/oidc`")
    tmp = tmp_path_factory.mktemp("team")
    db = tmp / "team.duckdb"
    tokens = {}
    for who, name in USERS.items():
        p = cli("token", "create", "--db", db, "--user", name, *(["--admin"] if who == "admin" else []))
        assert p.returncode == 0, p.stderr
        tokens[who] = p.stdout.split()[-1]  # the contract: the token is the last word
    oidc_port, port = free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    secrets = oidc_secrets(base, oidc_port, "tvmviz-test", admins=[USERS["admin"]])
    (tmp / "secrets.toml").write_text(secrets)
    oidc = start_oidc(secrets, oidc_port)
    server = subprocess.Popen([sys.executable, "-m", "tvmviz", "serve", "--db", str(db), "--port", str(port),
                               "--secrets", str(tmp / "secrets.toml"), "--max-upload-mb", str(MAX_UPLOAD_MB)],
                              cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_http(f"{base}/_stcore/health", server)
        yield {"url": base, "tokens": tokens, "tmp": tmp}
    finally:
        stop(server)
        stop(oidc)


def api(team, method, path, token=None, body=None, headers=None):
    """(status, parsed JSON or None) of one request."""
    req = urllib.request.Request(team["url"] + path, data=body, method=method, headers=dict(headers or {}))
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=300) as r:
            raw, status = r.read(), r.status
    except urllib.error.HTTPError as e:
        raw, status = e.read(), e.code
    return status, (json.loads(raw) if raw else None)


def post_file(team, token, path: Path, label=None):
    from tvmviz.server.client import _multipart

    content_type, length, chunks = _multipart(path, {"label": label})
    return api(team, "POST", "/api/v1/uploads", token, b"".join(chunks),
               {"Content-Type": content_type, "Content-Length": str(length)})


def test_every_route_needs_a_valid_token(team):
    assert api(team, "GET", "/api/v1/uploads")[0] == 401
    assert api(team, "GET", "/api/v1/uploads", "tvz_not-a-token")[0] == 401
    assert post_file(team, None, R18 / "opt_dp.log")[0] == 401
    assert api(team, "DELETE", "/api/v1/uploads/1")[0] == 401


def test_upload_list_and_ownership(team):
    t = team["tokens"]
    status, report = post_file(team, t["ana"], R18 / "tuning.log", label="r18 znver3")
    assert status == 201, report
    assert report["file"] == "tuning.log" and report["kind"] == "autotvm" and report["rows"] == 704
    upload_id = report["upload_id"]
    status, again = post_file(team, t["bo"], R18 / "tuning.log")
    assert status == 200 and again["duplicate"] is True and again["upload_id"] == upload_id
    status, listed = api(team, "GET", "/api/v1/uploads", t["bo"])
    mine = next(u for u in listed if u["upload_id"] == upload_id)
    assert set(mine) == {"upload_id", "uploader", "label", "kind", "rows", "sha256", "run_id"}
    assert mine["uploader"] == USERS["ana"]  # the token's identity, never typed text
    assert mine["sha256"] == hashlib.sha256((R18 / "tuning.log").read_bytes()).hexdigest()
    assert api(team, "DELETE", f"/api/v1/uploads/{upload_id}", t["bo"])[0] == 403
    assert upload_id in [u["upload_id"] for u in api(team, "GET", "/api/v1/uploads", t["bo"])[1]]
    assert api(team, "DELETE", f"/api/v1/uploads/{upload_id}", t["ana"])[0] == 204
    assert api(team, "DELETE", f"/api/v1/uploads/{upload_id}", t["ana"])[0] == 404
    status, report = post_file(team, t["bo"], R18 / "layout_transform.log")
    assert status == 201
    assert api(team, "DELETE", f"/api/v1/uploads/{report['upload_id']}", t["admin"])[0] == 204  # admins may


def test_a_refused_file_is_422_with_its_reason(team, tmp_path):
    bad = tmp_path / "notes.txt"
    bad.write_text("just some notes\n")
    status, report = post_file(team, team["tokens"]["ana"], bad)
    assert status == 422 and report["upload_id"] is None and report["error"]


def test_over_the_size_limit_is_413_before_the_body_is_read(team):
    host, port = team["url"].removeprefix("http://").split(":")
    con = http.client.HTTPConnection(host, int(port), timeout=30)
    con.putrequest("POST", "/api/v1/uploads")
    con.putheader("Authorization", f"Bearer {team['tokens']['ana']}")
    con.putheader("Content-Type", "multipart/form-data; boundary=x")
    con.putheader("Content-Length", str((MAX_UPLOAD_MB + 1) * 2**20))
    con.endheaders()  # no body sent: the answer must come from the headers alone
    resp = con.getresponse()
    assert resp.status == 413 and f"up to {MAX_UPLOAD_MB} MB" in json.loads(resp.read())["error"]


def test_eight_clients_at_once_are_each_stored_exactly_once(team, tmp_path):
    lines = (R18 / "tuning.log").read_text().splitlines(keepends=True)
    parts = []
    for k in range(8):
        p = tmp_path / f"part{k}.log"
        p.write_text("".join(lines[k::8]))
        parts.append(p)
    token = team["tokens"]["bo"]
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda p: post_file(team, token, p), parts))
    assert [s for s, _ in answers] == [201] * 8, answers
    listed = api(team, "GET", "/api/v1/uploads", token)[1]
    shas = [u["sha256"] for u in listed]
    for p in parts:
        assert shas.count(hashlib.sha256(p.read_bytes()).hexdigest()) == 1
    assert sum(r["rows"] for _, r in answers) == len(lines)


def test_runs_and_a_runs_selection_over_http_equal_the_cli(team, tmp_path):
    bundle = tmp_path / "r18.zip"  # a zip is one run
    with zipfile.ZipFile(bundle, "w", zipfile.ZIP_DEFLATED) as z:
        for name in ("resnet18.onnx", "tuning.log", "layout_transform.log"):
            z.write(R18 / name, f"r18/{name}")
    token = team["tokens"]["ana"]
    status, reports = post_file(team, token, bundle, label="r18 over http")
    assert status == 201 and len(reports) == 3 and len({r["upload_id"] for r in reports}) == 3
    status, runs = api(team, "GET", "/api/v1/runs", token)
    assert status == 200
    cli_runs = json.loads(cli("runs", "--db", team["tmp"] / "team.duckdb", "--json").stdout)  # a snapshot read
    assert runs == cli_runs
    (ours,) = [r for r in runs if r["label"] == "r18 over http"]
    assert ours["complete"] and set(ours["uploads"]) == {r["upload_id"] for r in reports}
    assert ours["uploader"] == USERS["ana"]

    from tvmviz.select import Scenario

    files = ["--graph", R18 / "resnet18.onnx", "--tuning-log", R18 / "tuning.log", "--transform-log",
             R18 / "layout_transform.log", "--format", "json"]
    scenario = Scenario(pins={"conv1_1": (3, 16)}).to_string()
    for query, extra in (("?solver=pbqp", ["--solver", "pbqp"]),
                         (f"?solver=dp&s={scenario}", ["--pin", "conv1_1=3x16"])):
        status, sel = api(team, "GET", f"/api/v1/runs/{ours['run_id']}/selection{query}", token)
        assert status == 200, sel
        assert sel == json.loads(cli("select", *files, *extra).stdout)
    assert api(team, "GET", "/api/v1/runs/99999/selection", token)[0] == 404
    assert api(team, "GET", f"/api/v1/runs/{ours['run_id']}/selection?solver=greedy", token)[0] == 400


def test_ingest_cli_pushes_through_the_api(team):
    p = cli("ingest", "--server", team["url"], "--token", team["tokens"]["ana"], R18 / "opt_dp.log", "--json")
    assert p.returncode == 0, p.stderr
    (report,) = json.loads(p.stdout)
    assert report["file"] == "opt_dp.log" and report["upload_id"] is not None
    bad = cli("ingest", "--server", team["url"], "--token", "tvz_wrong", R18 / "opt_dp.log")
    assert bad.returncode == 2 and "HTTP 401" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.browser
def test_two_people_sign_in_with_oidc_in_chromium_and_own_their_uploads(team):
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: scripts/test.sh installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        try:
            for who in ("ana", "bo"):
                page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
                page.set_default_timeout(90_000)
                page.goto(team["url"] + "/graph")  # a shared link, before signing in
                page.get_by_role("button", name="Sign in").wait_for()
                assert page.get_by_text("Search space").count() == 0  # nothing before sign-in
                assert page.get_by_role("heading", name="Graph").count() == 0
                page.goto(team["url"])
                page.get_by_role("button", name="Sign in").click()
                page.fill("input[name=login]", USERS[who])
                page.fill("input[name=password]", "any")
                page.get_by_role("button", name="Sign-in").click()
                page.get_by_role("button", name="Continue").click()
                page.get_by_text(f"Signed in as {USERS[who]}").wait_for()
                page.get_by_text("Stored uploads").wait_for()
                page.wait_for_function("!document.querySelector('[data-testid=stStatusWidget]')")
                if who == "ana":  # uploads through the page: she is its uploader, whatever she could type
                    choose_files(page, ORACLE_EXAMPLE / "tuning.log")
                    page.get_by_role("button", name="Ingest").click()
                    page.get_by_text("rows stored").first.wait_for()
                    listed = api(team, "GET", "/api/v1/uploads", team["tokens"]["bo"])[1]
                    mine = [u for u in listed if u["sha256"] == hashlib.sha256(
                        (ORACLE_EXAMPLE / "tuning.log").read_bytes()).hexdigest()]
                    assert [u["uploader"] for u in mine] == [USERS["ana"]]
                    assert api(team, "DELETE", f"/api/v1/uploads/{mine[0]['upload_id']}", team["tokens"]["bo"])[0] == 403
                else:  # bo picks one of ana's uploads: the page refuses to delete it
                    listed = api(team, "GET", "/api/v1/uploads", team["tokens"]["bo"])[1]
                    anas = next(u["upload_id"] for u in listed if u["uploader"] == USERS["ana"])
                    page.get_by_text("Delete an upload").click()
                    box = page.get_by_test_id("stExpander").filter(has_text="Delete an upload").get_by_role("combobox")
                    box.click()
                    page.keyboard.type(f"{anas}: ")
                    page.keyboard.press("Enter")
                    page.get_by_text(f"Upload {anas} belongs to {USERS['ana']}: only its owner or an admin may "
                                     "delete it").wait_for()
                    assert page.get_by_role("button", name="Delete").is_disabled()
                shots = ROOT / "test-artifacts" / "screenshots"
                shots.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(shots / f"team_signed_in_{who}.png"), full_page=True)
        finally:
            browser.close()


# ----------------------------------------------------------------------------- the rules, without a server


def test_tokens_are_stored_as_hashes_and_revocable(tmp_path):
    store = Store.open(str(tmp_path / "t.duckdb"))
    token = accounts.create_token(store.con, "ci@example.com", admin=False, created_by="ops")
    assert accounts.token_identity(store.con, token) == accounts.Identity("ci@example.com", False, "token")
    stored = store.con.execute("SELECT * FROM api_token").fetchall()
    assert token not in json.dumps(stored, default=str)
    assert accounts.token_identity(store.con, token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    assert accounts.revoke_token(store.con, token[:8], by="ops") == 1
    assert accounts.token_identity(store.con, token) is None
    with pytest.raises(accounts.TvmvizError, match="no live token"):
        accounts.revoke_token(store.con, token[:8], by="ops")


def test_ownership_rules_and_an_audit_that_outlives_the_upload(tmp_path):
    store = Store.open(str(tmp_path / "t.duckdb"))
    ana, bo = accounts.Identity("ana", via="oidc"), accounts.Identity("bo", via="oidc")
    admin = accounts.Identity("root", admin=True, via="oidc")
    (r,) = accounts.ingest_file_as(store, ana, R18 / "opt_dp.log", "opt_dp.log")
    assert store.uploads()[0].uploader == "ana"
    with pytest.raises(accounts.Forbidden):
        accounts.delete_as(store, bo, r.upload_id)
    accounts.delete_as(store, admin, r.upload_id)
    with pytest.raises(accounts.Gone):
        accounts.delete_as(store, ana, r.upload_id)
    events = accounts.audit_events(store.con)
    assert [(e["actor"], e["action"], e["upload_id"]) for e in events] == [("root", "delete", r.upload_id),
                                                                             ("ana", "upload", r.upload_id)]
    assert not accounts.may_measure(ana) and accounts.may_measure(admin)


def test_serve_refuses_a_bad_tracker_setting_before_starting(tmp_path):
    for args, why in ((["--rpc-tracker", "nohost"], "expected HOST:PORT"),
                      (["--rpc-key", "cpu"], "--rpc-key needs --rpc-tracker")):
        p = cli("serve", "--db", tmp_path / "t.duckdb", "--secrets", tmp_path / "none.toml", *args)
        assert p.returncode == 2 and why in p.stderr, p.stderr
