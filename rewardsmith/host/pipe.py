"""The parent's side of a sandboxed job's result pipe: JSON lines of bounded number, each bounded in size
and in what it would parse into before it is parsed (``parsed_size``); any other message is a protocol
error, and the parent never unpickles anything."""

from __future__ import annotations

import json
import secrets

from ..errors import SandboxError

MAX_MESSAGE = 32 << 20    # bytes of the one line that may be long, the result (a trained policy and
#                           its checkpoint are base64 text: a few MB for big MLPs)

MAX_EVENT_LINE = 1 << 20  # bytes of any other line (progress and phase messages are a few hundred)

MAX_PARSED = 96 << 20     # estimated bytes of the Python objects one line may become (``parsed_size``)

MAX_EVENTS = 20_000       # progress and phase messages per job; training sends a few dozen

_MAX_ERROR_TEXT = 8_000   # characters of a child's error message kept


class Protocol:
    """The parent's side of one job's protocol: bounded lines, bounded counts, typed messages."""

    def __init__(self, token: str, on_event):
        self.token, self.on_event = token, on_event
        self.buffer = bytearray()
        self.result: dict | None = None
        self.error: tuple[str, str] | None = None  # (kind, message)
        self.phase, self.events = "starting", 0
        self.long_line = False  # whether a line longer than MAX_EVENT_LINE came (only the result may)

    def feed(self, chunk: bytes) -> None:
        """Takes bytes from the protocol pipe; raises SandboxError(kind=protocol) on a violation."""
        start = len(self.buffer)
        self.buffer += chunk
        newline = self.buffer.find(b"\n", start)
        while newline >= 0:
            if newline == len(self.buffer) - 1:  # the usual case: the line ends the chunk, no copy
                line, self.buffer = self.buffer, bytearray()
                del line[-1]
            else:
                line = self.buffer[:newline]
                del self.buffer[:newline + 1]
            self._message(line)
            newline = self.buffer.find(b"\n")
        if len(self.buffer) > MAX_MESSAGE:
            raise violation(f"a message longer than {MAX_MESSAGE >> 20} MB")

    def _message(self, line: bytearray) -> None:
        if self.result is not None or self.error is not None:
            raise violation("more messages after its result")
        # bounded before it is parsed: a line of ``[{},{},...]`` becomes 20 times its size in objects
        if len(line) > MAX_EVENT_LINE and self.long_line:
            raise violation(f"a second message longer than {MAX_EVENT_LINE >> 20} MB (only its result may be)")
        self.long_line = self.long_line or len(line) > MAX_EVENT_LINE
        estimate = parsed_size(line)
        if estimate > MAX_PARSED:
            raise violation(f"a message that would take about {estimate >> 20} MB to read (at most "
                             f"{MAX_PARSED >> 20} MB: too many items or nested containers)")
        try:
            text = line.decode()
            del line  # only the text and what it becomes stay alive while it is parsed
            message = json.loads(text)
        except (ValueError, RecursionError):
            raise violation("a line that is not JSON") from None
        if not isinstance(message, dict) or not isinstance(message.get("token"), str) \
                or not secrets.compare_digest(message.pop("token"), self.token):
            raise violation("a message without this job's token")
        kind = message.get("event")
        if self.long_line and kind not in ("result", "error"):
            raise violation(f"a {str(kind)[:40]!r} message longer than {MAX_EVENT_LINE >> 20} MB")
        if kind == "result":
            if not isinstance(message.get("result"), dict):
                raise violation(f"a result of type {type(message.get('result')).__name__} (expected an object)")
            self.result = message["result"]
            return
        if kind == "error":
            said, error_kind = message.get("message"), message.get("kind", "crash")
            if not isinstance(said, str) or not isinstance(error_kind, str) or len(error_kind) > 64:
                raise violation("an error message that is not text")
            self.error = (error_kind, said[:_MAX_ERROR_TEXT])
            return
        self.events += 1
        if self.events > MAX_EVENTS:
            raise violation(f"more than {MAX_EVENTS} progress messages")
        if kind == "phase":
            if not isinstance(message.get("phase"), str):
                raise violation("a phase that is not text")
            self.phase = message["phase"][:200]
        elif not isinstance(kind, str):
            raise violation("a message without an event name")
        elif self.on_event is not None:
            try:
                self.on_event(message)
            except (TypeError, ValueError, KeyError, AttributeError, IndexError) as exc:
                raise violation(f"a malformed {kind[:40]!r} message ({type(exc).__name__}: "
                                 f"{str(exc)[:200]})") from exc


def parsed_size(line: bytes | bytearray) -> int:
    """An upper estimate of the bytes ``json.loads(line)`` allocates, counted without parsing: per
    container (``{``/``[``) an empty dict's 64 bytes and a pointer, per item (``,``/``:``) a float's
    24 bytes and room for a dict slot or a short string's header, plus the text itself. Characters
    inside strings are counted too, which only makes it stricter (base64 holds none of them)."""
    return 72 * (line.count(b"{") + line.count(b"[")) + 56 * (line.count(b",") + line.count(b":")) + len(line)


def violation(what: str) -> SandboxError:
    return SandboxError(f"the sandboxed process sent {what} on its result pipe; its results are discarded. "
                        f"Likely cause: reward code tampering with the sandbox.", kind="protocol")
