#!/usr/bin/env python3
"""benches/console_paint.py: the console's first paint, measured in headless
Chromium through chromedriver (plain WebDriver over HTTP, standard library
only). Run by benches/console_paint.sh, which starts the gateway.

    console_paint.py ADMIN_URL CHROMEDRIVER_URL RUNS OUT_CSV LABEL

The token is read from the HOOKGATE_TOKEN environment variable and put in
the tab's sessionStorage once (as the sign-in form does); it never enters a
URL, a log or the output. Per run and page (Events, then Overview) the tab
first leaves for about:blank, then loads /console/#/<page> as a new
document; a script installed with CDP's
Page.addScriptToEvaluateOnNewDocument (outside the page's CSP) records, in
performance.now() milliseconds since navigation start:

  first_paint / first_contentful_paint  the browser's paint entries
  first_row   a data row of the page's table is in the document
  row_painted the first animation frame after it (the row on screen)
  api_ms      the duration of the page's listing call (resource timing)

Every wait is bounded (30 s per page load).
"""

import csv
import json
import os
import sys
import time
import urllib.request

ADMIN, DRIVER, RUNS, OUT, LABEL = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
TOKEN = os.environ["HOOKGATE_TOKEN"]
WAIT_S = 30

# What each page's "first row" is, and its listing call.
PAGES = {
    "events": ("[data-test=events-table] tbody tr[data-event]", "/admin/v1/events"),
    "overview": ("[data-test=overview-subscriptions-table] tbody tr[data-subscription]", "/admin/v1/subscriptions"),
}

PROBE = """
(() => {
  const rows = %s;
  const mark = () => {
    if (window.__hgRow !== undefined) return true;
    for (const [page, css] of Object.entries(rows)) {
      if (document.querySelector(css)) {
        window.__hgRow = performance.now();
        requestAnimationFrame(() => { window.__hgPainted = performance.now(); });
        return true;
      }
    }
    return false;
  };
  new MutationObserver((_, obs) => { if (mark()) obs.disconnect(); })
    .observe(document, { childList: true, subtree: true });
})();
""" % json.dumps({p: css for p, (css, _) in PAGES.items()})


def call(method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(DRIVER + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=WAIT_S + 30) as resp:
        return json.loads(resp.read() or b"null")


def main():
    caps = {"capabilities": {"alwaysMatch": {
        "goog:chromeOptions": {
            "binary": os.environ.get("HOOKGATE_CHROMIUM", "/usr/bin/chromium"),
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--disable-extensions", "--no-first-run", "--window-size=1280,1000"],
        },
        "timeouts": {"pageLoad": WAIT_S * 1000, "script": WAIT_S * 1000},
    }}}
    sid = call("POST", "/session", caps)["value"]["sessionId"]
    s = f"/session/{sid}"
    try:
        call("POST", f"{s}/goog/cdp/execute",
             {"cmd": "Page.addScriptToEvaluateOnNewDocument", "params": {"source": PROBE}})
        # Sign in: the token into this tab's sessionStorage, as the form does.
        call("POST", f"{s}/url", {"url": ADMIN + "/console/"})
        call("POST", f"{s}/execute/sync", {
            "script": "sessionStorage.setItem('hookgate.console.token', arguments[0]);",
            "args": [TOKEN]})
        new = not os.path.exists(OUT)
        with open(OUT, "a", newline="") as f:
            w = csv.writer(f)
            if new:
                w.writerow(["label", "page", "run", "first_paint", "first_contentful_paint",
                            "first_row", "row_painted", "api_ms", "dom_content_loaded", "rows"])
            for run in range(1, RUNS + 1):
                for page, (css, api) in PAGES.items():
                    call("POST", f"{s}/url", {"url": "about:blank"})
                    call("POST", f"{s}/url", {"url": f"{ADMIN}/console/#/{page}"})
                    got = call("POST", f"{s}/execute/async", {"script": """
const [api, limitMs, done] = arguments;
const t0 = Date.now();
(function poll() {
  if (window.__hgPainted !== undefined || Date.now() - t0 > limitMs) {
    const paint = Object.fromEntries(performance.getEntriesByType('paint').map((e) => [e.name, e.startTime]));
    const calls = performance.getEntriesByType('resource').filter((e) => new URL(e.name).pathname === api);
    const nav = performance.getEntriesByType('navigation')[0];
    done({ fp: paint['first-paint'] ?? null, fcp: paint['first-contentful-paint'] ?? null,
           row: window.__hgRow ?? null, painted: window.__hgPainted ?? null,
           api: calls.length ? calls[0].duration : null,
           dcl: nav ? nav.domContentLoadedEventEnd : null,
           rows: document.querySelectorAll('main table tbody tr').length });
  } else setTimeout(poll, 10);
})();""", "args": [api, WAIT_S * 1000]})["value"]
                    if got["painted"] is None:
                        raise SystemExit(f"{page} run {run}: no table row within {WAIT_S} s: {got}")
                    r = lambda v: "" if v is None else f"{v:.1f}"
                    w.writerow([LABEL, page, run, r(got["fp"]), r(got["fcp"]), r(got["row"]),
                                r(got["painted"]), r(got["api"]), r(got["dcl"]), got["rows"]])
                    f.flush()
                    print(f"{LABEL} {page} run {run}: first paint {r(got['fp'])} ms, "
                          f"row {r(got['row'])} ms, row painted {r(got['painted'])} ms, "
                          f"{api} {r(got['api'])} ms, {got['rows']} rows", file=sys.stderr)
    finally:
        call("DELETE", s)


if __name__ == "__main__":
    main()
