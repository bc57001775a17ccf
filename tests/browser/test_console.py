"""The console in a real browser (issue 27, SPEC third round "The console"): every page renders
with no console error, a refusal appears on the decisions page within two seconds without a
reload, Try answers what the data plane answers, a rejected policy reload shows its
file:line:column while the previous policy keeps serving, and an attacker's path is shown as
text. Screenshots of every page go to target/console-screenshots/.

Run: GATEWAY_BIN=target/debug/gateway .venv-browser/bin/python -m pytest tests/browser
(scripts/test does, after scripts/browser-setup).
"""

from __future__ import annotations

import re
import urllib.parse
import uuid

from conftest import DEADLINE, console_errors, http, screenshot
from selenium.common.exceptions import NoAlertPresentException, StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as seen
from selenium.webdriver.support.ui import WebDriverWait

# (screenshot name, path, the page's <h1>)
PAGES = [
    ("overview", "/", "Overview"),
    ("policy", "/console/policy", "Policy"),
    ("decisions", "/console/decisions", "Decisions"),
    ("keys", "/console/keys", "Keys"),
    ("upstreams", "/console/upstreams", "Upstreams"),
    ("try", "/console/try", "Try"),
]


def open_page(driver, url: str, title: str) -> None:
    driver.get(url)
    WebDriverWait(driver, DEADLINE).until(seen.text_to_be_present_in_element((By.TAG_NAME, "h1"), title))


def decision_rows(driver) -> list[list[str]]:
    rows = []
    for row in driver.find_elements(By.CSS_SELECTOR, "#decisions tbody tr"):
        try:
            rows.append([cell.text for cell in row.find_elements(By.TAG_NAME, "td")])
        except StaleElementReferenceException:
            continue
    return rows


def row_for(driver, request_id: str):
    """The decisions table's row for `request_id` (the last column), if it is there."""
    return next((row for row in decision_rows(driver) if row and row[-1] == request_id), None)


def wait_live(driver) -> None:
    """The page's script has its Server-Sent Events stream open (it says so above the table)."""
    WebDriverWait(driver, DEADLINE).until(
        lambda d: d.find_element(By.ID, "live").get_attribute("data-state") == "open",
        "the decisions page never opened its live stream",
    )


def test_every_page_renders_with_no_console_error(demo, browser):
    # Something to show: one refusal of each common kind (the demo's sample calls made more).
    demo.call("/inventory", demo.token("clientco-readonly"))
    demo.call("/forecast")
    for name, path, title in PAGES:
        open_page(browser, demo.console(path), title)
        nav = [link.text for link in browser.find_elements(By.CSS_SELECTOR, "header nav a")]
        assert nav == [title for _, _, title in PAGES], nav
        current = browser.find_element(By.CSS_SELECTOR, "header nav a[aria-current=page]")
        assert current.text == title
        # The stylesheet applied (a CSP or MIME refusal would leave the header unstyled).
        assert browser.find_element(By.TAG_NAME, "header").value_of_css_property("display") == "flex"
        if name == "overview":
            assert browser.find_element(By.CSS_SELECTOR, "svg.chart rect"), "no bar in the chart"
            assert re.fullmatch(r"[0-9a-f]{64}", browser.find_element(By.ID, "sha256").text)
        if name == "decisions":
            wait_live(browser)
            assert decision_rows(browser), "no refusals listed"
        screenshot(browser, name)
        errors = console_errors(browser)
        assert not errors, f"{path}: " + "\n".join(errors)
    # Try with an answer on it, for the screenshot too.
    try_it(browser, demo, "GET", "/inventory", demo.token("clientco-readonly"))
    screenshot(browser, "try-answer")


def test_a_refusal_appears_on_the_decisions_page_within_two_seconds_without_a_reload(demo, browser):
    open_page(browser, demo.console("/console/decisions"), "Decisions")
    wait_live(browser)
    marker = browser.find_element(By.TAG_NAME, "h1")
    path = f"/live-{uuid.uuid4().hex[:12]}"
    status, reason, request_id = demo.call(path)
    assert status == 401 and reason == "missing_token", (status, reason)
    row = WebDriverWait(browser, 2).until(
        lambda d: row_for(d, request_id), f"{request_id} did not appear within two seconds"
    )
    assert row[1:6] == ["GET", path, "none", "401", "missing_token"], row
    # The same document: the page was not reloaded to show it.
    assert marker.tag_name == "h1"


def try_it(driver, demo, method: str, path: str, token: str | None) -> tuple[int, str]:
    """Fills in and sends the Try form; returns the (status, reason) its answer shows."""
    open_page(driver, demo.console("/console/try"), "Try")
    form = driver.find_element(By.CSS_SELECTOR, "form[action='/console/try']")
    for name, value in [("method", method), ("path", path)]:
        field = form.find_element(By.NAME, name)
        field.clear()
        field.send_keys(value)
    if token:
        form.find_element(By.NAME, "token").send_keys(token)
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(driver, DEADLINE).until(seen.presence_of_element_located((By.ID, "answer")))
    if token:
        assert token not in driver.page_source, "Try showed the token back"
        assert driver.find_element(By.NAME, "token").get_attribute("value") == ""
    answer = driver.find_element(By.ID, "answer")
    return int(answer.find_element(By.ID, "status").text), answer.find_element(By.ID, "reason").text


