"""Make the README's screenshots of the web page from the seeded demo project (not a test; run on demand).

.venv/bin/python -m tests.browser.readme_shots   # writes docs/*.png
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

from storehouse import Storehouse
from tests.browser.seed import seed
from tests.servers import Server, chromium_path

DOCS = Path(__file__).resolve().parents[2] / "docs"
VIEWS = {  # file name -> (hash, what to wait for)
    "web-runs": ("#/p/demo", "tbody tr"),
    "web-run": ("#/p/demo/runs/run-0139", "details"),
    "web-stats": ("#/p/demo/stats?days=14", "[data-date]"),
    "web-tasks": ("#/p/demo/tasks/metrics", "svg"),
}


def main() -> None:
    with tempfile.TemporaryDirectory() as temp:
        with Storehouse(temp) as store:
            seed(store)
        server = Server(Path(temp))
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=chromium_path(), headless=True)
                page = browser.new_page(viewport={"width": 1360, "height": 860})
                for name, (where, ready) in VIEWS.items():
                    page.goto(f"{server.url}/{where}")
                    page.wait_for_selector(ready)
                    page.wait_for_timeout(500)  # let the charts' and graph's layout settle
                    page.screenshot(path=str(DOCS / f"{name}.png"))
                    print(DOCS / f"{name}.png")
                browser.close()
        finally:
            server.stop()


if __name__ == "__main__":
    main()
