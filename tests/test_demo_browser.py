"""The web demo in headless Chromium (Debian's /usr/bin/chromium, driven by playwright): what a
person does in the page, against the in-process server of conftest's `demo_server`.
Screenshots go to test-artifacts/."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
# Without the networking flags Chromium keeps trying to reach Google's services, which floods
# a closed network.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
ASSETS = Path(__import__("tempfile").gettempdir()) / "emogen-demo-assets"
TIMEOUT_MS = 90_000  # a first request loads its pipelines


@pytest.fixture(scope="module")
def page(demo_server):
    if not CHROMIUM.is_file():
        reason = f"no Chromium at {CHROMIUM} (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(reason + "; CI must run the browser tests")
        pytest.skip(reason)
    sync_api = pytest.importorskip("playwright.sync_api")
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(demo_server.local_url)
        page.wait_for_selector("#speech-button")
        yield page
        browser.close()


def _tab(page, name: str) -> None:
    page.get_by_role("tab", name=name, exact=True).click()


def _set_number(page, elem_id: str, value: float) -> None:
    box = page.locator(f"#{elem_id} input[type=number]")
    box.fill(str(value))
    box.press("Enter")


def _screenshot(page, name: str, full_page: bool = True) -> None:
    page.screenshot(path=str(ARTIFACTS / f"demo-{name}.png"), full_page=full_page)


def test_clicking_the_plane_moves_the_sliders(page):
    from emogen.demo.plots import PLANE_PIXELS, plane_geometry

    _tab(page, "Speech")
    image = page.locator("#speech-va-plane img")
    box = image.bounding_box()
    x, y = plane_geometry().to_pixel(0.5, -0.5)  # in the image's own pixels
    scale = box["width"] / PLANE_PIXELS
    drawn = image.get_attribute("src")
    image.click(position={"x": x * scale, "y": y * scale})
    valence = page.locator("#speech-valence input[type=number]")
    arousal = page.locator("#speech-arousal input[type=number]")
    page.wait_for_function(
        "() => document.querySelector('#speech-emotion textarea').value.startsWith('v=')"
    )
    assert float(valence.input_value()) == pytest.approx(0.5, abs=0.03)
    assert float(arousal.input_value()) == pytest.approx(-0.5, abs=0.03)
    assert page.locator("#speech-emotion-mode input[value=vad]").is_checked()
    emotion = page.locator("#speech-emotion textarea").input_value()
    assert re.fullmatch(r"v=0\.\d+ a=-0\.\d+ d=0 i=0\.8", emotion), emotion
    # The summary follows (effective = intensity 0.8 x the point) and the plane is redrawn.
    summary = page.locator("#speech-emotion-summary", has_text="i=0.8")
    summary.wait_for()
    valence_shown = float(re.search(r"effective v=([-+][\d.]+)", summary.inner_text()).group(1))
    assert valence_shown == pytest.approx(0.4, abs=0.03)
    page.wait_for_function(
        "drawn => document.querySelector('#speech-va-plane img').src !== drawn", arg=drawn
    )
    _screenshot(page, "plane-click")


def test_speech_from_the_page(page):
    _tab(page, "Speech")
    page.locator("#speech-text textarea").fill("Hello there, how are you?")
    page.locator("#speech-emotion-mode").get_by_text("Category", exact=True).click()
    page.locator("#speech-button").click()
    info = page.locator("#speech-info")
    info.get_by_text(re.compile(r"s at 22050 Hz")).wait_for()
    assert "Hello there, how are you?" in info.inner_text()
    assert "happy:0.8" in info.inner_text()
    page.locator("#speech-audio audio[src], #speech-audio [src*='speech-']").first.wait_for(
        state="attached"
    )
    page.locator("#speech-pitch img").wait_for()
    _screenshot(page, "speech")


def _toast(page, text: str):
    """Gradio's error message in the page that contains `text` (waits for it)."""
    toast = page.locator("[data-testid=toast-text]", has_text=text)
    toast.first.wait_for()
    assert toast.first.is_visible()
    return toast


def test_bad_input_in_the_page_shows_a_message(page, demo_server, tmp_path):
    notes, big = tmp_path / "notes.txt", tmp_path / "big.wav"
    notes.write_text("not an image")
    big.write_bytes(b"\0" * (demo_server.emogen_limits.max_upload_bytes + 1))
    _tab(page, "Talking head")
    page.locator("#talk-button").click()
    _toast(page, "no portrait: upload a photo")
    page.set_input_files("#talk-portrait input[type=file]", str(notes))
    _toast(page, "Invalid file type: notes.txt")
    _tab(page, "Voice conversion")
    page.set_input_files("#vc-input input[type=file]", str(big))
    _toast(page, "exceed the maximum allowed size of 1.0 Mb")
    _screenshot(page, "bad-input", full_page=False)


def test_talking_head_from_the_page(page):
    _tab(page, "Talking head")
    page.set_input_files("#talk-portrait input[type=file]", str(ASSETS / "astronaut.png"))
    page.locator("#talk-portrait img").wait_for()
    page.locator("#talk-text textarea").fill("Hi there.")
    _set_number(page, "talk-size", 128)
    _set_number(page, "talk-fps", 8)
    page.locator("#talk-button").click()
    page.locator("#talk-info").get_by_text(re.compile(r"frames at 8 fps")).wait_for()
    video = page.locator("#talk-video video")
    video.wait_for(state="attached")
    assert ".mp4" in (video.get_attribute("src") or "")
    _screenshot(page, "talking-head")


def test_chat_from_the_page_and_an_empty_message(page):
    from emogen.dialogue.planner import STRATEGIES

    _tab(page, "Chat")
    message = page.locator("#chat-message textarea")
    message.fill("My dog died on Sunday and I can't stop crying.")
    page.locator("#chat-button").click()
    rows = page.locator("#chat-turns table tbody tr")
    rows.first.wait_for()
    assert any(strategy in rows.first.inner_text() for strategy in STRATEGIES)
    bot = page.locator("#chat-bot")
    assert "My dog died on Sunday" in bot.inner_text()
    assert len(bot.inner_text()) > 80  # the reply is there too
    assert message.input_value() == ""  # cleared for the next message
    page.locator("#chat-trajectory img").wait_for()
    _screenshot(page, "chat")

    message.fill("")
    page.locator("#chat-button").click()
    _toast(page, "the message is empty")
    _screenshot(page, "chat-error", full_page=False)
    # The page keeps working after the error.
    message.fill("Thank you for listening.")
    page.locator("#chat-button").click()
    rows.nth(1).wait_for()
