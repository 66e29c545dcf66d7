"""The annotation page in a real browser: Debian's headless Chromium driven by Selenium.

Loads the page from a live uvicorn server, opens a video from the list, clicks on the canvas,
checks that the mask overlay changed the canvas pixels where the server's mask is, saves, and
finds the session file. Skips only when Chromium (or its driver) is not installed; a broken
page (a JavaScript error, a missing element, no overlay) fails it. ``IVOS_SCREENSHOT=path``
also keeps a screenshot of the annotation screen there.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from tests._annotate_fixtures import make_config, make_root, make_spec

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
URI = "davis/JPEGImages/480p/synth"
H, W = 240, 320

pytestmark = pytest.mark.skipif(
    not (os.path.exists(CHROMIUM) and os.path.exists(DRIVER)),
    reason="Chromium / chromedriver not installed (apt-get install chromium chromium-driver; `make setup` does it)",
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    import uvicorn

    from flows.annotate.app import create_app
    from ivos_core.interactive.methods import GrabCutMethod

    tmp = tmp_path_factory.mktemp("browser")
    root = make_root(tmp / "data", height=H, width=W, n_frames=4)
    config = make_config(tmp, root, spec=make_spec(tmp), method=GrabCutMethod())
    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(create_app(config), host="127.0.0.1", port=port, log_level="warning"))
    th = threading.Thread(target=srv.run, daemon=True)
    th.start()
    for _ in range(300):
        if srv.started:
            break
        time.sleep(0.05)
    assert srv.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}", config, root
    srv.should_exit = True
    th.join(10)


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="ivos-chromium-")
    opts = Options()
    opts.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--window-size=1100,900"):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=opts)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def _wait(driver, js: str, timeout: float = 60.0, what: str = ""):
    t0 = time.time()
    while time.time() - t0 < timeout:
        val = driver.execute_script(js)
        if val:
            return val
        time.sleep(0.1)
    logs = [e["message"] for e in driver.get_log("browser")]
    raise AssertionError(f"timed out waiting for {what or js}; browser console: {logs}")


PIXELS = "const c=document.getElementById('canvas');return Array.from(c.getContext('2d').getImageData(0,0,c.width,c.height).data);"


def test_click_shows_overlay_then_save_writes_the_file(server, browser):
    from PIL import Image
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    from ivos_core.interactions import load_session

    url, config, root = server
    browser.get(url + "/")
    _wait(browser, "return document.body.dataset.ready === '1'", what="the page to start (JS ran)")
    _wait(browser, f"return !!document.querySelector('.card[data-uri=\"{URI}\"]')", what="the video list")
    browser.find_element(By.CSS_SELECTOR, f'.card[data-uri="{URI}"]').click()
    _wait(browser, "return window.ivosState && window.ivosState.img !== null && document.getElementById('canvas').width === %d" % W,
          what="the first frame on the canvas")
    before = np.array(browser.execute_script(PIXELS), np.int16).reshape(H, W, 4)

    # click the object's centre (its ground-truth mask says where it is)
    gt = np.array(Image.open(root / "davis/Annotations/480p/synth/00000.png")) > 0
    ys, xs = np.nonzero(gt)
    cx, cy = int(np.median(xs)), int(np.median(ys))
    canvas = browser.find_element(By.ID, "canvas")
    rect = browser.execute_script("const r=arguments[0].getBoundingClientRect();return [r.width, r.height];", canvas)
    sx, sy = rect[0] / W, rect[1] / H
    ActionChains(browser).move_to_element_with_offset(canvas, int((cx + 0.5) * sx - rect[0] / 2), int((cy + 0.5) * sy - rect[1] / 2)).click().perform()
    area = int(_wait(browser, "const a=document.getElementById('canvas').dataset.maskArea;return a && Number(a) > 0 ? a : null;",
                     what="a mask from the server"))
    after = np.array(browser.execute_script(PIXELS), np.int16).reshape(H, W, 4)

    # the server's mask for that frame; the overlay: pixels inside it (away from the click marker) changed
    sid = browser.execute_script("return window.ivosState.sid")
    mask = _server_mask(url, sid)
    assert mask.sum() == area
    yy, xx = np.mgrid[:H, :W]
    far = mask & ((yy - cy) ** 2 + (xx - cx) ** 2 > 10 ** 2)
    assert far.sum() > 50, "GrabCut from one click on the object should cover more than the click marker"
    changed = np.abs(after[..., :3] - before[..., :3]).sum(-1) > 20
    assert changed[far].mean() > 0.9, "the overlay is drawn over the mask"
    assert changed[~mask & ((yy - cy) ** 2 + (xx - cx) ** 2 > 10 ** 2)].mean() < 0.05, "and only there"
    assert "mask" in browser.find_element(By.ID, "status").text

    shot = os.environ.get("IVOS_SCREENSHOT")
    if shot:
        Path(shot).parent.mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(shot)

    browser.find_element(By.ID, "save").click()
    saved = _wait(browser, "return document.getElementById('status').dataset.saved || null", what="the save to finish")
    path = Path(saved)
    assert path.parent == config.sessions_dir and path.is_file()
    s = load_session(path)
    assert s.source == "recorded" and s.video.uri == URI and len(s.frames[0].iterations) == 1
    c = s.frames[0].iterations[0].inputs[0]
    assert c.kind == "click" and c.positive and abs(c.x - cx) <= 1.5 and abs(c.y - cy) <= 1.5

    severe = [e for e in browser.get_log("browser") if e.get("level") == "SEVERE"]
    assert not severe, f"JavaScript errors in the page: {severe}"


def _server_mask(url: str, sid: str) -> np.ndarray:
    import httpx

    r = httpx.post(f"{url}/api/sessions/{sid}/select", json={"frame_index": 0}, timeout=30)
    r.raise_for_status()
    rle = r.json()["mask"]
    h, w = rle["size"]
    flat = np.zeros(h * w, bool)
    pos, on = 0, False
    for n in rle["counts"]:
        if on:
            flat[pos : pos + n] = True
        pos += n
        on = not on
    return flat.reshape(h, w)
