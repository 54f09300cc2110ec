"""Real-browser journeys: pytest-django's ``live_server`` driven by Playwright (sync API) and
Debian's Chromium, with axe-core injected for accessibility checks.

Fixtures:

- ``browser``: one headless Chromium for every browser test of the run.
- ``page``: a fresh context (locale ``en``, 1280x800, ``base_url`` = the live server) per test, so
  ``page.goto("/access/")`` works; console errors, CSP violations (the console message and the
  ``securitypolicyviolation`` event) and uncaught exceptions fail the test
  (``page_errors.ignore("...")`` accepts an expected one, e.g. the 404 of a page under test).
- ``login(page, email, password)``: signs in through the real allauth form.
- ``axe_check(page)``: WCAG 2.1 A/AA rules; fails on any serious or critical violation.
- ``screenshot(page, "name.png")``: full-page PNG under ``test-artifacts/screenshots/``.

Every test here is marked ``browser`` (``pytest -m "not browser"`` skips them).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.cache import cache
from playwright.sync_api import Browser, ConsoleMessage, Error, Page, Playwright, sync_playwright

REPO_ROOT = Path(__file__).resolve().parents[2]
AXE_JS = REPO_ROOT / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOT_DIR = REPO_ROOT / "test-artifacts" / "screenshots"
CHROMIUM = os.environ.get("PORTAL_CHROMIUM", "/usr/bin/chromium")
# No network on CI machines: keep Chromium from phoning home (and from waiting on it).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# axe-core is served under the live server's own origin (the page intercepts this path), so
# the CSP's script-src 'self' stays enforced while axe runs: an inline <script> would be refused.
AXE_URL_PATH = "/__browser-tests__/axe.min.js"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
# Chromium logs most CSP violations to the console, but the DOM event is the sure signal: it
# fires for every blocked script, style, image, frame, eval and form action, in every frame.
# Init scripts are injected by the browser, outside the page's CSP, so the listener itself is
# never blocked.
CSP_BINDING = "__portalCspViolation"
CSP_LISTENER = f"""
document.addEventListener("securitypolicyviolation", (event) => {{
  window.{CSP_BINDING}(
    `${{event.effectiveDirective}} blocked ${{event.blockedURI || "inline"}}`
    + ` (${{event.sourceFile || event.documentURI}}:${{event.lineNumber}}, ${{event.disposition}})`
  );
}}, true);
"""
BLOCKING_IMPACTS = {"serious", "critical"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything under tests/browser/ is a browser test, marked or not."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    # Playwright's sync API keeps an asyncio loop "running" in this thread while it is started,
    # which makes Django refuse ORM calls from the test (factories, assertions) unless allowed.
    # Package scope: the loop and the permission end with the last browser test, so the rest
    # of the suite keeps Django's async-safety check.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    manager = sync_playwright().start()
    try:
        yield manager
    finally:
        manager.stop()
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """One Chromium for all browser tests (they all live in this package)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: apt-get install chromium, or set PORTAL_CHROMIUM")
    instance = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
    yield instance
    instance.close()


class PageErrors:
    """Console errors, CSP violations and uncaught exceptions seen by one page."""

    def __init__(self) -> None:
        self.messages: list[str] = []
        self._ignored: list[str] = []

    def ignore(self, fragment: str) -> None:
        """Accept errors containing ``fragment`` (e.g. "404" when a test opens a missing page)."""
        self._ignored.append(fragment)

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            location = message.location.get("url", "") if message.location else ""
            self.messages.append(f"console: {message.text} ({location})")

    def on_page_error(self, error: Error) -> None:
        self.messages.append(f"pageerror: {error.message}")

    def on_csp_violation(self, description: str) -> None:
        # Worded like Chromium's console message, so ignore("Content Security Policy") covers both.
        self.messages.append(f"csp: Content Security Policy violation: {description}")

    def unexpected(self) -> list[str]:
        return [m for m in self.messages if not any(fragment in m for fragment in self._ignored)]


@pytest.fixture
def page_errors() -> PageErrors:
    return PageErrors()


