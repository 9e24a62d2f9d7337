"""What a browser saw between clicking Start and JupyterLab's launcher: page hops and requests.

Timestamps come from the browser's own clock (epoch milliseconds): Playwright's request timing,
and marks that a small init script writes to the console (the click, every progress event of the
spawn-pending page). Python's `time.time()` reads the same clock on this machine.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

from playwright.sync_api import ConsoleMessage, Page, Request

# instrumentation only: it observes, it changes nothing the pages do
MARKS_SCRIPT = """
(() => {
  document.addEventListener('click', () => console.log('ttl-mark click ' + Date.now()), true);
  const Original = window.EventSource;
  if (!Original) return;
  window.EventSource = function (url, options) {
    const source = new Original(url, options);
    // registered before the page's own onmessage, so it runs before the page reloads on 'ready'
    source.addEventListener('message', (e) => {
      let evt = {};
      try { evt = JSON.parse(e.data); } catch (_) { return; }
      const kind = evt.ready ? 'ready' : (evt.failed ? 'failed' : 'progress');
      console.log('ttl-mark ' + kind + ' ' + Date.now() + ' ' + (evt.progress ?? '') + ' ' + (evt.message || ''));
    });
    return source;
  };
  window.EventSource.prototype = Original.prototype;
})();
"""

LAUNCHER_VISIBLE_JS = """
() => {
  const card = document.querySelector('.jp-LauncherCard');
  return card && card.offsetParent !== null ? Date.now() : false;
}
"""


@dataclass
class RequestRecord:
    url: str
    resource_type: str
    start: float  # epoch seconds
    end: float | None = None
    status: int | None = None
    encoding: str = ""
    protocol: str = ""  # h2, http/1.1 (Chromium's devtools; empty when not known)
    cache: str = ""  # the edge's X-Cache-Status (HIT, MISS, ...) where it sends one
    body_bytes: int = 0  # bytes on the wire (compressed when the response was); see fill_sizes
    failed: str = ""
    request: Request | None = field(default=None, repr=False)

    @property
    def duration(self) -> float | None:
        return None if self.end is None else self.end - self.start


@dataclass
class Timeline:
    """Everything one page recorded; attach before the first navigation that matters."""

    marks: list[tuple[str, float, str]] = field(default_factory=list)
    requests: list[RequestRecord] = field(default_factory=list)
    _by_request: dict[int, RequestRecord] = field(default_factory=dict)
    _protocols: dict[str, str] = field(default_factory=dict)  # url -> protocol of its last response

    def attach(self, page: Page) -> None:
        page.context.add_init_script(MARKS_SCRIPT)
        try:  # Chromium only: its devtools tell the protocol each response came over
            cdp = page.context.new_cdp_session(page)
            cdp.send("Network.enable")
            cdp.on("Network.responseReceived", self._on_cdp_response)
        except Exception:
            pass
        page.on("console", self._on_console)
        page.on("request", self._on_request)
        page.on("requestfinished", self._on_finished)
        page.on("requestfailed", self._on_failed)

    def reset(self) -> None:
        """Forget what came before (the login's clicks and pages); call just before the timed click."""
        self.marks.clear()
        self.requests.clear()
        self._by_request.clear()

    def _on_cdp_response(self, event: dict) -> None:
        response = event.get("response", {})
        self._protocols[response.get("url", "")] = response.get("protocol", "")

    def _on_console(self, message: ConsoleMessage) -> None:
        parts = message.text.split(" ", 3)
        if len(parts) >= 3 and parts[0] == "ttl-mark":
            self.marks.append((parts[1], int(parts[2]) / 1000, parts[3] if len(parts) > 3 else ""))

    def _on_request(self, request: Request) -> None:
        start_ms = request.timing["startTime"]
        # the browser's own start time once known; until then, this moment on the same clock
        start = start_ms / 1000 if start_ms > 0 else time.time()
        record = RequestRecord(request.url, request.resource_type, start, request=request)
        self._by_request[id(request)] = record
        self.requests.append(record)

    def _on_finished(self, request: Request) -> None:
        record = self._by_request.get(id(request))
        if record is None:
            return
        timing = request.timing
        if timing["startTime"] > 0:
            record.start = timing["startTime"] / 1000
            if timing["responseEnd"] >= 0:
                record.end = record.start + timing["responseEnd"] / 1000
        response = request.response()  # a redirect hop is finished with its own response
        if response is not None:
            record.status = response.status
            headers = response.headers
            record.encoding = headers.get("content-encoding", "")
            record.cache = headers.get("x-cache-status", "")
        record.protocol = self._protocols.get(request.url, "")
        if record.end is None:
            record.end = record.start

    def _on_failed(self, request: Request) -> None:
        record = self._by_request.get(id(request))
        if record is not None:
            record.failed = request.failure or "failed"

    def first_mark(self, kind: str) -> float | None:
        return next((t for k, t, _ in self.marks if k == kind), None)

    def documents(self) -> list[RequestRecord]:
        return [r for r in self.requests if r.resource_type == "document"]


def fill_sizes(records: list[RequestRecord]) -> None:
    """Bytes each response body took on the wire; asked after the measurement (a round trip each)."""
    for record in records:
        if record.request is not None and record.end is not None and not record.failed:
            try:
                record.body_bytes = record.request.sizes()["responseBodySize"]
            except Exception:
                record.body_bytes = 0  # a redirect hop or a request whose page has gone


def wait_for_launcher(page: Page, timeout_ms: float) -> float:
    """Epoch seconds (browser clock) at which the first launcher card became visible."""
    handle = page.wait_for_function(LAUNCHER_VISIBLE_JS, polling="raf", timeout=timeout_ms)
    return handle.json_value() / 1000


@dataclass
class Phases:
    """Seconds spent in each hop from the click to the launcher; `total` is their sum."""

    to_pending: float  # form POST (or the home page's Start link) -> spawn-pending page answered
    pending_to_ready: float  # spawn-pending page -> the progress stream's 'ready' event
    ready_to_server: float  # 'ready' -> the first request to /user/NAME/ (page reload, hub redirect)
    oauth_to_lab_html: float  # /user/NAME/ -> JupyterLab's HTML fully received (redirects, OAuth)
    lab_html_to_launcher: float  # JupyterLab's HTML -> launcher card visible
    total: float

    NAMES = ("to_pending", "pending_to_ready", "ready_to_server", "oauth_to_lab_html", "lab_html_to_launcher",
             "total")


def phases(timeline: Timeline, user: str, launcher_at: float) -> Phases:
    """Split one run's time at the page hops every spawn goes through."""
    click = timeline.first_mark("click")
    ready = timeline.first_mark("ready")
    docs = timeline.documents()
    pending = _first(docs, lambda r: "/hub/spawn-pending/" in r.url and r.end is not None, after=click)
    server = _first(docs, lambda r: re.search(rf"/user/{re.escape(user)}/", r.url) is not None, after=ready)
    lab_html = _first(docs, lambda r: re.search(rf"/user/{re.escape(user)}/lab(\?|$|/)", r.url) is not None
                      and r.status == 200, after=ready)
    missing = [name for name, value in (("click", click), ("ready event", ready), ("spawn-pending page", pending),
                                        ("/user/ request", server), ("lab HTML", lab_html)) if value is None]
    if missing:
        raise RuntimeError(f"timeline of {user} lacks: {', '.join(missing)}")
    return Phases(
        to_pending=pending.end - click,
        pending_to_ready=ready - pending.end,
        ready_to_server=server.start - ready,
        oauth_to_lab_html=lab_html.end - server.start,
        lab_html_to_launcher=launcher_at - lab_html.end,
        total=launcher_at - click,
    )


def _first(records: list[RequestRecord], match, after: float | None) -> RequestRecord | None:
    if after is None:
        return None
    return next((r for r in records if r.start >= after - 0.001 and match(r)), None)


def lab_requests(timeline: Timeline, user: str, launcher_at: float) -> list[RequestRecord]:
    """Requests the JupyterLab page made between its HTML and the launcher (and still open then)."""
    lab_html = next((r for r in timeline.documents()
                     if re.search(rf"/user/{re.escape(user)}/lab", r.url) and r.status == 200), None)
    if lab_html is None:
        return []
    return [r for r in timeline.requests if r is not lab_html and lab_html.start <= r.start <= launcher_at]


def path_key(url: str, user: str) -> str:
    """A request's path with the user name and hashes taken out, to group runs' requests."""
    path = re.sub(r"^https?://[^/]+", "", url).split("?", 1)[0]
    path = path.replace(f"/user/{user}/", "/user/NAME/")
    return re.sub(r"[0-9a-f]{16,}", "HASH", path)
