"""A scripted HTTP server on 127.0.0.1 for testing API plugins through their real client libraries."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Reply:
    """One HTTP answer; ``sleep`` delays it (to provoke client timeouts)."""

    status: int = 200
    body: bytes | dict | None = None
    headers: dict = field(default_factory=dict)
    sleep: float = 0.0


@dataclass
class FakeServer:
    port: int
    stopping: threading.Event

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"


Answer = Callable[[str, str, dict, bytes], Reply]


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        self._reply("GET")

    def do_POST(self):
        self._reply("POST")

    def _reply(self, method: str) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        reply = self.server.answer(method, self.path, self.headers, body)
        if reply.sleep and self.server.stopping.wait(reply.sleep):
            return
        payload = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
        self.send_response(reply.status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format, *args):
        pass

    def handle(self):
        try:
            super().handle()
        except (BrokenPipeError, ConnectionResetError):
            pass


@contextmanager
def serve_http(answer: Answer) -> Iterator[FakeServer]:
    """Serve ``answer(method, path, headers, body) -> Reply`` on an ephemeral port until the block ends
    (``headers`` is case-insensitive);
    the server thread is stopped and joined afterwards (sleeping replies are cut short)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.answer = answer
    server.stopping = threading.Event()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield FakeServer(server.server_address[1], server.stopping)
    finally:
        server.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
