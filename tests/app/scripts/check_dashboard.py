#!/usr/bin/python3
"""Drives the events dashboard in a headless Chromium (Selenium).

  check_dashboard.py --base URL --admin TOKEN --company TOKEN
      --other-company TOKEN --failed-job ID --customer ID --staff ID
      --service ID --start RFC3339 --out DIR

Signs in with the admin token, books an appointment over HTTP (the
company's token) and waits for it in the live event list (the page's
server-sent event feed) without a reload; opens its causation trace; shows that a cross-site form POST to
the failed job's retry route is refused (403) while the job stays;
retries the failed job with its button and waits for it to leave the
list; signs in as another company, appends an event of each company over
the API and checks that its own appears live while none of the first
company's rows show. Saves a screenshot of each screen in DIR and prints
each path ("screenshot: PATH"). Exits 0 when every check held, 1 when one
did not, 77 when Chromium, its driver or Selenium is missing (skip).
"""
import argparse
import http.server
import json
import os
import shutil
import sys
import threading
import urllib.request

try:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait
except ImportError as e:  # pragma: no cover - depends on the machine
    print("SKIP: selenium is not installed (%s)" % e)
    sys.exit(77)

CHROMIUM = "/usr/bin/chromium"
DRIVER = "/usr/bin/chromedriver"
WAIT_S = 60


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def call_api(method, url, token, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Authorization", "Bearer " + token)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def browser():
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu",
              "--disable-dev-shm-usage", "--window-size=1400,1800"):
        opts.add_argument(a)
    return webdriver.Chrome(service=Service(DRIVER), options=opts)


class Shots:
    def __init__(self, driver, out):
        self.driver, self.out, self.n = driver, out, 0

    def take(self, name):
        self.n += 1
        path = os.path.join(self.out, "%02d-%s.png" % (self.n, name))
        self.driver.save_screenshot(path)
        print("screenshot: " + path, flush=True)


def waiter(d):
    # The tables are redrawn as data arrives: an element read a moment ago
    # may be gone; the wait then looks again.
    return WebDriverWait(d, WAIT_S,
                         ignored_exceptions=[StaleElementReferenceException])


def click(d, css, match=lambda e: True):
    """Clicks the first element of `css` that `match` accepts, looking
    again while the page redraws it."""
    def attempt(d):
        for e in d.find_elements(By.CSS_SELECTOR, css):
            if match(e):
                e.click()
                return True
        return False
    waiter(d).until(attempt)


def sign_in(d, base, token):
    d.get(base + "/admin/events/dashboard")
    wait = waiter(d)
    wait.until(lambda d: d.find_element(By.ID, "signin").is_displayed())
    d.find_element(By.ID, "token").send_keys(token)
    d.find_element(By.ID, "signin-button").click()
    wait.until(lambda d: d.find_element(By.ID, "app").is_displayed())


def rows(d, table, attr):
    return [r.get_attribute(attr)
            for r in d.find_elements(By.CSS_SELECTOR, "#%s tr" % table)]


def start(names):
    """Reads the options `names` (each required, --out among them),
    exits 77 when Chromium or its driver is missing, and opens the
    browser: (options, driver, screenshots, waiter)."""
    p = argparse.ArgumentParser()
    for name in names:
        p.add_argument("--" + name, required=True)
    a = p.parse_args()
    for path in (CHROMIUM, DRIVER):
        if not shutil.which(path):
            print("SKIP: %s is missing" % path)
            sys.exit(77)
    os.makedirs(a.out, exist_ok=True)
    d = browser()
    return a, d, Shots(d, a.out), waiter(d)


def wait_live(wait):
    """Waits until the page's live feed (server-sent events) is open."""
    wait.until(lambda d: d.execute_script(
        "return window.sbStream ? window.sbStream.readyState : -1") == 1)


def run(names, checks):
    """Opens the browser as start(names) does, runs checks(options,
    driver, screenshots, waiter) and closes it; prints "ok" once every
    check held (a failed one exits 1). Returns main's exit status."""
    a, d, shots, wait = start(names)
    try:
        checks(a, d, shots, wait)
    finally:
        d.quit()
    print("ok")
    return 0


