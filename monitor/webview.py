"""The agent's view in a browser: `live --web` / `replay --web`.

A small HTTP server on 127.0.0.1 (a random free port) serves one compact page to keep
beside the softphone, and pushes every new `Frame` of the view model to it as
server-sent events, so the page shows exactly what the terminal view shows. The URL
carries a random token; requests without it, or for another host name (DNS rebinding),
get 403. The page can show browser notifications for warnings once the agent turns them
on (a button; the browser asks for permission). Nothing leaves the machine.

    web = WebView(); web.start(); print(web.url)
    view = AgentView(publish=web.publish)
    ...
    web.close()
"""

from __future__ import annotations

import json
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlsplit

from monitor.viewmodel import Frame

HEARTBEAT_S = 15.0
"""An idle event stream sends a comment this often, so a closed tab is noticed."""


class WebView:
    """Serves the page and the frames (see the module docstring)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.token = secrets.token_urlsafe(18)
        self._cond = threading.Condition()
        self._frame = "{}"
        self._version = 0
        self._closed = False
        self._clients: dict[int, int] = {}  # open event streams: id -> version sent
        view = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return  # nothing on the agent's terminal

            def do_GET(self) -> None:  # noqa: N802
                view._serve(self)

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self.host, self.port = host, int(self.server.server_address[1])
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/?token={self.token}"

    def start(self) -> WebView:
        self._thread = threading.Thread(
            target=self.server.serve_forever, name="tonewatch-web", daemon=True
        )
        self._thread.start()
        return self

    def publish(self, frame: Frame) -> None:
        """A new frame for every open page (cheap: pages read it on their own threads)."""
        text = json.dumps(frame.as_dict(), ensure_ascii=False, separators=(",", ":"))
        with self._cond:
            if text == self._frame:
                return
            self._frame = text
            self._version += 1
            self._cond.notify_all()

    def close(self, linger_s: float = 2.0) -> None:
        """Stop serving, once every open page has the last frame (at most `linger_s`)."""
        with self._cond:
            self._cond.wait_for(
                lambda: all(v == self._version for v in self._clients.values()), linger_s
            )
            self._closed = True
            self._cond.notify_all()
        self.server.shutdown()
        self.server.server_close()

    # -- requests -----------------------------------------------------------------------------
    def _serve(self, req: BaseHTTPRequestHandler) -> None:
        url = urlsplit(req.path)
        token = parse_qs(url.query).get("token", [""])[0]
        host = (req.headers.get("Host") or "").rsplit(":", 1)[0]
        if host not in ("127.0.0.1", "localhost") or not secrets.compare_digest(token, self.token):
            self._send(req, 403, "text/plain; charset=utf-8", b"forbidden\n")
            return
        if url.path == "/":
            page = (resources.files("monitor") / "web_assets" / "view.html").read_bytes()
            self._send(req, 200, "text/html; charset=utf-8", page)
        elif url.path == "/frame":
            with self._cond:
                body = self._frame.encode("utf-8")
            self._send(req, 200, "application/json", body)
        elif url.path == "/events":
            self._events(req)
        else:
            self._send(req, 404, "text/plain; charset=utf-8", b"not found\n")

    @staticmethod
    def _send(req: BaseHTTPRequestHandler, code: int, kind: str, body: bytes) -> None:
        req.send_response(code)
        req.send_header("Content-Type", kind)
        req.send_header("Content-Length", str(len(body)))
        req.send_header("Cache-Control", "no-store")
        req.send_header("X-Content-Type-Options", "nosniff")
        req.send_header("Content-Security-Policy", "default-src 'self' 'unsafe-inline'")
        req.end_headers()
        req.wfile.write(body)

    def _events(self, req: BaseHTTPRequestHandler) -> None:
        req.send_response(200)
        req.send_header("Content-Type", "text/event-stream")
        req.send_header("Cache-Control", "no-store")
        req.end_headers()
        seen = -1
        me = id(req)
        try:
            while True:
                with self._cond:
                    self._clients[me] = seen
                    self._cond.notify_all()
                    if self._version == seen and not self._closed:
                        self._cond.wait(HEARTBEAT_S)
                    if self._closed:
                        return
                    fresh = self._version != seen
                    seen, text = self._version, self._frame
                req.wfile.write(f"data: {text}\n\n".encode() if fresh else b": idle\n\n")
                req.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            return
        finally:
            with self._cond:
                self._clients.pop(me, None)
                self._cond.notify_all()
