"""The explorer as its users meet it: a widget in a real JupyterLab, driven by a real browser.

JupyterLab runs on a free port with a token and its own temporary config, data, runtime and
settings folders; Debian's chromium (Playwright's own browser download is not reachable here) is
driven by Playwright. The notebook calls explore(); the test changes the image, the degradation
and the divider and checks that the figure changes each time. `.ci/run` installs chromium when it
is missing; without it (or without playwright) this test fails rather than skips, so that CI never
passes without having run it."""

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "srlab-test-token"
TIMEOUT_MS = 120_000  # per step; a loaded 2-core machine can take this long to start a kernel


def chromium() -> str:
    path = os.environ.get("SRLAB_CHROMIUM") or shutil.which("chromium")
    if path is None:
        pytest.fail("no chromium: `apt-get install chromium` (or set SRLAB_CHROMIUM)")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_notebook(path: Path) -> None:
    code = (
        "from srlab import data, explorer\n"
        "images = {k: v[:96, :96] for k, v in data.bundled_images('test').items()}\n"
        "explorer.explore(images=images, presets=False)"
    )
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    nb.metadata["kernelspec"] = dict(name="python3", display_name="Python 3", language="python")
    nbformat.write(nb, path)


@pytest.fixture
def jupyterlab(tmp_path):
    """A JupyterLab server on a free port; yields its base URL. Its config is all temporary."""
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
        "JUPYTER_DATA_DIR": str(tmp_path / "data"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        "IPYTHONDIR": str(tmp_path / "ipython"),
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
    }
    (tmp_path / "work").mkdir()
    write_notebook(tmp_path / "work" / "explore.ipynb")
    cmd = [
        sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}",
        "--ServerApp.ip=127.0.0.1", "--allow-root", f"--IdentityProvider.token={TOKEN}",
        f"--ServerApp.root_dir={tmp_path / 'work'}",
        f"--LabApp.user_settings_dir={tmp_path / 'settings'}",
        f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}",
    ]  # fmt: skip
    log = open(tmp_path / "jupyterlab.log", "w")
    server = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + TIMEOUT_MS / 1000
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/status?token={TOKEN}", timeout=5) as r:
                    json.load(r)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    pytest.fail(
                        "JupyterLab did not start:\n" + (tmp_path / "jupyterlab.log").read_text()
                    )
                time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


@pytest.mark.browser
@pytest.mark.slow
def test_explorer_widget_redraws_in_jupyterlab(jupyterlab):
    sync_api = _playwright()
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=chromium(), args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(f"{jupyterlab}/lab/tree/explore.ipynb?token={TOKEN}")
            page.wait_for_selector(".jp-Notebook")
            wait_idle(page)
            page.locator(".lm-MenuBar-itemLabel:text-is('Run')").click()
            page.locator(".lm-Menu-itemLabel:text-is('Run All Cells')").click()
            figure = page.locator(".widget-output img").first
            figure.wait_for()
            wait_idle(page)

            def changes(action) -> None:
                before = figure.get_attribute("src")
                action()
                page.wait_for_function(
                    "before => { const img = document.querySelector('.widget-output img');"
                    " return img !== null && img.getAttribute('src') !== before; }",
                    arg=before,
                )
                wait_idle(page)

            image = page.locator(".widget-dropdown:has(label:text-is('image')) select")
            changes(lambda: image.select_option(index=1))
            degradation = page.locator(".widget-toggle-buttons button:text-is('BD')")
            changes(degradation.click)
            readout = page.locator(
                ".widget-slider:has(label:text-is('bicubic | SR')) .widget-readout"
            )

            def move_divider() -> None:
                readout.click()
                page.keyboard.press("Control+A")
                page.keyboard.type("0.20")
                page.keyboard.press("Enter")

            changes(move_divider)
            assert (
                page.locator(".widget-output .jp-RenderedText[data-mime-type*='stderr']").count()
                == 0
            )
        finally:
            browser.close()


def _playwright():
    try:
        import playwright.sync_api as sync_api
    except ImportError:
        pytest.fail("playwright is not installed: pip install -e '.[dev]'")
    return sync_api


def wait_idle(page) -> None:
    """Until the notebook's kernel is started and idle (the status bar reads "<kernel> | Idle";
    before a kernel starts it reads "No Kernel | ..." and the execution indicator already says
    idle). JupyterLab sometimes asks which kernel to start ("Select Kernel"): its choice, the
    notebook's, is accepted."""
    idle = page.locator(".jp-StatusBar-TextItem", has_text=re.compile(r"^(?!No Kernel).* \| Idle$"))
    dialog = page.locator(".jp-Dialog:has-text('Select Kernel') .jp-mod-accept")
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while time.monotonic() < deadline:
        if dialog.count():
            dialog.first.click()
        elif idle.count():
            return
        page.wait_for_timeout(250)
    pytest.fail("the kernel did not become idle")