@pytest.fixture
def page(browser: Browser, live_server: Any, transactional_db: None, page_errors: PageErrors) -> Iterator[Page]:
    # Login rate limits count in the (process-wide) cache: start every journey from zero.
    cache.clear()
    context = browser.new_context(
        base_url=live_server.url,
        locale="en",
        viewport={"width": 1280, "height": 800},
    )
    context.set_default_timeout(10_000)
    context.route(f"**{AXE_URL_PATH}", lambda route: route.fulfill(path=AXE_JS, content_type="text/javascript"))
    context.expose_function(CSP_BINDING, page_errors.on_csp_violation)
    context.add_init_script(CSP_LISTENER)
    new_page = context.new_page()
    new_page.on("console", page_errors.on_console)
    new_page.on("pageerror", page_errors.on_page_error)
    yield new_page
    context.close()
    unexpected = page_errors.unexpected()
    if unexpected:
        pytest.fail("JavaScript/CSP errors in the browser:\n  " + "\n  ".join(unexpected))


@pytest.fixture
def login() -> Callable[[Page, str, str], None]:
    def sign_in(page: Page, email: str, password: str) -> None:
        """Signs in through allauth's real form and waits until the portal has redirected away."""
        page.goto("/accounts/login/")
        page.locator("#id_login").fill(email)
        page.locator("#id_password").fill(password)
        page.locator("form.form--login [type=submit]").click()
        page.wait_for_url(lambda url: "/accounts/login/" not in url)

    return sign_in


def _format_violations(violations: list[dict[str, Any]]) -> str:
    lines = []
    for violation in violations:
        lines.append(f"[{violation['impact']}] {violation['id']}: {violation['help']} ({violation['helpUrl']})")
        for node in violation["nodes"][:10]:
            lines.append(f"    {json.dumps(node['target'])}: {node.get('failureSummary', '').splitlines()[-1:]}")
    return "\n".join(lines)


@pytest.fixture
def axe_check() -> Callable[..., list[dict[str, Any]]]:
    if not AXE_JS.exists():
        pytest.fail(f"axe-core is missing ({AXE_JS}): run `npm ci` in {REPO_ROOT}")

    def check(page: Page, *, context: str | None = None, disable: tuple[str, ...] = ()) -> list[dict[str, Any]]:
        """Runs axe-core (WCAG 2.1 A/AA) on the page as it is now; fails on serious/critical
        violations and returns the minor/moderate ones for tests that want to look at them."""
        if not page.evaluate("() => typeof window.axe !== 'undefined'"):
            page.add_script_tag(url=AXE_URL_PATH)
        options = {
            "runOnly": {"type": "tag", "values": AXE_TAGS},
            "rules": {rule: {"enabled": False} for rule in disable},
            "resultTypes": ["violations"],
        }
        result = page.evaluate(
            "([context, options]) => axe.run(context || document, options)",
            [context, options],
        )
        violations = result["violations"]
        blocking = [v for v in violations if v["impact"] in BLOCKING_IMPACTS]
        if blocking:
            pytest.fail(
                f"axe-core: {len(blocking)} serious/critical violation(s) on {page.url}\n"
                + _format_violations(blocking)
            )
        return violations

    return check


@pytest.fixture
def screenshot() -> Callable[[Page, str], Path]:
    def take(page: Page, name: str) -> Path:
        SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOT_DIR / (name if name.endswith(".png") else f"{name}.png")
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


# WCAG 2.1 relative luminance / contrast, computed in the page from the computed colours of an
# element and of the nearest ancestor with an opaque background.
CONTRAST_JS = """
el => {
  const rgb = s => s.match(/[\\d.]+/g).map(Number);
  const channel = x => { x /= 255; return x <= 0.03928 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4; };
  const lum = c => { const v = c.slice(0, 3).map(channel); return 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2]; };
  let bg = el, c;
  while (bg) {
    c = rgb(getComputedStyle(bg).backgroundColor);
    if (c.length < 4 || c[3] > 0.99) break;
    bg = bg.parentElement;
  }
  const fg = lum(rgb(getComputedStyle(el).color)), back = lum(c);
  return (Math.max(fg, back) + 0.05) / (Math.min(fg, back) + 0.05);
}
"""


@pytest.fixture
def buttons_contrast_check() -> Callable[[Page], int]:
    def check(page: Page) -> int:
        """Every visible button in the page's main content meets WCAG AA (4.5:1) at rest and
        hovered (axe-core sees only the state the page is in). Returns how many were checked."""
        buttons = page.locator("main .button, main button[type=submit]")
        checked = 0
        for index in range(buttons.count()):
            button = buttons.nth(index)
            if not button.is_visible():
                continue
            label = button.inner_text()
            assert button.evaluate(CONTRAST_JS) >= 4.5, f"{label!r} at rest on {page.url}"
            button.hover()
            assert button.evaluate(CONTRAST_JS) >= 4.5, f"{label!r} hovered on {page.url}"
            checked += 1
        return checked

    return check
