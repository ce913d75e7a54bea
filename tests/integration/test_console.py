"""The retention console in a real browser: Playwright driving Debian's Chromium against `churn console`.

The console runs as a user starts it (its own process on a free loopback port)
over a trained, materialized, scored home in Redis; the API runs beside it, so
what the pages say is checked against what `POST /predict_churn` and
`churn decide --budget` say. Screenshots of every page land in
``test-artifacts/console/``.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import redis

from churn import audit
from churn.settings import Settings
from harness.homes import Server, prepare_home, running_server, settings_env
from harness.process import console
from harness.settings import make_settings, redis_available, unique_project
from training import registry
from training.config import DEFAULT_GRID, TrainConfig
from training.train import train

pytestmark = [pytest.mark.integration, pytest.mark.slow]
REDIS_DB = 13
ADMIN = "console-admin-key-0123456789abcdefGHIJ"
VIEWER = "console-viewer-key-9876543210zyxwvuTSRQ"
KEYS = f"predict+explain+admin:{ADMIN},predict:{VIEWER}"
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "console"
BUDGETS = ("50", "120", "1000")


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    if not redis_available():
        pytest.fail("no Redis at 127.0.0.1:6379: .ci/run starts one")
    from batch.jobs import score

    root = tmp_path_factory.mktemp("console-home")
    # a lifetime margin of 1 (revenue, not profit) makes some offers pay in this small world, so plans target someone
    settings = make_settings(root, unique_project("console"), profile="redis", redis=f"127.0.0.1:6379,db={REDIS_DB}",
                             clv_margin=1.0)  # fmt: skip
    prepare_home(settings)
    train(
        settings, TrainConfig(folds=2, bootstrap=5, grid=DEFAULT_GRID[1:2], report=False, promote="never")
    )  # a challenger
    score(settings)
    yield settings
    client = redis.Redis(db=REDIS_DB)
    for key in client.scan_iter(match=f"*{settings.feast_project}*", count=1000):
        client.delete(key)


@pytest.fixture(scope="module")
def api(home: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    log = tmp_path_factory.mktemp("console-api") / "server.log"
    with running_server(home, log, CHURN_API_KEYS=KEYS) as server:
        yield server


@pytest.fixture(scope="module")
def url(home: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("console-log") / "console.log"
    with console(settings_env(home, CHURN_API_KEYS=KEYS, CHURN_RELOAD_SECONDS="1"), log) as (base, _):
        yield base


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(chromium).exists():
        pytest.fail("Chromium is not installed (Debian package `chromium`; .ci/run installs it)")
    from playwright.sync_api import sync_playwright

    flags = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync"]  # fmt: skip
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=chromium, args=flags)
        yield launched
        launched.close()


def signed_in(browser, url: str, key: str):  # type: ignore[no-untyped-def]
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(url + "/")
    assert "/login" in page.url
    page.fill("#key", key)
    page.click("button[type=submit]")
    page.wait_for_url(url + "/")
    return page


def shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def scores_of(home: Settings) -> pd.DataFrame:
    return pd.read_parquet(sorted(home.outputs_dir.glob("batch_scores_*.parquet"))[-1])


def test_a_wrong_key_is_refused_and_a_page_needs_sign_in(browser, url: str) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page()
    response = page.goto(url + "/customers?band=high")
    assert "/login" in page.url and "next=%2Fcustomers%3Fband%3Dhigh" in page.url and response.status == 200
    page.fill("#key", "not-a-key-of-this-console-0123456789")
    with page.expect_response(lambda r: r.url.endswith("/login") and r.request.method == "POST") as answer:
        page.click("button[type=submit]")
    assert answer.value.status == 401
    assert "That key is not accepted." in page.inner_text("[role=alert]")
    assert page.context.cookies() == []
    page.fill("#key", VIEWER)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/customers\?band=high$"))  # back where the person was going
    cookie = page.context.cookies()[0]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    page.close()


def test_every_page_opens_for_a_viewer(browser, url: str, home: Settings) -> None:  # type: ignore[no-untyped-def]
    page = signed_in(browser, url, VIEWER)
    champion = registry.read_pointer(home)["champion"]
    assert champion in page.inner_text("[data-kind=churn]") and "95%" in page.inner_text("[data-kind=churn]")
    assert "ready" in page.inner_text("#store")
    shot(page, "overview")
    cid = str(scores_of(home)["customer_id"].iloc[0])
    for name, path, heading in [("customers", "/customers", "Customers at risk"), ("customer", f"/customers/{cid}",
                                f"Customer {cid}"), ("plan", "/plan", "Plan"), ("campaigns", "/campaigns", "Campaigns"),
                                ("models", "/models", "Models"), ("audit", "/audit", "Audit log")]:  # fmt: skip
        response = page.goto(url + path)
        assert response.status == 200, (path, page.content()[:500])
        assert heading in page.inner_text("header"), path
        shot(page, name)
    page.close()


def test_the_at_risk_list_filters_sorts_and_pages(browser, url: str, home: Settings) -> None:  # type: ignore[no-untyped-def]
    scores = scores_of(home)
    page = signed_in(browser, url, VIEWER)
    page.goto(url + "/customers")
    band = str(scores.sort_values("probability")["risk_band"].iloc[-1])  # the riskiest customer's band
    page.select_option("select[name=band]", band)
    page.select_option("select[name=sort]", "probability")
    page.click("#filters button")
    high = scores[scores["risk_band"] == band].sort_values("probability", ascending=False, kind="stable")
    assert page.inner_text("#count").startswith(f"{len(high):,} customers match")
    ids = page.locator("#at-risk tbody tr td:first-child").all_inner_texts()
    assert ids == list(high["customer_id"].astype(str))[:50]
    # an attribute filter and the second page, sorted by probability
    contract = scores["contract_type"].value_counts().index[0]
    page.goto(url + f"/customers?attribute=contract_type&value={contract}&sort=probability")
    chosen = scores[scores["contract_type"] == contract].sort_values(["probability"], ascending=False, kind="stable")
    assert page.inner_text("#count").startswith(f"{len(chosen):,} customers match")
    page.click("a[rel=next]")
    assert "page=2" in page.url
    second = page.locator("#at-risk tbody tr td:first-child").all_inner_texts()
    expected = chosen["probability"].to_numpy()[50:100]
    shown = [float(x) for x in page.locator("#at-risk tbody tr td:nth-child(2)").all_inner_texts()]
    assert len(second) == len(expected) and shown == pytest.approx(list(expected), abs=5e-5)
    assert set(page.locator("#at-risk tbody tr td:nth-child(7)").all_inner_texts()) == {contract}
    # sorted by EV: descending
    page.goto(url + "/customers?sort=expected_value")
    ev = [float(x.replace(",", "")) for x in page.locator("#at-risk tbody tr td:nth-child(5)").all_inner_texts()]
    assert ev == sorted(ev, reverse=True)
    # bad input: a readable message, never a 500
    for bad, field in [("page=zero", "page"), ("band=purple", "band"), ("sort=name", "sort"), ("page=999", "page")]:
        response = page.goto(url + f"/customers?{bad}")
        assert response.status == 400 and page.inner_text("[role=alert]").startswith(f"{field}:"), bad
    page.close()


def test_the_customer_page_shows_the_apis_reasons_and_its_what_if(  # type: ignore[no-untyped-def]
    browser, url: str, api: Server, home: Settings
) -> None:
    cid = str(scores_of(home).sort_values("probability")["customer_id"].iloc[-1])
    status, _, answer = api.request("POST", "/predict_churn", {"customer_id": cid, "explain": True})
    assert status == 200
    page = signed_in(browser, url, ADMIN)
    page.goto(url + f"/customers/{cid}")
    assert page.inner_text("#probability") == f"{answer['probability']:.4f}"
    rows = [r.split("\t") for r in page.locator("#reasons tbody tr").all_inner_texts()]
    assert [r[0] for r in rows] == [f["feature"] for f in answer["factors"]]
    assert [float(r[2]) for r in rows] == pytest.approx([f["contribution"] for f in answer["factors"]], abs=5e-5)
    assert page.locator("#score-history tbody tr").count() == 1
    # what if: another contract and higher charges, through the form, against the API with the same features
    page.select_option("select[name=contract_type]", "Two year")
    page.fill("input[name=monthly_charges]", "99.5")
    page.click("#what-if button")
    status, _, asked = api.request("POST", "/predict_churn", {"customer_id": cid, "features": {
        "contract_type": "Two year", "monthly_charges": 99.5}})  # fmt: skip
    assert status == 200 and asked["what_if"] is True
    assert page.inner_text("#what-if-probability") == f"{asked['probability']:.4f}"
    assert asked["probability"] != answer["probability"]
    assert page.inner_text("#what-if-decision").startswith(asked["decision"]["action"])
    shot(page, "customer-what-if")
    # a value the schema refuses: the field named on the page
    page.fill("input[name=monthly_charges]", "lots")
    page.click("#what-if button")
    assert "monthly_charges: must be a number, got 'lots'" in page.inner_text("[role=alert]")
    page.goto(url + "/customers/nobody-at-all")
    assert "No customer 'nobody-at-all'" in page.inner_text("[role=alert]")
    page.close()


def test_the_plan_page_totals_equal_churn_decide_at_three_budgets(  # type: ignore[no-untyped-def]
    browser, url: str, home: Settings
) -> None:
    page = signed_in(browser, url, VIEWER)
    targeted = []
    for budget in BUDGETS:
        done = subprocess.run([sys.executable, "-m", "cli.main", "decide", "--budget", budget, "--json"], cwd=ROOT,
                              env=settings_env(home), capture_output=True, text=True, timeout=300)  # fmt: skip
        assert done.returncode == 0, done.stderr[-2000:]
        cli = json.loads(done.stdout)
        page.goto(url + "/plan")
        page.fill("input[name=budget]", budget)
        page.click("#budget-form button")
        assert page.url.endswith(f"/plan?budget={budget}")
        shown = {key: page.inner_text(f"#{key}") for key in ("targeted", "spend", "saved", "net", "bound", "gap")}
        assert shown == {"targeted": f"{cli['targeted']:,}", "spend": f"{cli['spend']:,.0f}",
                         "saved": f"{cli['expected_saved_revenue']:,.0f}", "net": f"{cli['expected_net_value']:,.0f}",
                         "bound": f"{cli['lp_bound']:,.0f}", "gap": f"{cli['gap_to_bound']:,.0f}"}, budget  # fmt: skip
        targeted.append(cli["targeted"])
        with page.expect_download() as download:
            page.click("#download")
        downloaded = pd.read_csv(download.value.path(), dtype={"customer_id": str})
        written = pd.read_csv(home.outputs_dir / "action_plan.csv", dtype={"customer_id": str})
        pd.testing.assert_frame_equal(downloaded, written)
    assert targeted[0] < targeted[-1] and targeted[-1] > 0  # the budgets bind, then do not
    shot(page, "plan")
    page.goto(url + "/plan?budget=-5")
    assert "--budget: must be a non-negative amount" in page.inner_text("[role=alert]")
    page.goto(url + "/plan?budget=a+lot")
    assert "budget: must be an amount" in page.inner_text("[role=alert]")
    page.close()


def test_a_viewer_cannot_promote_an_admin_can_and_the_audit_log_records_it(  # type: ignore[no-untyped-def]
    browser, url: str, home: Settings
) -> None:
    champion = registry.read_pointer(home)["champion"]
    challenger = next(m["version"] for m in registry.list_models(home) if m["version"] != champion)
    viewer = signed_in(browser, url, VIEWER)
    viewer.goto(url + "/models")
    assert viewer.locator("form.promote").count() == 0 and viewer.locator("form.rollback").count() == 0
    csrf = viewer.locator("nav input[name=csrf]").get_attribute("value")
    refused = viewer.request.post(url + "/models/promote", form={"csrf": csrf, "version": challenger,
                                                                 "confirm": "yes", "force": "yes"})  # fmt: skip
    assert refused.status == 403 and "admin scope" in refused.text()
    viewer.close()
    assert registry.read_pointer(home)["champion"] == champion

    admin = signed_in(browser, url, ADMIN)
    admin.goto(url + "/models")
    # without the token the form came with: refused whoever sends it
    stale = admin.request.post(url + "/models/promote", form={"version": challenger, "confirm": "yes", "force": "yes"})
    assert stale.status == 403 and "CSRF" in stale.text()
    form = admin.locator("form.promote", has=admin.locator(f"input[value='{challenger}']"))
    form.locator("button").click()  # without ticking "I confirm"
    assert "tick “I confirm”" in admin.inner_text("[role=alert]")
    assert registry.read_pointer(home)["champion"] == champion
    form = admin.locator("form.promote", has=admin.locator(f"input[value='{challenger}']"))
    form.locator("input[name=confirm]").check()
    form.locator("input[name=force]").check()
    form.locator("button").click()
    assert f"{challenger} is the churn champion" in admin.inner_text("[role=status]")
    assert registry.read_pointer(home)["champion"] == challenger
    shot(admin, "models-promoted")
    admin.locator("#rollback-churn input[name=confirm]").check()
    admin.locator("#rollback-churn button").click()
    assert f"{champion} is the churn champion again" in admin.inner_text("[role=status]")
    assert registry.read_pointer(home)["champion"] == champion

    entries = audit.read(home.home_dir)
    admin_id = __import__("hashlib").sha256(ADMIN.encode()).hexdigest()[:12]
    assert [(e["who"], e["action"], e["before"], e["after"]) for e in entries[:2]] == [
        (admin_id, "rollback churn", challenger, champion),
        (admin_id, "promote churn", champion, challenger),
    ]
    assert audit.verify(home.home_dir) is None
    assert ADMIN not in audit.audit_path(home.home_dir).read_text()  # the key's hash, never the key
    admin.goto(url + "/audit")
    assert "chain is whole" in admin.inner_text("#chain")
    assert admin.locator("#audit tbody tr").count() == 2 and admin_id in admin.inner_text("#audit")
    shot(admin, "audit")
    admin.close()


def test_the_pages_carry_no_script_and_refuse_framing(browser, url: str) -> None:  # type: ignore[no-untyped-def]
    page = signed_in(browser, url, VIEWER)
    for path in ("/", "/customers", "/plan", "/models"):
        response = page.goto(url + path)
        headers = response.headers
        assert "script-src" not in headers["content-security-policy"] and "default-src 'none'" in headers[
            "content-security-policy"]  # fmt: skip
        assert headers["x-frame-options"] == "DENY" and page.locator("script").count() == 0
    page.click("nav button")  # sign out
    page.wait_for_url(re.compile(r".*/login$"))
    page.goto(url + "/models")
    assert "/login" in page.url
    page.close()


def test_no_form_or_query_makes_a_server_error(url: str, home: Settings) -> None:
    """Random values in every query and form field (bounded: 30 requests per route, loopback only): 4xx or 200."""
    import urllib.error
    import urllib.parse
    import urllib.request
    from http.cookiejar import CookieJar

    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
    opener.open(url + "/login", data=urllib.parse.urlencode({"key": ADMIN}).encode(), timeout=30).read()
    page = opener.open(url + "/models", timeout=30).read().decode()
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    cid = str(scores_of(home)["customer_id"].iloc[0])
    text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30)

    def status(path: str, form: dict[str, str] | None = None) -> int:
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        try:
            with opener.open(url + path, data=data, timeout=60) as resp:
                return int(resp.status)
        except urllib.error.HTTPError as err:
            return int(err.code)

    @settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(band=text, action=text, attribute=st.one_of(text, st.just("contract_type")), value=text, sort=text,
           page=text, budget=text, charges=text, contract=text, kind=text, version=text)  # fmt: skip
    def fuzz(band, action, attribute, value, sort, page, budget, charges, contract, kind, version) -> None:  # type: ignore[no-untyped-def]
        query = urllib.parse.urlencode({"band": band, "action": action, "attribute": attribute, "value": value,
                                        "sort": sort, "page": page})  # fmt: skip
        assert status(f"/customers?{query}") in (200, 400)
        assert status(f"/plan?{urllib.parse.urlencode({'budget': budget})}") in (200, 400)
        what_if = {"csrf": csrf, "monthly_charges": charges, "contract_type": contract}
        assert status(f"/customers/{urllib.parse.quote(cid)}/what-if", what_if) in (200, 400)
        assert status("/models/rollback", {"csrf": csrf, "kind": kind}) in (200, 400)  # never confirmed: no change
        assert status("/models/promote", {"csrf": csrf, "version": version}) in (200, 400)

    champion = registry.read_pointer(home)["champion"]
    fuzz()
    assert registry.read_pointer(home)["champion"] == champion