def test_try_gives_the_data_planes_status_and_reason(demo, browser):
    full = demo.token("clientco")
    readonly = demo.token("clientco-readonly")
    head, payload, _ = full.split(".")
    forged = ".".join([head, payload, readonly.split(".")[2]])
    cases = [
        ("allowed", "/forecast", full, 200, "allowed"),
        ("a missing scope", "/inventory", readonly, 403, "insufficient_scope"),
        ("another tenant", "/tenants/globex/forecast", full, 403, "condition_failed"),
        ("a forged token", "/forecast", forged, 401, None),
    ]
    for what, path, token, status, reason in cases:
        data_plane = demo.call(path, token)[:2]
        tried = try_it(browser, demo, "GET", path, token)
        assert tried == data_plane, f"{what}: Try {tried}, data plane {data_plane}"
        assert tried[0] == status, what
        assert reason is None or tried[1] == reason, (what, tried)


def test_a_broken_reload_shows_file_line_column_while_the_previous_policy_serves(demo, browser):
    open_page(browser, demo.console("/"), "Overview")
    serving = browser.find_element(By.ID, "sha256").text
    original = demo.policy.read_text()
    # Line 3 of the broken file names a scope the policy never declares.
    broken = "permissions:\n  read:forecast: Retrieve demand forecast\nroutes:\n  - path: /forecast\n    methods: [GET]\n    scopes: [read:nothing]\n"
    try:
        demo.policy.write_text(broken)

        def rejected(driver):
            driver.refresh()
            found = driver.find_elements(By.CSS_SELECTOR, "#reload.bad ul.problems li")
            return found and found[0].text

        problem = WebDriverWait(browser, DEADLINE).until(rejected, "the overview never showed the rejected reload")
        assert re.search(r"policy\.yaml:\d+:\d+", problem), problem
        assert "read:nothing" in problem, problem
        assert browser.find_element(By.ID, "sha256").text == serving
        assert "keeps serving" in browser.find_element(By.ID, "reload").text
        screenshot(browser, "overview-rejected-reload")
        # The data plane still enforces the previous policy.
        assert demo.call("/forecast", demo.token("clientco"))[0] == 200
        assert demo.call("/inventory", demo.token("clientco"))[0] == 200
    finally:
        demo.policy.write_text(original)

    def applied(driver):
        driver.refresh()
        return driver.find_elements(By.CSS_SELECTOR, "#reload.ok")

    WebDriverWait(browser, DEADLINE).until(applied, "the original policy was not applied again")
    assert browser.find_element(By.ID, "sha256").text == serving


def test_a_path_carrying_script_and_img_payloads_is_shown_as_text(demo, browser):
    open_page(browser, demo.console("/console/decisions"), "Decisions")
    wait_live(browser)
    tag = uuid.uuid4().hex[:8]
    script = f"<script>alert('{tag}')</script>"
    img = f"\"><img/src=x/onerror=alert('{tag}')>"
    # Raw, a path with these payloads is not HTTP (RFC 9112 §3.2: `<`, `>` and `"` are not
    # request-target characters): the parser answers 400 before any phase runs, so nothing
    # of it is kept.
    raw = http("GET", demo.gateway + f"/xss-{tag}/{script}/{img}")
    assert raw.status == 400, raw
    # Percent-encoded, the same payloads reach the pipeline and its refusal; the request id a
    # client may choose (any visible ASCII) carries them raw, and the decisions page shows both.
    path = f"/xss-{tag}/" + urllib.parse.quote(script, safe="/") + "/" + urllib.parse.quote(img, safe="/") + "/'onmouseover='alert(1)"
    request_id = f"xss-{tag}-{script}{img}"
    status, reason, seen_id = demo.call(path, headers={"X-Request-Id": request_id})
    assert status == 401 and reason == "missing_token" and seen_id == request_id, (status, reason, seen_id)

    def shown_as_text(driver):
        row = row_for(driver, request_id)
        return row and row[2] == path

    # Live (the script's row) and then as the server renders it after a reload.
    for how in ("live", "reloaded"):
        WebDriverWait(browser, DEADLINE).until(shown_as_text, f"the payload's row ({how})")
        try:
            alert = browser.switch_to.alert
            raise AssertionError(f"a dialog opened ({how}): {alert.text}")
        except NoAlertPresentException:
            pass
        assert browser.find_elements(By.CSS_SELECTOR, "img") == [], how
        assert browser.find_elements(By.CSS_SELECTOR, "[onmouseover], [onerror]") == [], how
        scripts = [s.get_attribute("src") for s in browser.find_elements(By.TAG_NAME, "script")]
        assert scripts == [demo.console("/console/assets/console.js")], (how, scripts)
        if how == "live":
            open_page(browser, demo.console("/console/decisions"), "Decisions")
    screenshot(browser, "decisions-payload-as-text")
    # The page's bytes hold the payloads escaped.
    page = http("GET", demo.console("/console/decisions")).body
    assert script not in page and "<img/src" not in page
    assert "&lt;script&gt;alert" in page
