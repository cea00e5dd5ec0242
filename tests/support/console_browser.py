"""The web console in headless Chromium, step by step; exits nonzero at the
first step that does not hold. Run by tests/suites/console/browser.rs with
one argument: a JSON file (readable by its owner only) holding the node's
URL, a token of each role, the number of secrets, where screenshots go, and
the flavorbox binary and home (to revoke a token as an operator would).

Every page is checked for JavaScript errors in the browser's log, for a
control without an accessible name, and for the XSS sentinel
`window.__pwned`, which any of the payloads the node serves would set if a
page parsed it as HTML."""

import json
import os
import re
import subprocess
import sys
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

config = json.load(open(sys.argv[1]))
URL = config["url"] + "/ui/"
SHOTS = config["screenshots"]
timings = {}


def step(text):
    print("step:", text, flush=True)


def fail(text):
    print("FAILED:", text, flush=True)
    sys.exit(1)


def check(condition, text):
    if not condition:
        fail(text)


options = webdriver.ChromeOptions()
options.binary_location = config["chromium"]
for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
             "--window-size=1280,900", "--no-first-run", "--disable-extensions"):
    options.add_argument(flag)
options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
driver = webdriver.Chrome(service=Service(config["chromedriver"]), options=options)
driver.set_page_load_timeout(30)
wait = WebDriverWait(driver, 15, poll_frequency=0.02)


def find(css):
    return wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, css)))


def visible(css):
    return wait.until(EC.visibility_of_element_located((By.CSS_SELECTOR, css)))


def text_in(css, text):
    try:
        wait.until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, css), text))
    except TimeoutException:
        found = driver.find_elements(By.CSS_SELECTOR, css)
        shown = found[0].text[:300] if found else "(no such element)"
        fail(f"{css} never showed {text!r}; it shows {shown!r}")


def replace(element, text):
    """Types `text` over what a field holds, as a user would (events fire)."""
    element.send_keys(Keys.CONTROL + "a", Keys.DELETE)
    if text:
        element.send_keys(text)


def tab_to(css, most):
    """Presses Tab until the focused element matches `css`, at most `most` times."""
    matches = f"return document.activeElement.matches({json.dumps(css)})"
    for _ in range(most):
        if driver.execute_script(matches):
            return
        driver.switch_to.active_element.send_keys(Keys.TAB)
    check(driver.execute_script(matches), f"Tab never reached {css}")


def page_text():
    return driver.find_element(By.TAG_NAME, "body").text


def clean_page(name):
    """No script error, no unnamed control, no payload that ran."""
    # A refused request is logged by the network layer; those are expected
    # (a 401, a 403): any other severe entry is a script error or a
    # Content-Security-Policy refusal.
    errors = [e for e in driver.get_log("browser")
              if e["level"] == "SEVERE" and e.get("source") != "network"]
    check(not errors, f"{name}: errors in the browser's log: {errors}")
    check(driver.execute_script("return window.__pwned === undefined"), f"{name}: an XSS payload ran")
    check(driver.title != "pwned", f"{name}: an XSS payload set the title")
    injected = driver.execute_script(
        "return document.querySelectorAll('main img, main script, main iframe, main a[href^=\"javascript\"]').length")
    check(injected == 0, f"{name}: {injected} element(s) built from served text")
    leaked = re.findall(r"\b(?:null|undefined|NaN)\b|\[object Object\]",
                        driver.find_element(By.ID, "main").text)
    check(not leaked, f"{name}: the page shows {leaked}")
    unnamed = driver.execute_script("""
        const named = (c) => (c.labels && c.labels.length) || c.getAttribute('aria-label')
            || (c.tagName === 'BUTTON' && c.textContent.trim());
        return [...document.querySelectorAll('input, select, button')]
            .filter((c) => c.offsetParent !== null && !named(c)).map((c) => c.outerHTML.slice(0, 80));""")
    check(not unnamed, f"{name}: controls without a label: {unnamed}")


def shot(name):
    driver.save_screenshot(os.path.join(SHOTS, name + ".png"))


def timed_view(name, hash_, css):
    """Milliseconds from asking for a view to its content being in the page."""
    took = driver.execute_async_script("""
        const [hash, css, done] = arguments;
        const started = performance.now();
        location.hash = hash;
        const poll = () => {
            const found = document.querySelector(css);
            if (found) done(performance.now() - started); else requestAnimationFrame(poll);
        };
        poll();""", hash_, css)
    timings[name] = took
    return took


