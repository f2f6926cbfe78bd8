"""A scripted OpenAI-compatible chat-completions server on 127.0.0.1, for tests.

The real litellm client talks to it over HTTP exactly as it would talk to vLLM or Ollama, so a test
exercises the whole LLM path without the network. Use it as a context manager or through the
``stub_llm`` fixture (import it into the test module: ``from stub_llm import StubLLM, stub_llm``)::

    def test_designer(stub_llm):
        stub_llm.enqueue("```python\\ndef compute_reward(state, action, next_state): ...\\n```")
        stub_llm.enqueue_error(429)                        # the next request gets a rate-limit error
        config = LLMConfig(model="openai/stub", api_base=stub_llm.url, api_key="sk-test")
        ...
        assert len(stub_llm.requests) == 2                  # every request, answered or not
        assert "syntax" in stub_llm.requests[1]["messages"][-1]["content"]

Serving rules:

- ``POST /v1/chat/completions`` takes scripted items from the front of one FIFO queue. A request
  for ``n`` samples gets up to ``n`` replies, one choice each, in queue order (fewer if the queue runs
  short, never more than it asked for). With ``honour_n=False`` every request gets one choice, like a
  server that ignores ``n``.
- An error at the front of the queue answers the whole request with that HTTP status (and an
  OpenAI-style error body, plus ``Retry-After`` if given); it is consumed.
- An empty queue answers with ``default_reply`` if one was given, otherwise with HTTP 400 and a
  message saying the queue is empty, so a test that scripted too few replies fails fast and clearly.
- Usage tokens are whitespace-separated word counts: ``prompt_tokens`` over every message's content,
  ``completion_tokens`` summed over the returned choices.
- ``responder`` (optional) replaces the queue: ``responder(body) -> str`` answers each choice, useful
  when the reply must depend on the prompt or when concurrent requests make queue order arbitrary.

``requests`` holds the parsed JSON body of every request to the completions path, in arrival order
(including those answered with an error); ``headers`` holds the matching request headers
(case-insensitive, like HTTP).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

import pytest

COMPLETIONS_PATH = "/v1/chat/completions"


class Headers(dict):
    """Request headers keyed case-insensitively, as HTTP defines them (clients differ in case:
    openai 1.x sends ``Authorization``, later releases ``authorization``)."""

    def __init__(self, items=()):
        super().__init__((key.lower(), value) for key, value in items)

    def __getitem__(self, key: str):
        return super().__getitem__(key.lower())

    def __contains__(self, key) -> bool:
        return isinstance(key, str) and super().__contains__(key.lower())

    def get(self, key: str, default=None):
        return super().get(key.lower(), default)


@dataclass
class _Reply:
    text: str
    delay_s: float = 0.0


@dataclass
class _Error:
    status: int
    message: str
    retry_after: float | None = None
    delay_s: float = 0.0


class StubLLM:
    """An OpenAI-compatible server answering from a scripted queue; see the module docstring."""

    def __init__(self, *, honour_n: bool = True, default_reply: str | None = None,
                 responder: Callable[[dict], str] | None = None):
        self.honour_n = honour_n
        self.default_reply = default_reply
        self.responder = responder
        self.requests: list[dict] = []
        self.headers: list[dict] = []
        self._queue: deque[_Reply | _Error] = deque()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # scripting ------------------------------------------------------------------------------------
    def enqueue(self, text: str, *, delay_s: float = 0.0) -> "StubLLM":
        """Adds one reply (one choice); ``delay_s`` holds the answer back (for timeout tests)."""
        with self._lock:
            self._queue.append(_Reply(text, delay_s))
        return self

    def enqueue_error(self, status: int, message: str | None = None, *, retry_after: float | None = None,
                      delay_s: float = 0.0) -> "StubLLM":
        """Makes the next request that reaches this item fail with HTTP ``status``."""
        with self._lock:
            self._queue.append(_Error(status, message or f"stub error {status}", retry_after, delay_s))
        return self

    @property
    def pending(self) -> int:
        """How many scripted items are still queued."""
        with self._lock:
            return len(self._queue)

    @property
    def url(self) -> str:
        """The api_base to give the client, e.g. ``http://127.0.0.1:PORT/v1``."""
        if self._server is None:
            raise RuntimeError("StubLLM is not running; use it as a context manager or call start()")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    # lifecycle ------------------------------------------------------------------------------------
    def start(self) -> "StubLLM":
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's naming)
                stub._handle(self)

            def do_GET(self):  # noqa: N802
                stub._send(self, 404, {"error": {"message": f"no such path {self.path}"}})

            def log_message(self, *args):  # keep test output clean
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="stub-llm", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> "StubLLM":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # serving --------------------------------------------------------------------------------------
    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        if handler.path.rstrip("/") != COMPLETIONS_PATH:
            self._send(handler, 404, {"error": {"message": f"no such path {handler.path}"}})
            return
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError as exc:
            self._send(handler, 400, {"error": {"message": f"invalid JSON body: {exc}"}})
            return
        wanted = int(body.get("n") or 1) if self.honour_n else 1
        with self._lock:
            self.requests.append(body)
            self.headers.append(Headers(handler.headers.items()))
            items = self._take(body, max(wanted, 1))
        if isinstance(items, _Error):
            time.sleep(items.delay_s)
            extra = {"Retry-After": f"{items.retry_after:g}"} if items.retry_after is not None else {}
            self._send(handler, items.status,
                       {"error": {"message": items.message, "type": "stub_error", "code": items.status}}, extra)
            return
        if not items:
            self._send(handler, 400, {"error": {
                "message": "StubLLM: the reply queue is empty (enqueue more replies or set default_reply)",
                "type": "invalid_request_error"}})
            return
        time.sleep(max(item.delay_s for item in items))
        prompt_tokens = sum(_words(m.get("content")) for m in body.get("messages", []))
        completion_tokens = sum(_words(item.text) for item in items)
        self._send(handler, 200, {
            "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "stub"),
            "choices": [
                {"index": i, "message": {"role": "assistant", "content": item.text}, "finish_reason": "stop"}
                for i, item in enumerate(items)
            ],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens},
        })

    def _take(self, body: dict, wanted: int) -> list[_Reply] | _Error:
        """Pops what one request consumes (caller holds the lock)."""
        if self.responder is not None:
            return [_Reply(self.responder(body)) for _ in range(wanted)]
        if self._queue and isinstance(self._queue[0], _Error):
            return self._queue.popleft()
        items: list[_Reply] = []
        while self._queue and len(items) < wanted and isinstance(self._queue[0], _Reply):
            items.append(self._queue.popleft())
        if not items and self.default_reply is not None:
            items.append(_Reply(self.default_reply))
        return items

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, status: int, payload: dict, headers: dict | None = None) -> None:
        data = json.dumps(payload).encode()
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                handler.send_header(key, value)
            handler.end_headers()
            handler.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test); nothing left to tell it


def _words(content) -> int:
    if isinstance(content, list):  # OpenAI content parts
        content = " ".join(part.get("text", "") for part in content if isinstance(part, dict))
    return len(str(content or "").split())


@pytest.fixture
def stub_llm():
    """A running StubLLM for one test (honours ``n``, no default reply)."""
    with StubLLM() as stub:
        yield stub
