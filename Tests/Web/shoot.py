"""Screenshots of the web page (1280×900 PNG) for scripts/web-screenshots.sh.

    python shoot.py URL TOKEN NAME=PATH...

Each PATH is opened as the owner (signed in once with #token=), except /share/... paths, which are opened
in a fresh browser without a session, as the recipient of the link would. Writes screenshots/NAME.png.
Fails when a page does not load, logs a console error or requests another origin.
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from argusweb import Browser, Fail  # noqa: E402
from page_tests import READY, READY_DIAG  # noqa: E402


def shoot(b, url, name, path):
    b.get(url + path)
    b.wait_js(READY, f"{path} to load", 15, READY_DIAG)
    b.wait_js("!document.querySelector('#conn') || document.querySelector('#conn').dataset.state === 'live'",
              f"{path}: #conn live", 10, "document.querySelector('#conn').outerHTML")
    time.sleep(1.5)  # let a live run draw a few more points and the indicator tick
    # The chart redraws at most twice a second: shoot when its legend has caught up with the tiles.
    try:
        b.wait_js("(() => { const i = document.querySelector('#series input[data-series=train_loss]');"
                  " const v = i && i.parentElement.querySelector('.val');"
                  " return v && v.textContent.trim() === document.querySelector('#tile-train-loss').textContent.trim(); })()",
                  "the chart to catch up with the tiles", 5)
    except Fail as e:
        print(f"{name}: {e}; shooting anyway", file=sys.stderr)
    out = b.screenshot(os.path.join("screenshots", f"{name}.png"))
    b.assert_clean(url)
    print(out)


def main(argv):
    url, token, targets = argv[1].rstrip("/"), argv[2], [t.split("=", 1) for t in argv[3:]]
    owner = [(n, p) for n, p in targets if not p.startswith("/share/")]
    guest = [(n, p) for n, p in targets if p.startswith("/share/")]
    try:
        if owner:
            with Browser() as b:
                b.get(f"{url}/#token={token}")
                b.wait_js("location.hash === ''", "sign-in through #token=", 10, "location.href")
                for n, p in owner:
                    shoot(b, url, n, p)
        for n, p in guest:
            with Browser() as b:
                shoot(b, url, n, p)
    except Fail as e:
        print(f"screenshot failed: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
