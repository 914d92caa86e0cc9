"""``twin console --web`` in a real browser: headless Chromium shows the overview.

The page textual-serve sends draws its terminal with xterm.js on a canvas, after a websocket to
a console process of its own has opened, so a plain ``chromium --screenshot`` catches only the
splash. The test drives Chromium over the DevTools protocol instead: it hands the page a copy of
textual-serve's script that also keeps the xterm.js terminal in ``window.twinTerminal``, polls
the terminal's own text until the overview is drawn, then takes the screenshot.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from _console import PASSWORDS, free_port
from _procs import alive, descendants, listening_ports, still_listening

from twin.cli import build_parser
from twin.console.web import check_web_port, console_argv, end_consoles
from twin.errors import TwinError
from twin.opcua.server import TwinServer

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
WINDOW = (1280, 800)
DEADLINE_S = 90.0  # a loaded 2-core machine: a console process per page, a browser, a twin
# Keep textual-serve's xterm.js terminal where the test can read it.
HOOK_AT = "this.terminal.open(e),"
HOOK = HOOK_AT + "window.twinTerminal=this.terminal,"
SCREEN_TEXT = """(() => {
  const t = window.twinTerminal;
  if (!t) return null;
  const b = t.buffer.active, rows = [];
  for (let i = 0; i < t.rows; i++) {
    const line = b.getLine(b.viewportY + i);
    rows.push(line ? line.translateToString(true) : "");
  }
  return rows.join("\\n");
})()"""

needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not "
                                    "installed (make sysdeps installs it)")


class DevTools:
    """A DevTools-protocol session on one page, over the page's websocket."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self._ids = 0
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._handlers: dict[str, Callable[[dict[str, Any]], Any]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._reader = asyncio.create_task(self._read())

    def on(self, event: str, handler: Callable[[dict[str, Any]], Any]) -> None:
        self._handlers[event] = handler

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        self._ids += 1
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[self._ids] = fut
        await self.ws.send_json({"id": self._ids, "method": method, "params": params})
        return await asyncio.wait_for(fut, 30.0)

    async def _read(self) -> None:
        async for msg in self.ws:
            data = json.loads(msg.data)
            if "id" in data:
                fut = self._waiting.pop(data["id"], None)
                if fut is None or fut.done():
                    continue
                if "error" in data:
                    fut.set_exception(AssertionError(f"DevTools: {data['error']}"))
                else:
                    fut.set_result(data.get("result", {}))
            elif data.get("method") in self._handlers:
                task = asyncio.create_task(self._handlers[data["method"]](data["params"]))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        self._reader.cancel()
        await asyncio.gather(self._reader, *self._tasks, return_exceptions=True)
        await self.ws.close()


async def until(check: Callable[[], Any], what: str, timeout: float = DEADLINE_S,
                detail: Callable[[], str] = str) -> Any:
    """Await ``check()`` (sync or async) until it is truthy; fail naming ``what``."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if loop.time() > end:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}; {detail()}")
        await asyncio.sleep(0.2)


@contextlib.asynccontextmanager
async def process(argv: list[str], log: Path, **kw: Any) -> AsyncIterator[subprocess.Popen[bytes]]:
    """A process in a session of its own; SIGTERM on the way out, then its group is killed."""
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True, **kw)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                await asyncio.to_thread(proc.wait, 20)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # stragglers (renderers, consoles) of ours only
        await asyncio.to_thread(proc.wait)


@contextlib.asynccontextmanager
async def chromium(profile: Path, log: Path) -> AsyncIterator[DevTools]:
    """Headless Chromium on a free DevTools port; a session on its first page."""
    import aiohttp

    argv = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu",
            "--no-first-run", "--no-default-browser-check", "--disable-extensions",
            "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
            f"--user-data-dir={profile}", f"--window-size={WINDOW[0]},{WINDOW[1]}",
            "about:blank"]
    async with process(argv, log) as proc:
        port_file = profile / "DevToolsActivePort"
        await until(lambda: (port_file.exists() and len(port_file.read_text().split()) == 2)
                    or proc.poll() is not None, "Chromium's DevTools port",
                    detail=lambda: log.read_text(errors="replace")[-2000:])
        assert proc.poll() is None, log.read_text(errors="replace")[-2000:]
        port = int(port_file.read_text().split()[0])
        async with aiohttp.ClientSession() as http:
            async def page_ws() -> str | None:
                async with http.get(f"http://127.0.0.1:{port}/json/list") as r:
                    pages = [t for t in await r.json() if t.get("type") == "page"]
                return pages[0]["webSocketDebuggerUrl"] if pages else None

            ws_url = await until(page_ws, "a Chromium page")
            tools = DevTools(await http.ws_connect(ws_url, max_msg_size=0))
            try:
                yield tools
                with contextlib.suppress(Exception):
                    await tools.call("Browser.close")
                with contextlib.suppress(subprocess.TimeoutExpired):
                    await asyncio.to_thread(proc.wait, 20)
            finally:
                await tools.close()


async def hook_textual_js(tools: DevTools) -> list[str]:
    """Serve textual-serve's script with :data:`HOOK`; the list returned gets, per load of the
    script, its URL, or '' when the script no longer has :data:`HOOK_AT`."""
    hooked: list[str] = []

    async def paused(ev: dict[str, Any]) -> None:
        body = await tools.call("Fetch.getResponseBody", requestId=ev["requestId"])
        text = (base64.b64decode(body["body"]).decode() if body.get("base64Encoded")
                else body["body"])
        hooked.append(ev["request"]["url"] if HOOK_AT in text else "")
        text = text.replace(HOOK_AT, HOOK, 1)
        await tools.call("Fetch.fulfillRequest", requestId=ev["requestId"], responseCode=200,
                         responseHeaders=[{"name": "Content-Type",
                                           "value": "application/javascript"}],
                         body=base64.b64encode(text.encode()).decode())

    tools.on("Fetch.requestPaused", paused)
    await tools.call("Fetch.enable", patterns=[{"urlPattern": "*/static/js/textual.js",
                                                "requestStage": "Response"}])
    return hooked


def twin_console_web(url: str, user: str, port: int, role: str) -> list[str]:
    return [sys.executable, "-m", "twin.cli", "console", "--web", "--web-port", str(port),
            "--url", url, "--user", user, "--role", role]


# The overview with its data in: the status bar and one value of each panel.
OVERVIEW = [r"● connected", r"otto \(operator\)", r"sim 20\d\d-\d\d-\d\d", r"Sim time\s+T\+0d ",
            r"Light\s+(sunlit|ECLIPSE)", r"Hottest GPU\s+-?\d+\.\d °C", r"Array\s+[\d,]+\.\d kW",
            r"Charge\s+\d+\.\d %", r"Delivered\s+[\d,]+\.\d\d PFLOP/s",
            r"red \d+  yellow \d+  unacked \d+"]


async def page_says(tools: DevTools, expression: str) -> Any:
    """The value of a JavaScript expression in the page."""
    r = await tools.call("Runtime.evaluate", expression=expression, returnByValue=True)
    return r.get("result", {}).get("value")


def overview_drawn(text: str | None) -> bool:
    return bool(text) and all(re.search(p, str(text)) for p in OVERVIEW)


def test_each_page_runs_twin_console_with_the_same_options_and_no_password():
    security = "Basic256Sha256,SignAndEncrypt,my cert.der,key.pem"
    argv = console_argv("opc.tcp://127.0.0.1:4841/x/", "otto", security, "operator")
    assert argv[:3] == [sys.executable, "-m", "twin.cli"]
    assert shlex.split(shlex.join(argv)) == argv  # textual-serve runs it through the shell
    args = build_parser().parse_args(argv[3:])
    assert (args.command, args.url, args.user, args.security, args.role, args.web) == (
        "console", "opc.tcp://127.0.0.1:4841/x/", "otto", security, "operator", False)
    assert args.password is None and "--password" not in argv
    anonymous = build_parser().parse_args(console_argv("opc.tcp://h:4840/")[3:])
    assert (anonymous.user, anonymous.security, anonymous.role) == (None, None, None)


def test_a_page_console_that_ignores_sigterm_is_killed_when_serving_ends():
    argv = [sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, "
            "signal.SIG_IGN); print('ready', flush=True); time.sleep(60)"]
    stubborn = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert stubborn.stdout is not None and stubborn.stdout.readline() == "ready\n"
        end_consoles(argv, wait_s=0.5)
        assert stubborn.wait(5) == -signal.SIGKILL
        assert other.poll() is None, "a process that is no page console was ended"
    finally:
        for p in (stubborn, other):
            p.kill()
            p.wait()


def test_web_port_must_be_free_and_valid():
    with pytest.raises(TwinError, match="--web-port 0"):
        check_web_port(0)
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        with pytest.raises(TwinError, match="is in use"):
            check_web_port(s.getsockname()[1])


@needs_chromium
@pytest.mark.asyncio(loop_scope="module")
async def test_the_browser_shows_the_overview_and_the_server_stops_cleanly(
        served: TwinServer, tmp_path: Path):
    pytest.importorskip("textual_serve", reason="textual-serve is not installed")
    port = free_port()
    env = {**os.environ, "TWIN_PASSWORD": PASSWORDS["otto"]}
    web_log = tmp_path / "web.log"
    async with process(twin_console_web(served.url, "otto", port, "operator"), web_log,
                       env=env) as web:
        await until(lambda: f"127.0.0.1:{port}/" in web_log.read_text() or web.poll() is not
                    None, "twin console --web to listen",
                    detail=lambda: web_log.read_text(errors="replace"))
        assert web.poll() is None, web_log.read_text(errors="replace")
        async with chromium(tmp_path / "profile", tmp_path / "chromium.log") as tools:
            hooked = await hook_textual_js(tools)
            await tools.call("Page.enable")
            await tools.call("Emulation.setDeviceMetricsOverride", width=WINDOW[0],
                             height=WINDOW[1], deviceScaleFactor=1, mobile=False)
            await tools.call("Page.navigate", url=f"http://127.0.0.1:{port}/")
            await until(lambda: hooked, "textual-serve's textual.js", timeout=30)
            assert hooked[0], f"textual.js no longer has {HOOK_AT!r}: update HOOK_AT"

            last: list[str | None] = [None]

            async def drawn() -> bool:
                last[0] = await page_says(tools, SCREEN_TEXT)
                if await page_says(tools, "document.body.classList.contains('-closed')"):
                    raise AssertionError("the page's console ended (Session ended):\n"
                                         + web_log.read_text(errors="replace")[-3000:])
                return overview_drawn(last[0])

            await until(drawn, "the overview in the browser", detail=lambda: (
                f"hooked {hooked}; terminal text:\n{last[0]}\nweb log:\n"
                f"{web_log.read_text(errors='replace')[-3000:]}"))
            consoles = descendants(web.pid)
            assert consoles, "textual-serve started no console process"
            ports = listening_ports({web.pid} | consoles)
            assert ports == {port}, ports
            shot = await tools.call("Page.captureScreenshot", format="png")
            png = base64.b64decode(shot["data"])
            (tmp_path / "overview.png").write_bytes(png)
            (tmp_path / "overview.txt").write_text(str(last[0]))
            text = str(last[0])
            for panel in ("Orbit", "Thermal", "Power", "Compute", "Alarms", "Control"):
                assert panel in text, panel
            assert_not_blank(png)

            # Stopped with the page still open: the page's console ends with the server.
            web.send_signal(signal.SIGTERM)
            code = await asyncio.to_thread(web.wait, 30)
            said = web_log.read_text(errors="replace")
            assert code == 0 and "Traceback" not in said and "Exception" not in said, said
            await until(lambda: not any(alive(p) for p in consoles), "the page's console to "
                        "exit", timeout=15)
            assert not still_listening(ports), still_listening(ports)
            await until(lambda: page_says(tools, "document.body.classList.contains('-closed')"),
                        "the page to show that its session ended", timeout=15)
    print(f"\nbrowser screenshot: {tmp_path / 'overview.png'}\nterminal text:\n{text}")


def assert_not_blank(png: bytes) -> None:
    from PIL import Image, ImageStat

    img = Image.open(io.BytesIO(png)).convert("RGB")
    assert img.size == WINDOW, img.size
    colours = img.getcolors(maxcolors=1 << 16)
    assert colours is None or len(colours) > 16, f"only {len(colours)} colours"
    assert max(ImageStat.Stat(img).stddev) > 10.0, "the screenshot is almost one colour"
    assert len(png) > 20_000, f"screenshot only {len(png)} bytes"
