"""A real HTTP webhook receiver on loopback, as a customer would write one: it verifies the
signature with its own code (not the portal's), and processes each webhook-id once."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def receiver_verify(secret: str, headers: dict[str, str], body: bytes, tolerance: int = 300) -> bool:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    msg_id, timestamp = headers["webhook-id"], headers["webhook-timestamp"]
    if abs(time.time() - int(timestamp)) > tolerance:
        return False
    expected = base64.b64encode(hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest())
    for signature in headers["webhook-signature"].split():
        version, _, value = signature.partition(",")
        if version == "v1" and hmac.compare_digest(value.encode(), expected):
            return True
    return False


@dataclass
class Receiver:
    secret: str = ""
    fail_next: int = 0
    requests: list[dict] = field(default_factory=list)
    processed: dict[str, dict] = field(default_factory=dict)  # webhook-id -> event, once each
    port: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"


def start_receiver() -> tuple[Receiver, ThreadingHTTPServer]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            headers = {k.lower(): v for k, v in self.headers.items()}
            with state.lock:
                state.requests.append({"headers": headers, "body": body, "path": self.path})
                if state.fail_next > 0:
                    state.fail_next -= 1
                    self.send_response(500)
                    self.end_headers()
                    return
                valid = bool(state.secret) and receiver_verify(state.secret, headers, body)
                if valid:
                    state.processed.setdefault(headers["webhook-id"], json.loads(body))
            self.send_response(204 if valid else 401)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return state, server
