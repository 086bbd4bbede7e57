"""Open an HTML file in headless Chromium and report what a reader's browser would show.

Talks the Chrome DevTools protocol over ``--remote-debugging-pipe`` (file descriptors 3 and 4,
NUL-terminated JSON), so it needs only the ``chromium`` binary (Debian: ``apt-get install -y
chromium``) and bash, and no Python package. :func:`browser_check` loads the page, waits for its load
event, and returns the console errors, uncaught exceptions and failed loads it saw, every
``<img>`` with its ``naturalWidth``, and the ids of the page's tables.

Example:
    >>> isinstance(find_chromium(), (str, type(None)))
    True
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from qkernels.core.errors import InputError

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")

_PROBE = """JSON.stringify({
  title: document.title,
  tables: Array.from(document.querySelectorAll('table')).map(t => t.id || ''),
  claimsRows: (document.getElementById('claims') || {rows: []}).rows.length,
  images: Array.from(document.images).map(i => ({src: i.getAttribute('src'), complete: i.complete,
                                                  naturalWidth: i.naturalWidth})),
  headings: Array.from(document.querySelectorAll('h2')).map(h => h.id),
  viewportWidth: window.innerWidth,
  pageScrollWidth: document.documentElement.scrollWidth,
  pageClientWidth: document.documentElement.clientWidth,
  claimsRight: (() => { const t = document.getElementById('claims'); return t ? t.getBoundingClientRect().right : 0; })(),
  claimsOverflow: (() => { const t = document.getElementById('claims'); const w = t && t.parentElement;
                           return w ? w.scrollWidth - w.clientWidth : 0; })(),
  claimsTextAlign: (() => { const c = document.querySelector('#claims td'); return c ? getComputedStyle(c).textAlign : ''; })()
})"""


def find_chromium() -> str | None:
    """Path of a Chromium/Chrome binary (``QK_CHROMIUM`` first), or None."""
    env = os.environ.get("QK_CHROMIUM")
    if env and shutil.which(env):
        return shutil.which(env)
    for name in CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


class _Pipe:
    """A DevTools-protocol connection over the two pipes of ``--remote-debugging-pipe``."""

    def __init__(self, write_fd: int, read_fd: int, deadline: float):
        self.w, self.r, self.deadline = write_fd, read_fd, deadline
        self.buf = b""
        self.next_id = 0
        self.events: list[dict] = []

    def _read_message(self) -> dict:
        import select

        while b"\0" not in self.buf:
            left = self.deadline - time.monotonic()
            if left <= 0 or not select.select([self.r], [], [], left)[0]:
                raise TimeoutError("Chromium did not answer in time")
            chunk = os.read(self.r, 1 << 16)
            if not chunk:
                raise ConnectionError("Chromium closed the DevTools pipe")
            self.buf += chunk
        msg, self.buf = self.buf.split(b"\0", 1)
        return json.loads(msg)

    def call(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self.w, json.dumps(msg).encode() + b"\0")
        while True:
            m = self._read_message()
            if m.get("id") == self.next_id:
                if "error" in m:
                    raise RuntimeError(f"{method}: {m['error']}")
                return m.get("result", {})
            self.events.append(m)

    def wait_event(self, method: str) -> dict:
        for i, e in enumerate(self.events):
            if e.get("method") == method:
                return self.events.pop(i)
        while True:
            m = self._read_message()
            if m.get("method") == method:
                return m
            self.events.append(m)


def _problems(events: list[dict]) -> list[str]:
    out = []
    for e in events:
        p, m = e.get("params", {}), e.get("method")
        if m == "Runtime.exceptionThrown":
            d = p.get("exceptionDetails", {})
            out.append(f"exception: {(d.get('exception') or {}).get('description') or d.get('text')}")
        elif m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            out.append("console.error: " + " ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", [])))
        elif m == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
            ent = p["entry"]
            out.append(f"{ent.get('source')}: {ent.get('text')} {ent.get('url', '')}".strip())
    return out


def _high(fd: int) -> int:
    import fcntl

    new = fcntl.fcntl(fd, fcntl.F_DUPFD, 10)
    os.close(fd)
    return new


def browser_check(html: str | Path, timeout: float = 60.0, chromium: str | None = None, width: int = 1280,
                  height: int = 900, screenshot: str | Path | None = None) -> dict:
    """Load ``html`` in headless Chromium at a ``width`` × ``height`` viewport; return ``errors``, ``images``,
    ``tables``, ``claimsRows``, ``title``, the layout (``viewportWidth``, ``pageScrollWidth``,
    ``pageClientWidth``: horizontal scrolling when the first exceeds the last; ``claimsRight``,
    ``claimsOverflow``: the claims table's right edge and how far it overflows its box;
    ``claimsTextAlign``) and, with ``screenshot``, a PNG of the first screen written there
    (``screenshotSize``: its width and height in pixels).

    Raises:
        InputError: the file does not exist or no Chromium binary is found.
    """
    path = Path(html).resolve()
    if not path.is_file():
        raise InputError(f"{str(html)!r} does not exist")
    exe = chromium or find_chromium()
    if exe is None:
        raise InputError("no Chromium binary found (install the Debian package `chromium`, or set QK_CHROMIUM)")
    to_chrome_r, to_chrome_w = os.pipe()
    from_chrome_r, from_chrome_w = os.pipe()
    # move the child's ends above 9, so that "3<&N 4>&M" cannot clobber one with the other (bash takes fds > 9)
    to_chrome_r, from_chrome_w = _high(to_chrome_r), _high(from_chrome_w)
    profile = tempfile.mkdtemp(prefix="qk-chromium-")
    args = [exe, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
            "--no-default-browser-check", "--disable-extensions", "--remote-debugging-pipe",
            f"--user-data-dir={profile}", "about:blank"]
    # the browser reads commands on fd 3 and writes answers on fd 4
    wrapper = ["bash", "-c", f'exec "$0" "$@" 3<&{to_chrome_r} 4>&{from_chrome_w}', *args]
    proc = subprocess.Popen(wrapper, pass_fds=(to_chrome_r, from_chrome_w), stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(to_chrome_r)
    os.close(from_chrome_w)
    pipe = _Pipe(to_chrome_w, from_chrome_r, time.monotonic() + timeout)
    try:
        target = pipe.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = pipe.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            pipe.call(f"{domain}.enable", session=session)
        pipe.call("Emulation.setDeviceMetricsOverride", {"width": width, "height": height, "deviceScaleFactor": 1,
                                                         "mobile": False}, session=session)
        pipe.events.clear()
        pipe.call("Page.navigate", {"url": path.as_uri()}, session=session)
        pipe.wait_event("Page.loadEventFired")
        probe = pipe.call("Runtime.evaluate", {"expression": _PROBE, "returnByValue": True}, session=session)
        result = json.loads(probe["result"]["value"])
        result["errors"] = _problems(pipe.events)
        if screenshot is not None:
            import base64
            import struct

            png = base64.b64decode(pipe.call("Page.captureScreenshot", {"format": "png"}, session=session)["data"])
            Path(screenshot).write_bytes(png)
            result["screenshotSize"] = list(struct.unpack(">II", png[16:24]))
        try:
            pipe.call("Browser.close")
        except (ConnectionError, RuntimeError, TimeoutError):
            pass
        return result
    finally:
        os.close(to_chrome_w)
        os.close(from_chrome_r)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(profile, ignore_errors=True)


__all__ = ["find_chromium", "browser_check", "CANDIDATES"]
