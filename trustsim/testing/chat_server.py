"""A real HTTP server speaking the chat-completions API, for tests (127.0.0.1 only).

Its behaviour is scripted per test: latency, a number of 429s (with Retry-After) or 500s before
success, 4xx errors, hangs past the client's timeout, and the reply text (e.g. malformed judge
verdicts). It records every request it receives, so tests can count attempts and check headers.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Reply = Callable[[str, list[dict[str, str]]], str]


@dataclass
class Script:
    """What the server does; tests change these fields while it runs."""

    latency: float = 0.0
    reply: Reply = lambda model, messages: f"Yes. Echo: {messages[-1]['content'][:40]}"
    #: Per prompt (last message content): statuses to send, in order, before answering normally.
    failures: dict[str, list[int]] = field(default_factory=dict)
    #: Statuses for every request whose last message contains the key, forever.
    always: dict[str, int] = field(default_factory=dict)
    retry_after_ms: int = 50
    #: Seconds to sleep (past the client's timeout) for prompts containing the key.
    hang: dict[str, float] = field(default_factory=dict)
    #: Hostile replies for prompts containing the key: (status, content type, body bytes) sent as they are.
    raw: dict[str, tuple[int, str, bytes]] = field(default_factory=dict)
    #: Prompts containing the key get a valid reply trickled one byte every so many seconds.
    trickle: dict[str, float] = field(default_factory=dict)
    #: Prompts containing the key get a 401 whose message echoes the request's API key.
    echo_key: tuple[str, ...] = ()
    #: Models listed at ``GET /v1/models`` (None: that path answers 404, as some servers do).
    models: list[str] | None = None


class _Server(ThreadingHTTPServer):
    # socketserver's default backlog of 5 drops connections when 64 clients connect at once, and
    # each dropped SYN costs the client a one-second retransmit: real servers listen much deeper.
    request_queue_size = 512
    daemon_threads = True


class ChatServer:
    """Start with ``with ChatServer() as server:``; ``server.base_url`` goes to the client."""

    def __init__(self, script: Script | None = None) -> None:
        self.script = script or Script()
        self.requests: list[dict[str, Any]] = []
        self.attempts: Counter[str] = Counter()
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def __enter__(self) -> ChatServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as real servers do: no new connection per request

            def log_message(self, *args: object) -> None:  # keep test output clean
                pass

            def _send(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                """``/stats``: how many requests arrived (for a server in another process); ``/v1/models``."""
                if self.path.rstrip("/").endswith("/models"):
                    if server.script.models is None:
                        self._send(404, {"error": {"message": f"no route {self.path}", "code": 404}})
                    else:
                        self._send(200, {"object": "list", "data": [{"id": m} for m in server.script.models]})
                    return
                self._send(200, {"requests": len(server.requests), "max_in_flight": server.max_in_flight})

            def _send_raw(self, status: int, content_type: str, data: bytes, pause: float = 0.0) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if not pause:
                    self.wfile.write(data)
                    return
                for i in range(len(data)):
                    self.wfile.write(data[i : i + 1])
                    self.wfile.flush()
                    time.sleep(pause)

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                prompt = body["messages"][-1]["content"]
                script = server.script
                with server._lock:
                    server.requests.append({"body": body, "authorization": self.headers.get("Authorization")})
                    server.attempts[prompt] += 1
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                    planned = script.failures.get(prompt, [])
                    status = planned.pop(0) if planned else None
                try:
                    time.sleep(script.latency)
                    for key, seconds in script.hang.items():
                        if key in prompt:
                            time.sleep(seconds)
                    for key, forced in script.always.items():
                        if key in prompt:
                            status = forced
                    for key, (raw_status, content_type, data) in script.raw.items():
                        if key in prompt:
                            self._send_raw(raw_status, content_type, data)
                            return
                    if any(key in prompt for key in script.echo_key):
                        key = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
                        self._send(401, {"error": {"message": f"Incorrect API key provided: {key}", "code": 401}})
                        return
                    if status is not None:
                        headers = {"retry-after-ms": str(script.retry_after_ms)} if status == 429 else {}
                        message = {400: "bad request: unknown parameter", 401: "invalid api key"}.get(
                            status, "try again"
                        )
                        self._send(status, {"error": {"message": message, "type": "test", "code": status}}, headers)
                        return
                    text = script.reply(body["model"], body["messages"])
                    reply = {
                        "id": "chatcmpl-test",
                        "object": "chat.completion",
                        "created": 0,
                        "model": body["model"],
                        "choices": [
                            {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}
                        ],
                        "usage": {
                            "prompt_tokens": len(prompt.split()),
                            "completion_tokens": len(text.split()),
                            "total_tokens": len(prompt.split()) + len(text.split()),
                        },
                    }
                    pause = next((v for k, v in script.trickle.items() if k in prompt), 0.0)
                    self._send_raw(200, "application/json", json.dumps(reply).encode(), pause)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout): nothing to answer
                finally:
                    with server._lock:
                        server.in_flight -= 1

        return Handler


JUDGE_OPENING = "You will act as a strict evaluation assistant"


def judge_aware(verdict: str = "Satisfied", score: int = 4, answer: str = "Yes, because that is who I am.") -> Reply:
    """A reply that plays both parts: a subject model answering, and a judge giving its verdict."""

    def reply(model: str, messages: list[dict[str, str]]) -> str:
        if not messages[0]["content"].startswith(JUDGE_OPENING):
            return answer
        if "rating score" in messages[0]["content"]:
            return f"The answer fits the character. [[{score}]]"
        return f"The answer fits the character. [[{verdict}]]"

    return reply


def main() -> None:
    """Serve from the command line (benchmarks): ``python tests/chat_server.py --latency 0.5``."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--latency", type=float, default=0.5)
    args = parser.parse_args()
    with ChatServer(Script(latency=args.latency, reply=judge_aware())) as server:
        print(server.base_url, flush=True)
        threading.Event().wait()


if __name__ == "__main__":
    main()
