"""The demo page in a real headless browser (Debian's chromium + chromedriver through selenium), screenshot kept.

Skipped, saying why, where chromium / chromedriver are not installed
(`apt-get install chromium chromium-driver`).
"""

import os
import shutil
import socket
import subprocess
import sys
import time

import httpx
import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (CHROMIUM and CHROMEDRIVER), reason="needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)"
    ),
]


@pytest.fixture(scope="module")
def server_url(served_models, generation_models):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "nlp_apps", "serve", "--model-base", str(served_models[0]), "--model-base", str(generation_models[0]),
         "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stdout.read()
        try:
            if httpx.get(f"{url}/demo/models", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(1)
    yield url
    process.terminate()
    process.communicate(timeout=60)


def test_demo_page_shows_all_four_tasks(server_url, tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1200,2000"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        driver.get(f"{server_url}/?run")
        wait = WebDriverWait(driver, 120)
        entities = wait.until(expected_conditions.presence_of_element_located((By.CSS_SELECTOR, "[data-testid=entities]")))
        sentiment = wait.until(expected_conditions.presence_of_element_located((By.CSS_SELECTOR, "[data-testid=sentiment]")))
        marks = entities.find_elements(By.CSS_SELECTOR, "mark.ent")
        # The sample tagger finds the README's entities; each mark shows its text and type label.
        labels = {mark.find_element(By.CSS_SELECTOR, "span.label").text.upper() for mark in marks}
        assert marks and labels <= {"PER", "ORG", "LOC", "MISC"}, entities.text
        assert "Valdoria" in entities.text
        words = sentiment.find_elements(By.CSS_SELECTOR, "span.word")
        assert len(words) >= 5
        shades = {word.value_of_css_property("background-color") for word in words}
        assert len(shades) > 1  # attention varies across the words
        assert sentiment.find_element(By.CSS_SELECTOR, "span[class^=label-]").text in {"pos", "neg"}
        translation = wait.until(expected_conditions.presence_of_element_located((By.CSS_SELECTOR, "[data-testid=translation]")))
        assert translation.find_element(By.TAG_NAME, "b").text.strip()
        cells = translation.find_elements(By.CSS_SELECTOR, "table.heat td")
        assert cells and len({cell.value_of_css_property("background-color") for cell in cells}) > 1
        generation = wait.until(expected_conditions.presence_of_element_located((By.CSS_SELECTOR, "[data-testid=generation]")))
        assert generation.text.strip()
        assert driver.find_element(By.CSS_SELECTOR, "input[name=temperature]").get_attribute("value") == "0.8"
        assert not driver.find_elements(By.CSS_SELECTOR, ".error")
        screenshot = tmp_path / "demo.png"
        driver.save_screenshot(str(screenshot))
        kept = os.environ.get("NLP_APPS_SCREENSHOT_DIR")
        if kept:
            shutil.copy(screenshot, os.path.join(kept, "demo_page.png"))
        assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and screenshot.stat().st_size > 10_000
    finally:
        driver.quit()
