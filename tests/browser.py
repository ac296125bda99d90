"""Headless Chromium for the tests (Debian's chromium and chromium-driver; .ci/run installs them, nothing is
downloaded at run time): open a local page, read its console and its DOM."""
from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM, DRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--window-size=1200,3000")


@contextlib.contextmanager
def open_page(path: Path, scratch: Path) -> Iterator["object"]:
    """A Chromium session that has loaded the page at `path` (its console log kept)."""
    if not Path(CHROMIUM).exists() or shutil.which("chromedriver") is None:
        pytest.fail("headless Chromium is missing: `apt-get install chromium chromium-driver` (.ci/run does)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--user-data-dir={scratch / 'chromium-profile'}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver") or DRIVER), options=options)
    try:
        driver.get(Path(path).resolve().as_uri())
        driver.execute_script("return document.readyState")
        yield driver
    finally:
        driver.quit()