def sign_in(token):
    driver.get(URL)
    field = visible("#token")
    field.clear()
    field.send_keys(token + Keys.ENTER)
    find("#secrets tbody tr")


def sign_out():
    driver.find_element(By.ID, "sign-out").click()
    visible("#token")


def api_from_page(method, path, token, body=None):
    """A request the page's origin makes with `token`; its status."""
    return driver.execute_async_script("""
        const [method, path, token, body, done] = arguments;
        const init = {method, headers: {Authorization: 'Bearer ' + token}};
        if (body !== null) { init.headers['Content-Type'] = 'application/json'; init.body = body; }
        fetch(path, init).then((r) => done(r.status), (e) => done(String(e)));""",
                                       method, path, token, body)


try:
    driver.execute_cdp_cmd("Browser.grantPermissions", {
        "origin": config["url"], "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]})

    step("a page loads without a token and asks for one; a wrong token is refused")
    started = time.monotonic()
    driver.get(URL)
    visible("#token")
    timings["sign-in page (full load)"] = driver.execute_script(
        "const n = performance.getEntriesByType('navigation')[0]; return n.domContentLoadedEventEnd - n.startTime")
    clean_page("sign-in")
    shot("sign-in")
    driver.find_element(By.ID, "token").send_keys("fbx_000000000000_" + "0" * 64 + Keys.ENTER)
    text_in("#sign-in-error", "refused")
    check(driver.execute_script("return document.cookie") == "", "a cookie was set")
    check(driver.execute_script("return localStorage.length + sessionStorage.length") == 0, "storage was used")

    step("keyboard only: Tab reaches the token field, Enter signs in")
    driver.get(URL)
    visible("#token")
    active = driver.switch_to.active_element
    check(active.get_attribute("id") == "token", "the token field has focus on load")
    active.send_keys(config["read"] + Keys.ENTER)
    find("#secrets tbody tr")
    check(config["read"] not in driver.current_url, "the token is in the URL")
    check(driver.execute_script("return document.cookie") == "", "a cookie was set")
    check(driver.execute_script("return localStorage.length + sessionStorage.length") == 0, "storage was used")

    step(f"the secrets page lists all {config['secrets']} secrets, searched and filtered")
    text_in("#secret-count", f"{config['secrets']} of {config['secrets']} secrets")
    timed_view("secret page", "#/secret/db_creds", "#keys tbody tr")
    timed_view(f"secrets page ({config['secrets']} secrets)", "#/secrets", "#secrets tbody tr")
    clean_page("secrets")
    shot("secrets")
    rows = lambda: len(driver.find_elements(By.CSS_SELECTOR, "#secrets tbody tr"))
    check(rows() == 200, f"{rows()} rows drawn at first, not 200")
    text_in("#show-more", f"Show 200 more (of {config['secrets'] - 200} not shown)")
    driver.find_element(By.ID, "show-more").click()
    wait.until(lambda d: rows() == 400)
    search = driver.find_element(By.ID, "search")
    search.send_keys("app_00")
    text_in("#secret-count", "100 of")
    replace(search, "db_creds")
    text_in("#secret-count", "1 of")
    replace(search, "")
    Select(driver.find_element(By.ID, "schema-filter")).select_by_value("aws")
    text_in("#secret-count", "333 of")
    Select(driver.find_element(By.ID, "schema-filter")).select_by_value("")
    driver.find_element(By.ID, "label-filter").send_keys("team=red")
    text_in("#secret-count", "50 of")
    replace(driver.find_element(By.ID, "label-filter"), "env")
    text_in("#secret-count", "1 of")

    step("keyboard only: Tab to a secret's link, Enter opens it, Tab to Reveal, Enter shows the value")
    driver.find_element(By.ID, "search").click()
    tab_to("#secrets a", 6)
    first = driver.switch_to.active_element.text
    driver.switch_to.active_element.send_keys(Keys.ENTER)
    text_in("h1", first)
    tab_to("button.reveal", 12)
    driver.switch_to.active_element.send_keys(Keys.ENTER)
    find("#keys .revealed")
    driver.execute_script("location.hash = '#/secrets'")
    find("#secrets tbody tr")

    step("a read token sees no write controls and is refused a write")
    check(not driver.find_elements(By.ID, "new-secret"), "a read token is offered New secret")
    timed_view("secret page", "#/secret/db_creds", "#keys tbody tr")
    check(not driver.find_elements(By.ID, "set-form"), "a read token is offered a write form")
    check(not driver.find_elements(By.ID, "delete-secret"), "a read token is offered delete")
    check(api_from_page("PATCH", "/v1/managers/default/secrets/db_creds", config["read"],
                        '{"values":{"password":"x"}}') == 403, "a read token's PATCH was not refused")
    driver.execute_script("location.hash = '#/new'")
    text_in("#page-error", "needs a write token")
    sign_out()

    step("reveal one value at a time; copy one without showing it")
    sign_in(config["write"])
    timed_view("secret page", "#/secret/db_creds", "#keys tbody tr")
    check("hunter2-db" not in page_text(), "a value shows before it is revealed")
    driver.find_element(By.CSS_SELECTOR, "button[aria-label='Reveal password']").click()
    text_in("#keys", "hunter2-db")
    check("admin" not in driver.find_element(By.ID, "keys").text.replace("username", ""),
          "revealing one key showed another")
    driver.find_element(By.CSS_SELECTOR, "button[aria-label='Reveal password']").click()
    wait.until(lambda d: "hunter2-db" not in d.find_element(By.ID, "keys").text)
    driver.find_element(By.CSS_SELECTOR, "button[aria-label='Copy username']").click()
    text_in("#status", "Copied the value of username")
    check("admin" not in driver.find_element(By.ID, "keys").text.replace("username", ""),
          "copying showed the value")
    copied = driver.execute_async_script(
        "const done = arguments[0]; navigator.clipboard.readText().then(done, (e) => done('error: ' + e))")
    check(copied == "admin", f"the clipboard holds {copied!r}")
    clean_page("secret")
    shot("secret")

    step("XSS payloads in a name, a value and a label render as text")
    driver.execute_script("location.hash = '#/secret/web_markup'")
    text_in("h1", "web_markup")
    driver.find_element(By.CSS_SELECTOR, "button[aria-label='Reveal html']").click()
    text_in("#keys", "<img src=x onerror=")
    clean_page("markup secret")
    driver.execute_script("location.hash = '#/secrets'")
    find("#secrets tbody tr")
    driver.find_element(By.ID, "label-filter").send_keys("note")
    text_in("#secrets", "note=<img src=x onerror=")
    clean_page("markup label")
    driver.execute_script("location.hash = '#/secret/' + encodeURIComponent('<img src=x onerror=window.__pwned=1>')")
    find("#page-error")
    check("<img src=x onerror=window.__pwned=1>" in page_text() or "is not a valid" in page_text()
          or "not found" in page_text().lower(), "a hostile name's error is not shown as text")
    clean_page("markup name")

    step("create a secret, with the CLI's input rules and error texts")
    timed_view("new secret page", "#/new", "#new-form")
    clean_page("new secret")
    driver.find_element(By.ID, "new-name").send_keys("bad name!")
    driver.find_element(By.ID, "new-key-0").send_keys("password")
    driver.find_element(By.ID, "new-value-0").send_keys("s3cret")
    driver.find_element(By.CSS_SELECTOR, "#new-form button[type=submit]").click()
    text_in("#form-error", "invalid")
    cli_said = subprocess.run(
        [config["flavorbox"], "--home", config["home"], "secret", "register", "bad name!", "password=-"],
        input=b"s3cret", capture_output=True).stderr.decode()
    page_said = driver.find_element(By.ID, "form-error").text
    check(page_said.split(": ", 1)[-1] in cli_said,
          f"the page says {page_said!r}, the CLI {cli_said!r}")
    replace(driver.find_element(By.ID, "new-name"), "new_api_key")
    driver.find_element(By.ID, "add-pair").click()
    driver.find_element(By.ID, "new-key-1").send_keys("password")
    driver.find_element(By.ID, "new-value-1").send_keys("again")
    driver.find_element(By.CSS_SELECTOR, "#new-form button[type=submit]").click()
    text_in("#form-error", "more than once")
    replace(driver.find_element(By.ID, "new-key-1"), "user")
    shot("new-secret")
    driver.find_element(By.CSS_SELECTOR, "#new-form button[type=submit]").click()
    text_in("h1", "new_api_key")
    text_in("#version", "1")

    step("update a value, roll back, delete")
    driver.find_element(By.ID, "set-key").send_keys("password")
    driver.find_element(By.ID, "set-value").send_keys("rotated" + Keys.ENTER)
    text_in("#version", "2")
    driver.find_element(By.CSS_SELECTOR, "button[aria-label='Reveal password']").click()
    text_in("#keys", "rotated")
    driver.find_element(By.CSS_SELECTOR, "button[aria-label='Roll back to version 1']").click()
    text_in("#version", "3")
    driver.find_element(By.CSS_SELECTOR, "button[aria-label='Reveal password']").click()
    text_in("#keys", "s3cret")
    driver.find_element(By.CSS_SELECTOR, "button[aria-label='Remove user']").click()
    text_in("#version", "4")
    check(not driver.find_elements(By.CSS_SELECTOR, "button[aria-label='Reveal user']"), "a removed key is listed")
    driver.find_element(By.ID, "delete-secret").click()
    visible("#confirm-delete").click()
    find("#secrets tbody tr")
    text_in("#status", "Deleted new_api_key")
    driver.find_element(By.ID, "search").send_keys("new_api_key")
    text_in("#secret-count", "0 of")

    step("a token revoked while signed in ends the session at its next request")
    token_id = config["write"].split("_")[1]
    subprocess.run([config["flavorbox"], "--home", config["home"], "token", "revoke", token_id],
                   check=True, capture_output=True)
    driver.execute_script("location.hash = '#/secret/db_creds'")
    visible("#token")
    text_in("#sign-in-error", "session ended")

    step("an admin reads the audit log, filtered")
    sign_in(config["admin"])
    check(driver.find_element(By.ID, "nav-audit").is_displayed(), "no audit link for an admin")
    timed_view("audit page", "#/audit", "#audit tbody tr")
    text_in("#audit", "get-secret")
    clean_page("audit")
    shot("audit")
    driver.find_element(By.ID, "outcome").send_keys("forbidden" + Keys.ENTER)
    wait.until(lambda d: "outcome=forbidden" in d.current_url)

    def outcomes(d):
        # Read in one script: the view is replaced as a whole when it is drawn.
        return d.execute_script("""return [...document.querySelectorAll('#audit tbody tr')]
            .map((row) => row.cells[7].textContent)""")
    try:
        wait.until(lambda d: set(outcomes(d)) == {"forbidden"})
    except TimeoutException:
        fail(f"filtered by outcome, the audit shows {sorted(set(outcomes(driver)))}")
    # A refused request's secret (a name the requester chose) is an audit field.
    check(api_from_page("GET", "/v1/managers/default/secrets/" + "%3Cimg%20src%3Dx%20onerror%3Dwindow.__pwned%3D1%3E",
                        config["read"]) in (400, 404), "a hostile name was answered")
    driver.execute_script("location.hash = '#/audit'")
    text_in("#audit", "<img src=x onerror=")
    clean_page("audit with markup")

    step("flavors with digest, grants and limits; an evaluate report as a page")
    timed_view("flavors page (first: describes the bundled flavors)", "#/flavors", "#flavors tbody tr")
    timed_view("audit page", "#/audit", "#audit tbody tr")
    timed_view("flavors page", "#/flavors", "#flavors tbody tr")
    text_in("#flavors", "hostile_markup")
    text_in("#flavors", "<img src=x onerror=")
    text_in("#flavors", "sha256:")
    text_in("#flavors", "memory_bytes")
    text_in("#managers", "default")
    clean_page("flavors")
    shot("flavors")
    timed_view("report page", "#/flavor/hostile_markup", "#checks tbody tr")
    text_in("#verdict", "FAIL")
    text_in("#checks", "fail")
    text_in("#checks", "<script>")
    find("#latency-chart rect")
    clean_page("report")
    shot("report")
    sign_out()

    step("readable at 320 px wide: the page does not scroll sideways")
    driver.set_window_size(320, 800)
    sign_in(config["read"])
    wide = driver.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
    check(wide <= 0, f"the secrets page is {wide} px wider than a 320 px window")
    shot("secrets-320px")
    clean_page("secrets at 320 px")

    print("page timings (ms, from asking to content shown, loopback):")
    for name, took in timings.items():
        print(f"  {name}: {took:.1f}")
    print(f"all steps passed in {time.monotonic() - started:.1f} s")
finally:
    driver.quit()
