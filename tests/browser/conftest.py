"""JupyterLab on a free local port with its own settings, and headless Debian Chromium driven by Playwright.

Run with ``pytest -m browser``. Without Chromium or Playwright the tests are skipped with the
install command; under CI (``CI`` set) a missing browser fails instead, so CI cannot pass by skipping.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from gan_helpers.data import project_dir

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip
INSTALL_HINT = "install with `apt-get install chromium` and `pip install playwright` (no browser download)"
# Lab settings for a quiet page: no news or update checks. Everything else is JupyterLab's default,
# the notebook's windowing mode included (cells off screen are not rendered), as a learner has it.
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false", "checkForUpdates": False,
    },
}  # fmt: skip


def _missing(what: str) -> None:
    message = f"{what} not found: {INSTALL_HINT}"
    if os.environ.get("CI"):
        pytest.fail(f"{message}. CI must run the browser test, so .ci/run installs both.")
    pytest.skip(message)


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        _missing("Chromium")
    return path


@pytest.fixture(scope="session")
def browser(chromium_path):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("Playwright")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@dataclass
class Lab:
    url: str
    token: str
    root: Path

    def notebook_url(self, name: str) -> str:
        return f"{self.url}/lab/tree/notebooks/{name}?reset&token={self.token}"  # reset: only this tab


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def jupyter_lab(tmp_path_factory) -> Lab:
    """JupyterLab serving copies of the notebooks, under the small-run switch; stopped at the end."""
    home = tmp_path_factory.mktemp("jupyter")
    root = home / "root"
    shutil.copytree(project_dir() / "notebooks", root / "notebooks", ignore=shutil.ignore_patterns(".*"))
    for name, values in LAB_SETTINGS.items():
        (home / "settings" / name).parent.mkdir(parents=True, exist_ok=True)
        (home / "settings" / name).write_text(json.dumps(values))
    env = {**os.environ, "FASHION_GAN_SMALL_RUN": "1", "JUPYTER_CONFIG_DIR": str(home / "config"),
           "JUPYTER_RUNTIME_DIR": str(home / "runtime"), "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces")}  # fmt: skip
    port, token = free_port(), secrets.token_hex(16)
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
               f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
               f"--ServerApp.root_dir={root}", "--LabApp.news_url=None", "--allow-root"]  # fmt: skip
    log = (home / "lab.log").open("w")
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    lab = Lab(f"http://127.0.0.1:{port}", token, root)
    try:
        _wait_until_up(lab, server, home / "lab.log")
        yield lab
    finally:
        _stop(server)
        log.close()


def _wait_until_up(lab: Lab, server: subprocess.Popen, log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"JupyterLab exited with {server.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{lab.url}/api/status?token={lab.token}", timeout=2) as reply:
                if reply.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"JupyterLab did not answer within {timeout:.0f} s:\n{log.read_text()[-3000:]}")


def _stop(server: subprocess.Popen) -> None:
    """Stop the server and its kernels (one process group), politely first."""
    if server.poll() is not None:
        return
    for sig, wait in ((signal.SIGINT, 10), (signal.SIGKILL, 10)):
        try:
            os.killpg(server.pid, sig)
            if sig == signal.SIGINT:
                time.sleep(0.2)
                os.killpg(server.pid, sig)  # Jupyter asks for a second Ctrl-C to shut down
            server.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue
        except ProcessLookupError:
            return
