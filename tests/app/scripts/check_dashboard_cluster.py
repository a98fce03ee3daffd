#!/usr/bin/python3
"""The events dashboard of one cluster member, in a headless Chromium.

  check_dashboard_cluster.py --base URL --admin TOKEN --local TOKEN
      --remote-base URL --remote TOKEN --out DIR

Signs in at --base with the admin token and waits for the live feed.
Then adds a customer of the company --remote (owned by the member at
--remote-base, whose log is shorter) there, and one of --local at
--base: both must appear in the live list without a reload, although the
remote event's sequence (its owner's log) is below those this member's
listing showed. Prints "screenshot: PATH" and "ok"; exits 1 when a check
fails, 77 when Chromium, its driver or Selenium is missing (skip).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check_dashboard import (call_api, fail, rows, run,  # noqa: E402
                             sign_in, wait_live)
# After check_dashboard, which exits 77 (skip) without Selenium.
from selenium.common.exceptions import TimeoutException  # noqa: E402


def check(a, d, shots, wait):
    sign_in(d, a.base, a.admin)
    wait_live(wait)
    for base, token, cid in ((a.remote_base, a.remote, "from-owner"),
                             (a.base, a.local, "from-here")):
        status, body = call_api("POST", base + "/api/customers", token,
                                {"id": cid, "name": "Live",
                                 "phone": "+4930557"})
        if status != 201:
            fail("customer %s answered %s %s" % (cid, status, body))
    wait.until(lambda d: "from-here" in rows(d, "events",
                                             "data-aggregate-id"))
    # The feed is in arrival order and the remote event came first: by now
    # it is listed, or it was dropped.
    try:
        wait.until(lambda d: "from-owner" in rows(d, "events",
                                                  "data-aggregate-id"))
    except TimeoutException:
        fail("the customer committed at its owner never showed in this "
             "member's live list")
    shots.take("cluster-live")


def main():
    return run(("base", "admin", "local", "remote-base", "remote", "out"),
               check)


if __name__ == "__main__":
    sys.exit(main())
