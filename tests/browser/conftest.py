"""Browser tests: Playwright driving Debian's ``chromium`` (headless) against a real server on 127.0.0.1.

Fixtures:
- ``demo``: a data directory seeded once per module by ``seed.seed`` (see its docstring), and what was seeded;
- ``web``: a real ``storehouse serve`` on that directory (module-scoped);
- ``page``: a fresh browser page; the test fails if the page logs a JavaScript error;
- ``new_page(width, height)``: more pages, of any size, under the same rule;
- ``shot(page, name)``: saves a screenshot to ``test-artifacts/screenshots/<name>.png``.

``.ci/run`` installs the ``chromium`` package; ``STOREHOUSE_CHROMIUM`` names another binary.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from storehouse import Storehouse
from tests.browser.seed import Seeded, seed
from tests.conftest import Server
from tests.servers import chromium_path

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
EXPECT_TIMEOUT_MS = 10_000


@pytest.fixture(scope="module")  # not the session: sync Playwright runs an event loop, which async tests after it need
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium_path(), headless=True)
        yield launched
        launched.close()


@dataclass
class Demo:
    data_dir: Path
    seeded: Seeded


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    data_dir = tmp_path_factory.mktemp("demo-data")
    with Storehouse(data_dir) as store:
        seeded = seed(store)
    return Demo(data_dir, seeded)


@pytest.fixture(scope="module")
def web(demo: Demo) -> Iterator[Server]:
    running = Server(demo.data_dir)
    yield running
    running.stop()


PageMaker = Callable[..., Page]


@pytest.fixture
def new_page(browser: Browser) -> Iterator[PageMaker]:
    """``new_page(width=1360, height=860)``: a fresh page of that size, in a context of its own; the test fails if
    any page made logs a JavaScript error or a Content-Security-Policy violation."""
    contexts: list[BrowserContext] = []
    errors: list[str] = []

    def make(width: int = 1360, height: int = 860) -> Page:
        context = browser.new_context(viewport={"width": width, "height": height}, device_scale_factor=1)
        context.set_default_timeout(EXPECT_TIMEOUT_MS)
        contexts.append(context)
        opened = context.new_page()
        opened.on("pageerror", lambda error: errors.append(str(error)))
        opened.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        # Chromium logs a Content-Security-Policy violation as a console error; report each as one anyway, with
        # what was refused, so a page the policy breaks fails its test (tests/browser/test_csp.py)
        opened.add_init_script(
            "document.addEventListener('securitypolicyviolation', (e) => "
            "console.error(`CSP violation: ${e.violatedDirective} refused ${e.blockedURI || 'inline'}`))"
        )
        return opened

    yield make
    for context in contexts:
        context.close()
    assert not errors, f"the page logged errors: {errors}"


@pytest.fixture
def page(new_page: PageMaker) -> Page:
    return new_page()


@pytest.fixture
def shot() -> Callable[[Page, str], Path]:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def save(page: Page, name: str) -> Path:
        target = ARTIFACTS / f"{name}.png"
        page.screenshot(path=str(target), full_page=True)
        return target

    return save
