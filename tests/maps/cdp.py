"""Open a page in headless Chromium and report console errors, JS exceptions,
failed requests and every request to a non-local host.

Standard library only: the Chrome DevTools Protocol over --remote-debugging-pipe
(fd 3 = commands in, fd 4 = replies and events out, JSON messages ended by NUL), so the
browser tests need no driver package. Every non-loopback host is made unresolvable, so
the pages are tested as on a network cut off from the internet.

    python tests/maps/cdp.py URL [screenshot.png] [js-expression-to-evaluate]
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from urllib.parse import urlsplit

CHROMIUM = shutil.which("chromium") or (
    "/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None
)
LOCAL_HOSTS = {"127.0.0.1", "localhost", "[::1]", "::1"}


@contextlib.contextmanager
def serve_app(app):
    """Serve an ASGI app with uvicorn on a free loopback port; yields its base URL."""
    import uvicorn

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        for _ in range(200):
            if server.started:
                break
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


class Browser:
    def __init__(self, extra_args=(), timeout=30.0):
        self.profile = tempfile.mkdtemp(prefix="cdp-profile-")
        cmd_r, cmd_w = os.pipe()  # we write commands -> browser reads fd 3
        ev_r, ev_w = os.pipe()  # browser writes fd 4 -> we read
        # Move the child's ends out of the 0..4 range so the dup2s below can't clobber them.
        hi_r = fcntl.fcntl(cmd_r, fcntl.F_DUPFD, 10)
        hi_w = fcntl.fcntl(ev_w, fcntl.F_DUPFD, 10)

        def child_fds():
            os.dup2(hi_r, 3)
            os.dup2(hi_w, 4)

        args = [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--mute-audio",
            f"--user-data-dir={self.profile}",
            "--remote-debugging-pipe",
            # Belt and braces: any non-loopback host fails to resolve, so a CDN
            # request shows up as a failed request instead of hanging.
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost",
            *extra_args,
            "about:blank",
        ]
        self.proc = subprocess.Popen(
            args,
            preexec_fn=child_fds,
            close_fds=False,  # keep fds 3 and 4 made in child_fds
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for fd in (cmd_r, ev_w, hi_r, hi_w):
            os.close(fd)
        self.wfd, self.rfd = cmd_w, ev_r
        self.buf = b""
        self.next_id = 0
        self.events: list[dict] = []
        self.timeout = timeout

    def _read_message(self, deadline):
        while b"\0" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([self.rfd], [], [], left)
            if not ready:
                return None
            chunk = os.read(self.rfd, 1 << 20)
            if not chunk:
                raise RuntimeError("browser closed the pipe")
            self.buf += chunk
        raw, self.buf = self.buf.split(b"\0", 1)
        return json.loads(raw)

    def send(self, method, params=None, session=None):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self.wfd, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            reply = self._read_message(deadline)
            if reply is None:
                raise TimeoutError(method)
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def pump(self, seconds, until=None):
        """Collect events for `seconds` (or until until(event) is true)."""
        deadline = time.monotonic() + seconds
        while True:
            ev = self._read_message(deadline)
            if ev is None:
                return False
            self.events.append(ev)
            if until and until(ev):
                return True

    def close(self):
        try:
            self.send("Browser.close")
        except Exception:
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        os.close(self.wfd)
        os.close(self.rfd)
        shutil.rmtree(self.profile, ignore_errors=True)


def check_page(
    url,
    screenshot=None,
    evaluate=None,
    width=1000,
    height=700,
    settle=2.0,
    cookies=None,
    timeout=30.0,
):
    """Load ``url`` in a fresh headless Chromium; ``cookies`` ({name: value}) are set for
    its origin first (e.g. the session cookie of POST /login); ``timeout`` bounds each
    browser command (a page of 10,000 incidents takes a while to render)."""
    b = Browser(timeout=timeout)
    try:
        target = b.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        sid = b.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for m in ("Page.enable", "Runtime.enable", "Log.enable", "Network.enable"):
            b.send(m, session=sid)
        b.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
            session=sid,
        )
        for name, value in (cookies or {}).items():
            b.send("Network.setCookie", {"name": name, "value": value, "url": url}, session=sid)
        b.events.clear()
        b.send("Page.navigate", {"url": url}, session=sid)
        b.pump(timeout, until=lambda e: e.get("method") == "Page.loadEventFired")
        b.pump(settle)  # late XHRs, fonts, tiles
        result = None
        if evaluate:
            r = b.send(
                "Runtime.evaluate",
                {"expression": evaluate, "returnByValue": True, "awaitPromise": True},
                session=sid,
            )
            result = r.get("result", {}).get("value", r)
        if screenshot:
            png = b.send("Page.captureScreenshot", {"format": "png"}, session=sid)["data"]
            with open(screenshot, "wb") as f:
                f.write(base64.b64decode(png))
        events = list(b.events)
    finally:
        b.close()

    requests, failed, console, exceptions, log = {}, [], [], [], []
    for e in events:
        m, p = e.get("method"), e.get("params", {})
        if m == "Network.requestWillBeSent":
            requests[p["requestId"]] = p["request"]["url"]
        elif m == "Network.loadingFailed":
            failed.append(
                {
                    "url": requests.get(p["requestId"]),
                    "error": p.get("errorText"),
                    "blocked": p.get("blockedReason"),
                }
            )
        elif m == "Network.responseReceived" and p["response"]["status"] >= 400:
            failed.append({"url": p["response"]["url"], "status": p["response"]["status"]})
        elif m == "Runtime.consoleAPICalled" and p["type"] in ("error", "warning", "assert"):
            console.append(
                {
                    "type": p["type"],
                    "text": " ".join(
                        str(a.get("value", a.get("description", ""))) for a in p["args"]
                    ),
                }
            )
        elif m == "Runtime.exceptionThrown":
            d = p["exceptionDetails"]
            exc = d.get("exception", {})
            exceptions.append(
                {
                    "text": d.get("text"),
                    "exception": exc.get("description") or exc.get("value"),
                    "url": d.get("url"),
                    "line": d.get("lineNumber"),
                    "column": d.get("columnNumber"),
                }
            )
        elif m == "Log.entryAdded" and p["entry"]["level"] in ("error", "warning"):
            log.append(
                {
                    "level": p["entry"]["level"],
                    "source": p["entry"]["source"],
                    "text": p["entry"]["text"],
                    "url": p["entry"].get("url"),
                }
            )
    urls = sorted(u for u in set(requests.values()) if not u.startswith("data:"))
    external = [
        u
        for u in urls
        if urlsplit(u).scheme in ("http", "https", "ws", "wss")
        and urlsplit(u).hostname not in LOCAL_HOSTS
    ]
    return {
        "requests": urls,
        "external_requests": external,
        "failed_requests": failed,
        "console_errors": console,
        "exceptions": exceptions,
        "log_entries": log,
        "evaluate": result,
    }


if __name__ == "__main__":
    url = sys.argv[1]
    shot = sys.argv[2] if len(sys.argv) > 2 else None
    expr = sys.argv[3] if len(sys.argv) > 3 else None
    report = check_page(url, shot, expr)
    print(json.dumps(report, indent=1))
    bad = (
        report["external_requests"]
        or report["failed_requests"]
        or report["console_errors"]
        or report["exceptions"]
        or report["log_entries"]
    )
    sys.exit(1 if bad else 0)
