"""The console's browser test harness: a real gateway with the development issuer (`gateway
demo`, everything on 127.0.0.1:0) and a real Chromium per test, driven by Selenium through
Debian's chromedriver.

Nothing is downloaded at run time: the driver and browser paths are given explicitly and
SE_OFFLINE=true keeps Selenium Manager off. Every wait has a deadline; nothing sleeps to
synchronise. The gateway binary is $GATEWAY_BIN (default target/debug/gateway); scripts/test
builds it and scripts/browser-setup installs what this needs.
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "target" / "console-screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
# As root Chromium needs --no-sandbox; the rest keep it from reaching for the network (this
# machine's closed network refuses it, many times a second) or for a first-run UI.
CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1280,900",
]
# How long the demo may take to start (it generates RSA keys) and anything else to happen.
START_DEADLINE = 60.0
DEADLINE = 10.0

os.environ["SE_OFFLINE"] = "true"


def gateway_bin() -> str:
    path = os.environ.get("GATEWAY_BIN", str(REPO / "target" / "debug" / "gateway"))
    if not os.access(path, os.X_OK):
        pytest.fail(f"no gateway binary at {path}: run `cargo build` or set GATEWAY_BIN")
    return path


class Lines:
    """A process's output, line by line, read on a thread so a wait can have a deadline."""

    def __init__(self, stream) -> None:
        self._queue: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream) -> None:
        for line in stream:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def next_matching(self, what: str, pick, timeout: float = DEADLINE) -> str:
        """The next line `pick` accepts (lines before it are kept in `seen`)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out waiting for {what}; seen so far:\n" + "\n".join(self.seen[-40:]))
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError(f"the process ended while waiting for {what}:\n" + "\n".join(self.seen[-40:]))
            self.seen.append(line)
            if pick(line):
                return line


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: str


def http(method: str, url: str, headers: dict[str, str] | None = None, timeout: float = DEADLINE) -> Response:
    request = urllib.request.Request(url, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return Response(answer.status, {k.lower(): v for k, v in answer.headers.items()}, answer.read().decode())
    except urllib.error.HTTPError as refused:
        return Response(refused.code, {k.lower(): v for k, v in refused.headers.items()}, refused.read().decode())


@dataclass
class Demo:
    """`gateway demo` running: its addresses, its policy file, its clients' tokens, and the
    access lines it writes (text, on stderr)."""

    process: subprocess.Popen
    gateway: str
    admin: str
    config: Path
    credentials: dict[str, Path]
    access: Lines
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def policy(self) -> Path:
        return self.config.parent / "policy.yaml"

    def token(self, client: str) -> str:
        """An access token for a demo client (`clientco`, `clientco-readonly`), from the
        development issuer's token endpoint through `gateway token`."""
        if client not in self.tokens:
            made = subprocess.run(
                [gateway_bin(), "token", "--credentials", str(self.credentials[client])],
                capture_output=True, text=True, timeout=DEADLINE, check=False,
            )
            assert made.returncode == 0, made.stderr
            self.tokens[client] = made.stdout.strip()
        return self.tokens[client]

    def call(self, path: str, token: str | None = None, headers: dict[str, str] | None = None) -> tuple[int, str, str]:
        """The data plane's answer to GET `path`: (status, the access line's reason, request id)."""
        headers = dict(headers or {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        answer = http("GET", self.gateway + path, headers)
        request_id = answer.headers["x-request-id"]
        # The text log quotes its values as Rust's Debug does.
        quoted = request_id.replace("\\", "\\\\").replace('"', '\\"')
        line = self.access.next_matching(f"the access line of {request_id}", lambda l: f'request_id="{quoted}"' in l)
        reason = re.search(r' reason="([^"]*)"', line)
        assert reason, line
        return answer.status, reason.group(1), request_id

    def console(self, path: str = "/") -> str:
        return self.admin + path


@pytest.fixture(scope="session")
def demo():
    """One `gateway demo` for the whole run (each test leaves its policy as it found it)."""
    process = subprocess.Popen(
        [gateway_bin(), "demo"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
        # The demo logs warnings only; the access lines are what Try is compared with.
        env={**{k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")},
             "GATEWAY_LOG": "warn,gateway::access=info", "NO_COLOR": "1"},
    )
    out = Lines(process.stdout)
    access = Lines(process.stderr)
    try:
        services = out.next_matching("the gateway's addresses", lambda l: "(admin: " in l, START_DEADLINE)
        found = re.search(r"gateway\s+(http://\S+)\s+\(admin: (http://[0-9.:]+)", services)
        assert found, services
        config = Path(out.next_matching("the config path", lambda l: l.strip().startswith("config:")).split(":", 1)[1].strip())
        credentials = {}
        for variable, client in [("TOKEN", "clientco"), ("READONLY", "clientco-readonly")]:
            line = out.next_matching(f"{client}'s credentials", lambda l, v=variable: f"export {v}=" in l, START_DEADLINE)
            credentials[client] = Path(re.search(r"--credentials (\S+?)\)", line).group(1))
        running = Demo(process, found.group(1), found.group(2), config, credentials, access)
        # Addresses are used only once they answer.
        wait_for(lambda: http("GET", running.console("/readyz")).status == 200, "the gateway to be ready")
        yield running
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=DEADLINE)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=DEADLINE)


def wait_for(condition, what: str, timeout: float = DEADLINE):
    """Polls `condition` (every 50 ms) until it is truthy; fails naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = condition()
        except (urllib.error.URLError, ConnectionError):
            value = None
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        threading.Event().wait(0.05)


@pytest.fixture
def browser():
    """A fresh headless Chromium (new profile) per test; every console message it logged is
    checked when the test ends: an error there (a CSP violation, a failed asset, a script
    error) fails the test."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="console-chromium-")
    options = Options()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(START_DEADLINE)
    driver.console_errors = []  # what each `console_errors(driver)` call found

    try:
        yield driver
        errors = console_errors(driver)
        assert not errors, "the browser logged errors:\n" + "\n".join(errors)
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def console_errors(driver) -> list[str]:
    """The browser console's errors since the last call (warnings and info are ignored)."""
    return [f"{entry['level']}: {entry['message']}" for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def screenshot(driver, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    assert driver.save_screenshot(str(path)), path
    return path
