"""Headless Debian Chromium driven by Playwright, for tests that click through the hub's pages."""

from __future__ import annotations

import shutil

from playwright.sync_api import Browser, Page, sync_playwright

from tests.support.edge_ca import chromium_args

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# no sandbox as root; no calls home (this machine's network is closed, and they slow every start)
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 # Chromium ends every open HTTP/2 session with ERR_NETWORK_CHANGED when a network
                 # interface appears, and on this host Docker adds one with every container a test
                 # starts; HTTP/1.1 requests to loopback are spared. People's browsers are elsewhere.
                 "--disable-http2"]


def launch():
    """(playwright, browser); stop both with `close`."""
    playwright = sync_playwright().start()
    return playwright, playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS + chromium_args())


def login(browser: Browser, hub_url: str, user: str, password: str) -> Page:
    """A fresh browser context (own cookies) logged in through the hub's login page."""
    page = browser.new_context().new_page()
    page.goto(f"{hub_url}/hub/login")
    page.fill("#username_input", user)
    page.fill("#password_input", password)
    page.click("#login_submit")
    page.wait_for_url(lambda url: "/hub/login" not in url)
    return page
