"""eddy's dashboard as a process, and a real Chromium to look at it.

Browser tests, `make screenshots` and the dashboard benchmark start the
dashboard with `python -m eddy_web` on a free loopback port and drive Debian's
Chromium through its chromedriver: no browser download, no network.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.remote.webelement import WebElement

from eddy_testenv.controlplane import free_port
from eddy_testenv.process import Process, ProcessError
from eddy_testenv.process import Service as Running

T = TypeVar("T")
_URL = re.compile(r"eddy dashboard: (?:open (\S+)|serving on )")

CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--no-first-run",
    "--no-default-browser-check",
    "--metrics-recording-only",
    "--hide-scrollbars",
    "--force-color-profile=srgb",
)


class DashboardProcess(Running):
    """`python -m eddy_web` with a kubeconfig; `login_url` logs a browser in."""

    def __init__(
        self, kubeconfig: Path, log_dir: Path, args: Sequence[str] = (), name: str = "dashboard"
    ) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.login_url = ""
        argv = [
            sys.executable, "-m", "eddy_web", f"--kubeconfig={kubeconfig}",
            "--address=127.0.0.1", f"--port={self.port}", *args,
        ]  # fmt: skip
        self.process = Process(name, argv, log_dir / f"{name}.log")

    def start(self, timeout: float = 30.0) -> None:
        self.process.start(env=dict(os.environ))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            code = self.process.exit_code()
            if code is not None:
                raise ProcessError(f"the dashboard exited with code {code}:\n{self.process.tail()}")
            found = _URL.search(self.process.tail(50))
            if found:
                self.login_url = found.group(1) or ""
                return
            time.sleep(0.1)
        self.stop()
        raise ProcessError(f"the dashboard did not start in {timeout:.0f}s:\n{self.process.tail()}")

    def stop(self) -> None:
        self.process.stop()


def find_chromium() -> tuple[str, str]:
    """(browser, driver) paths: $EDDY_CHROMIUM/$EDDY_CHROMEDRIVER, else Debian's."""
    browser = os.environ.get("EDDY_CHROMIUM") or shutil.which("chromium") or ""
    driver = os.environ.get("EDDY_CHROMEDRIVER") or shutil.which("chromedriver") or ""
    if not browser or not driver:
        raise ProcessError(
            "chromium and chromedriver not found: run 'make system-deps' (Debian's "
            "chromium and chromium-driver packages)"
        )
    return browser, driver


class Browser:
    """Headless Chromium, fresh profile, driven through chromedriver."""

    def __init__(self, width: int = 1440, height: int = 900) -> None:
        browser, driver = find_chromium()
        self.profile = Path(tempfile.mkdtemp(prefix="eddy-chromium-"))
        options = webdriver.ChromeOptions()
        options.binary_location = browser
        for flag in CHROMIUM_FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--user-data-dir={self.profile}")
        options.add_argument(f"--window-size={width},{height}")
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        # Selenium must not look for (or download) a driver of its own.
        os.environ.setdefault("SE_OFFLINE", "true")
        self.driver = webdriver.Chrome(options=options, service=Service(executable_path=driver))
        self.driver.set_page_load_timeout(30)

    def close(self) -> None:
        try:
            self.driver.quit()
        finally:
            shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(self, url: str) -> None:
        self.driver.get(url)

    def wait(self, what: str, check: Callable[[], T | None], timeout: float = 30.0) -> T:
        """Poll `check` until it returns something truthy; fail naming `what`."""
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            try:
                found = check()
                if found:
                    return found
            except WebDriverException as err:
                last = err
            time.sleep(0.1)
        detail = f" (last error: {last.msg if isinstance(last, WebDriverException) else last})"
        raise AssertionError(
            f"timed out after {timeout:.0f}s waiting until {what}{detail if last else ''}"
        )

    def css(self, selector: str) -> list[WebElement]:
        return list(self.driver.find_elements("css selector", selector))

    def one(self, selector: str, timeout: float = 30.0) -> WebElement:
        def first() -> WebElement | None:
            found = self.css(selector)
            return found[0] if found else None

        return self.wait(f"{selector} is on the page", first, timeout)

    def click(self, selector: str, timeout: float = 30.0) -> None:
        """Click the element, again if the page redrew it in between."""

        def clicked() -> bool:
            self.one(selector, timeout).click()
            return True

        self.wait(f"{selector} can be clicked", clicked, timeout)

    def text(self, selector: str) -> str:
        found = self.css(selector)
        return found[0].text if found else ""

    def script(self, code: str, *args: Any) -> Any:
        return self.driver.execute_script(code, *args)

    def errors(self) -> list[str]:
        """JavaScript errors and failed loads the page reported to the console."""
        logs: list[dict[str, Any]] = self.driver.get_log("browser")  # type: ignore[no-untyped-call]
        return [str(e.get("message")) for e in logs if e.get("level") == "SEVERE"]

    def screenshot(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.driver.save_screenshot(str(path))
