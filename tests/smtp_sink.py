"""A real SMTP server on localhost that records what it receives.

Used by the outage drills: it can hold the first message's DATA open (``stall_first``) so a
test can kill the sender in the middle of a send, exactly as a crash would. The notification
benchmark (bench/run.py) reads ``received``: when each portal notification arrived, matched
to its outbox row by the Message-ID the portal sets (``<notification-<pk>@license-portal>``).
"""

from __future__ import annotations

import re
import socketserver
import threading
import time
from dataclasses import dataclass, field

_MESSAGE_ID = re.compile(rb"^Message-ID:\s*<notification-(\d+)@", re.IGNORECASE | re.MULTILINE)


@dataclass
class SinkState:
    messages: list[bytes] = field(default_factory=list)
    arrived: list[float] = field(default_factory=list)  # time.time() of each message
    stall_first: bool = False
    stalled: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Handler(socketserver.StreamRequestHandler):
    state: SinkState

    def _reply(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")
        self.wfile.flush()

    def handle(self) -> None:
        self._reply("220 sink ESMTP")
        while line := self.rfile.readline():
            command = line.strip().upper()
            if command.startswith((b"EHLO", b"HELO")):
                self._reply("250 sink")
            elif command.startswith((b"MAIL", b"RCPT", b"RSET", b"NOOP")):
                self._reply("250 OK")
            elif command == b"DATA":
                self._reply("354 end with <CRLF>.<CRLF>")
                body = []
                while (data := self.rfile.readline()) and data not in (b".\r\n", b".\n"):
                    body.append(data)
                if not data:
                    return  # the client went away mid-message: nothing was delivered
                with self.state.lock:
                    stall = self.state.stall_first and not self.state.stalled.is_set()
                    if stall:
                        self.state.stalled.set()
                if stall:
                    # Hold the final reply: the sender sits in the middle of the send.
                    self.state.release.wait(30)
                    return
                with self.state.lock:
                    self.state.messages.append(b"".join(body))
                    self.state.arrived.append(time.time())
                self._reply("250 queued")
            elif command == b"QUIT":
                self._reply("221 bye")
                return
            else:
                self._reply("502 not implemented")


class SmtpSink:
    def __init__(self, *, stall_first: bool = False) -> None:
        self.state = SinkState(stall_first=stall_first)
        handler = type("Handler", (_Handler,), {"state": self.state})
        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> SmtpSink:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.state.release.set()
        self.server.shutdown()
        self.server.server_close()

    def messages_to(self, address: str) -> list[bytes]:
        with self.state.lock:
            return [m for m in self.state.messages if f"To: {address}".encode() in m]

    @property
    def received(self) -> dict[int, float]:
        """Notification id -> when its first copy arrived (``time.time()``)."""
        found: dict[int, float] = {}
        with self.state.lock:
            for message, arrived in zip(self.state.messages, self.state.arrived, strict=True):
                if match := _MESSAGE_ID.search(message):
                    found.setdefault(int(match.group(1)), arrived)
        return found