def check(a, d, shots, wait):
    # 1. Sign in (the admin token never reaches the page's storage: the
    # cookie is HttpOnly).
    d.get(a.base + "/admin/events/dashboard")
    wait.until(lambda d: d.find_element(By.ID, "signin").is_displayed())
    shots.take("sign-in")
    sign_in(d, a.base, a.admin)
    if "sb_session" in d.execute_script("return document.cookie"):
        fail("the session cookie is readable from script")
    # 2. A booking made over HTTP shows up live.
    status, appt = call_api("POST", a.base + "/api/appointments", a.company,
                        {"customer_id": a.customer, "staff_id": a.staff,
                         "service_id": a.service, "start_time": a.start})
    if status != 201:
        fail("booking answered %s %s" % (status, appt))
    appt_id = appt["id"]
    wait_live(wait)
    wait.until(lambda d: appt_id in rows(d, "events", "data-aggregate-id"))
    wait.until(lambda d: a.failed_job in rows(d, "failed", "data-job-id"))
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#queues tr"))
    shots.take("overview")
    # 3. The booking's trace, from its row.
    click(d, "#events tr button",
          lambda b: b.find_element(By.XPATH, "./../..").get_attribute(
              "data-aggregate-id") == appt_id)
    wait.until(lambda d: d.find_element(By.ID, "trace").is_displayed())
    wait.until(lambda d: "appointment.created" in
               d.find_element(By.ID, "trace-timeline").text)
    d.execute_script(
        "document.getElementById('trace').scrollIntoView()")
    shots.take("trace")
    # 4. A cross-site form POST with the cookie but no CSRF token: 403,
    # the job stays failed. The attacking page is on another origin.
    page = ("<form id=f method=post action='%s/api/jobs/failed/%s/retry'>"
            "</form><script>document.getElementById('f').submit()"
            "</script>" % (a.base, a.failed_job)).encode()

    class Evil(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args):
            pass

    evil = http.server.HTTPServer(("127.0.0.1", 0), Evil)
    threading.Thread(target=evil.serve_forever, daemon=True).start()
    d.get("http://127.0.0.1:%d/" % evil.server_port)
    wait.until(lambda d: "cross-site request refused" in d.page_source)
    shots.take("cross-site-refused")
    evil.shutdown()
    status, job = call_api("GET", a.base + "/api/jobs/" + a.failed_job,
                       a.admin)
    if status != 200 or job["state"] != "failed":
        fail("the cross-site POST changed the job: %s %s" % (status, job))
    # 5. Retry with the button: the job leaves the failed list.
    d.get(a.base + "/admin/events/dashboard")
    wait.until(lambda d: a.failed_job in rows(d, "failed", "data-job-id"))
    shots.take("failed-jobs")
    click(d, "button.retry[data-job-id='%s']" % a.failed_job)
    wait.until(lambda d: a.failed_job not in rows(d, "failed", "data-job-id"))
    shots.take("after-retry")
    # 6. Another company's session sees none of these rows.
    d.delete_all_cookies()
    sign_in(d, a.base, a.other_company)
    wait.until(lambda d: d.find_element(By.ID, "who").text.startswith(
        "company "))
    # Its own data has loaded once the queue table has.
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#queues tr"))
    # Its live feed is open (server-sent events, not polling): an event
    # of the first company, then one of its own, are appended over the
    # API; its own appears without a reload, the other never does
    # (the feed is in commit order, so it would have come first).
    wait_live(wait)
    status, _ = call_api("POST", a.base + "/api/customers", a.company,
                         {"id": "live-a", "name": "Live A",
                          "phone": "+4930555"})
    if status != 201:
        fail("the first company's customer answered %s" % status)
    status, _ = call_api("POST", a.base + "/api/customers",
                         a.other_company,
                         {"id": "live-b", "name": "Live B",
                          "phone": "+4930556"})
    if status != 201:
        fail("the second company's customer answered %s" % status)
    wait.until(lambda d: "live-b" in rows(d, "events", "data-aggregate-id"))
    if "live-a" in rows(d, "events", "data-aggregate-id"):
        fail("another company's session shows the first company's "
             "live event")
    shots.take("other-company-live")
    if appt_id in rows(d, "events", "data-aggregate-id"):
        fail("another company's session lists the booking")
    if a.failed_job in rows(d, "failed", "data-job-id"):
        fail("another company's session lists the failed job")
    d.find_element(By.ID, "search-text").send_keys(appt_id)
    Select(d.find_element(By.ID, "search-kind")).select_by_value(
        "appointment")
    d.find_element(By.ID, "search-button").click()
    wait.until(lambda d: "No events of appointment" in
               d.find_element(By.ID, "search-note").text)
    shots.take("other-company")


def main():
    return run(("base", "admin", "company", "other-company", "failed-job",
                "customer", "staff", "service", "start", "out"), check)


if __name__ == "__main__":
    sys.exit(main())
