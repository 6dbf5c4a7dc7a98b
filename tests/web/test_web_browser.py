"""The gallery in a real browser: Playwright drives Debian's chromium (/usr/bin/chromium; .ci/run
installs it) at a phone's viewport, signs in as the Telegram Mini App does (Telegram.WebApp.initData
posted by the page's script), sees the grid with the remembered photo, renames a concept, forgets
one, and as a group moderator locks the group. Screenshots go to the test's tmp dir (and, when
RAPBOT_WEB_SCREENSHOT_DIR is set, the grid's to that folder, for docs/)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from web_testkit import ALICE, CLUB, Gallery, init_data, jpeg, remember, tg

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian's chromium is not installed (apt-get install chromium; .ci/run does it)"
)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def alices_things(gallery: Gallery) -> Gallery:
    async def seed() -> None:
        await remember(gallery.client, tg(ALICE), "toy", "a red ball", jpeg("coffee"))
        await remember(gallery.client, tg(ALICE), "rocket", "the launch we saw", jpeg("rocket"))

    asyncio.run(seed())
    return gallery


@pytest.fixture
def page(alices_things: Gallery, tmp_path: Path) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)
        # What Telegram's webview provides: its script (not reachable here: an empty one) and
        # Telegram.WebApp with the initData Telegram signed for this user.
        context.route("https://telegram.org/**", lambda route: route.fulfill(body="", content_type="text/javascript"))
        signed = json.dumps(init_data(ALICE))
        context.add_init_script(f"window.Telegram = {{WebApp: {{initData: {signed}, ready() {{}}, expand() {{}}}}}};")
        opened = context.new_page()
        try:
            yield opened
        finally:
            context.close()
            browser.close()


def shot(page: object, tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
    assert path.stat().st_size > 0
    return path


def test_gallery_in_a_phone_browser(alices_things: Gallery, page: object, tmp_path: Path) -> None:
    from playwright.sync_api import Page, expect

    assert isinstance(page, Page)
    base = alices_things.url
    page.goto(f"{base}/tg")
    page.wait_for_url(f"{base}/")
    expect(page.get_by_role("link", name="My memory")).to_be_visible()
    page.get_by_role("link", name="My memory").click()
    page.wait_for_url(f"{base}/m/me")

    # The grid shows each concept's remembered photo (loaded, not a broken image) with its name.
    tile = page.locator(".tile", has_text="bo").first
    expect(tile).to_be_visible()
    photo = page.locator('.tile img[alt="bo"]')
    photo.scroll_into_view_if_needed()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=photo.element_handle())
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")  # no sideways scroll
    grid_png = shot(page, tmp_path, "grid")
    wanted = os.environ.get("RAPBOT_WEB_SCREENSHOT_DIR")
    if wanted:
        shutil.copy(grid_png, Path(wanted) / "gallery.png")

    # Rename bo.
    page.locator('.tile a:has(img[alt="bo"])').click()
    page.get_by_label("New name").fill("bobo")
    page.get_by_role("button", name="Rename").click()
    expect(page.locator(".flash")).to_contain_text("renamed <bo> to <bobo>")  # the chats' own reply (one door)
    expect(page.get_by_role("heading", name="bobo")).to_be_visible()
    shot(page, tmp_path, "renamed")

    # Forget toy, after confirming.
    page.goto(f"{base}/m/me/concept?name=toy")
    page.get_by_text("Forget toy…").click()
    page.get_by_role("button", name="Forget toy for good").click()
    page.wait_for_url(f"{base}/m/me")
    expect(page.locator(".flash")).to_contain_text("forgot <toy>")
    expect(page.locator('.tile img[alt="toy"]')).to_have_count(0)
    expect(page.locator('.tile img[alt="bobo"]')).to_have_count(1)
    shot(page, tmp_path, "forgotten")

    # As the club's moderator: lock the group.
    page.goto(f"{base}/")
    page.get_by_role("link", name="Shiba Club").click()
    page.get_by_role("link", name="Settings").click()
    page.get_by_label("Locked").check()
    page.get_by_role("button", name="Save settings").click()
    expect(page.locator(".flash")).to_contain_text("Saved the settings")
    page.goto(f"{base}/m/g{CLUB}")
    expect(page.locator("h1 .badge")).to_have_text("locked")  # read back from the store
    shot(page, tmp_path, "locked")
