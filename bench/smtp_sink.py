"""A tiny SMTP server (stdlib only) that records when each message arrived.

The notification benchmark points ``EMAIL_URL`` at it and matches each received message to
its outbox row by the Message-ID the portal sets (``<notification-<pk>@license-portal>``).
"""

from __future__ import annotations

import re
import socketserver
import threading
import time

_MESSAGE_ID = re.compile(rb"^Message-ID:\s*<notification-(\d+)@", re.IGNORECASE | re.MULTILINE)


class _Handler(socketserver.StreamRequestHandler):
    sink: SmtpSink

    def _reply(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")
        self.wfile.flush()

    def handle(self) -> None:
        self._reply("220 bench-sink ESMTP")
        while line := self.rfile.readline():
            command = line.strip().upper()
            if command.startswith((b"EHLO", b"HELO")):
                self._reply("250 bench-sink")
            elif command.startswith((b"MAIL", b"RCPT", b"RSET", b"NOOP")):
                self._reply("250 OK")
            elif command == b"DATA":
                self._reply("354 end with <CRLF>.<CRLF>")
                body = []
                while (data := self.rfile.readline()) and data not in (b".\r\n", b".\n"):
                    body.append(data)
                if not data:
                    return
                self.sink.record(b"".join(body))
                self._reply("250 queued")
            elif command == b"QUIT":
                self._reply("221 bye")
                return
            else:
                self._reply("502 not implemented")


class SmtpSink:
    """``with SmtpSink() as sink:`` listens on 127.0.0.1:<sink.port>; ``sink.received``
    maps notification id -> wall-clock receive time (``time.time()``)."""

    def __init__(self) -> None:
        self.received: dict[int, float] = {}
        self.other = 0
        self.lock = threading.Lock()
        handler = type("Handler", (_Handler,), {"sink": self})
        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def record(self, message: bytes) -> None:
        now = time.time()
        match = _MESSAGE_ID.search(message)
        with self.lock:
            if match:
                self.received.setdefault(int(match.group(1)), now)
            else:
                self.other += 1

    def __enter__(self) -> SmtpSink:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
