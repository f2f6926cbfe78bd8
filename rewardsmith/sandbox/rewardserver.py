"""The reward process: the one place candidate code runs (``job["kind"] == "reward"``).

It loads the reward and turns batches of transitions into reward numbers, nothing else. During
training the learner (``train.py``, which never loads candidate code) sends it one batch per
vectorised step, every env at once, over a pipe the parent made; it answers with each env's total
and components, which the learner checks before PPO sees them. The critic's probe and the replay of
recorded episodes call the same ``RewardServer`` on the transitions they make.

Frames on both pipes are ``kind`` (one byte), ``length`` (uint32 little-endian), then ``length`` bytes:

- learner -> reward: ``L`` a layout (JSON: the state's keys, each value's type, dtype and shape),
  sent when it changes; ``B`` a batch: the values by column (every env's first value, then every
  env's second, ...) as raw little-endian bytes.
- reward -> learner: ``N`` each env's component names (JSON), sent when they change; ``R`` the
  totals then every env's component values, float64; ``E`` the reward's error (JSON: the message).

A reward process that escapes every Python guard can still only send numbers the learner checks
(count, finiteness, names); it cannot reach the learner's memory, files or pipe to the parent.
"""

from __future__ import annotations

import ast
import json
import os
import select
import struct
import time
from typing import Any

import numpy as np

from .batchclock import BatchClock, BatchTooSlow, caught_line
from .confine import CpuTimeExceeded
from .rewardcode import MAX_REWARD, describe_exception, location, reward_line, validate
from ..errors import RewardCodeError
from ..task import state_type

FRAME = struct.Struct("<cI")
MAX_FRAME = 16 << 20       # bytes in one frame; a batch of 64 envs' transitions is a few kB
MAX_COMPONENTS = 64        # components of one transition (the critic asks for a handful)
STUCK_EXIT = 3             # the reward process's exit status when reward code would not stop


def fields_read_by(code: str, field_names) -> list[str]:
    """The task fields reward code can read: every attribute name it mentions that is a field.

    Reflection-free code (the critic bans getattr and friends) can reach a field only through a
    literal attribute, so this is complete; a field it reaches some other way is an unknown field in
    the reward process. Parses, never runs, the code: the parent calls it to tell the learner what
    to compute and send.
    """
    names = {n.attr for n in ast.walk(ast.parse(code)) if isinstance(n, ast.Attribute)}
    return [f for f in field_names if f in names]


# --------------------------------------------------------------------------- frames


def write_frame(fd: int, kind: bytes, body: bytes = b"") -> None:
    data = FRAME.pack(kind, len(body)) + body
    while data:
        data = data[os.write(fd, data):]


def _read_exactly(fd: int, count: int, deadline: float | None) -> bytes | None:
    """``count`` bytes from ``fd``; None at end of file; TimeoutError past ``deadline``."""
    chunks, missing = [], count
    while missing:
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                raise TimeoutError
        chunk = os.read(fd, missing)
        if not chunk:
            return None
        chunks.append(chunk)
        missing -= len(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def read_frame(fd: int, deadline: float | None = None) -> tuple[bytes, bytes] | None:
    """The next ``(kind, body)`` on ``fd``; None at end of file (also mid-frame); ValueError for a
    frame longer than MAX_FRAME; TimeoutError past ``deadline`` (None: wait as long as it takes)."""
    header = _read_exactly(fd, FRAME.size, deadline)
    if header is None:
        return None
    kind, length = FRAME.unpack(header)
    if length > MAX_FRAME:
        raise ValueError(f"a frame of {length} bytes (at most {MAX_FRAME})")
    body = _read_exactly(fd, length, deadline) if length else b""
    return None if body is None else (kind, body)


# --------------------------------------------------------------------------- values as bytes

# a value's spec in a layout: "f" a Python float, "i" an int, "b" a bool, ["s", dtype] a numpy
# scalar, ["a", dtype, shape] an array (read-only on the reward side, as ``task.frozen`` makes it)


def spec_of(value):
    kind = type(value)
    if kind is float:
        return "f"
    if kind is np.ndarray and not value.dtype.hasobject:
        return ("a", value.dtype.str, value.shape)
    if kind is bool or kind is np.bool_:
        return "b" if kind is bool else ("s", value.dtype.str)
    if kind is int:
        return "i"
    if isinstance(value, np.generic) and not value.dtype.hasobject:
        return ("s", value.dtype.str)
    if isinstance(value, float):  # a float subclass a task field returned: as the float it is
        return "f"
    raise TypeError(f"a {kind.__name__} ({value!r:.60}); a field sent to the reward process must be a "
                    f"float, int, bool, numpy scalar or numeric array")


def encode(values: list, specs: tuple) -> bytes:
    """The batch body: the floats (float64), then the ints and bools (int64), then every other
    value's bytes, in order (the learner sends them by column: every env's first value, then every
    env's second, ...)."""
    floats, ints, blobs = [], [], []
    for value, spec in zip(values, specs):
        if spec == "f":
            floats.append(value)
        elif spec == "i" or spec == "b":
            ints.append(value)
        else:
            blobs.append(value.tobytes())
    return b"".join((np.array(floats, dtype="<f8").tobytes(), np.array(ints, dtype="<i8").tobytes(), *blobs))


class Layout:
    """How to read a batch body back into every env's transition values (reward side): made once per
    layout frame. Values come by column (position in the transition), so a column of arrays of one
    shape is read with one ``frombuffer`` for every env."""

    def __init__(self, message: dict):
        keys, specs, n = message["keys"], message["specs"], int(message["envs"])
        if not isinstance(keys, list) or not all(isinstance(k, str) and k.isidentifier() for k in keys):
            raise ValueError("state keys that are not names")
        per = 2 * len(keys) + 1
        if n < 1 or len(specs) != n * per:
            raise ValueError(f"{len(specs)} value specs for {n} transitions of {len(keys)} keys")
        self.keys, self.envs, self.per = tuple(keys), n, per
        floats = sum(1 for s in specs if s == "f")
        ints = sum(1 for s in specs if s in ("i", "b"))
        self.float_bytes, self.int_bytes = 8 * floats, 8 * ints
        # (kind, where, dtype, shape): "floats" and "arrays" read a whole column, "values" each item
        self.plan: list[tuple[str, Any, Any, Any]] = []
        offset, f, i = self.float_bytes + self.int_bytes, 0, 0
        for column in range(per):
            column_specs = specs[column * n:(column + 1) * n]
            first = column_specs[0]
            if first == "f" and all(spec == "f" for spec in column_specs):
                self.plan.append(("floats", f, None, None))
                f += n
                continue
            if first != "f" and first[0] == "a" and len(first[2]) and all(spec == first for spec in column_specs):
                dtype, shape = self._array(first)
                self.plan.append(("arrays", offset, dtype, shape))
                offset += n * dtype.itemsize * int(np.prod(shape, dtype=np.int64))
                continue
            items = []
            for spec in column_specs:
                if spec == "f":
                    items.append((0, f, None, 0, None))
                    f += 1
                elif spec in ("i", "b"):
                    items.append((1 if spec == "i" else 2, i, None, 0, None))
                    i += 1
                else:
                    dtype, shape = self._array(spec) if spec[0] == "a" else (np.dtype(spec[1]), ())
                    count = int(np.prod(shape, dtype=np.int64))
                    items.append((3 if spec[0] == "a" else 4, offset, dtype, count, shape))
                    offset += count * dtype.itemsize
            self.plan.append(("values", items, None, None))
        self.size = offset

    @staticmethod
    def _array(spec) -> tuple:
        dtype = np.dtype(spec[1])
        if dtype.hasobject:
            raise ValueError("an object dtype")
        return dtype, tuple(int(d) for d in spec[2])

    def rows(self, body: bytes) -> list[tuple]:
        """Every env's transition values, in order (read-only arrays: over a bytes object, like
        ``task.frozen``'s)."""
        if len(body) != self.size:
            raise ValueError(f"a batch of {len(body)} bytes (the layout says {self.size})")
        n = self.envs
        floats = np.frombuffer(body, "<f8", self.float_bytes // 8).tolist()
        ints = np.frombuffer(body, "<i8", self.int_bytes // 8, self.float_bytes).tolist()
        columns = []
        for kind, at, dtype, shape in self.plan:
            if kind == "floats":
                columns.append(floats[at:at + n])
            elif kind == "arrays":
                count = n * int(np.prod(shape, dtype=np.int64))
                columns.append(list(np.frombuffer(body, dtype, count, at).reshape((n, *shape))))
            else:
                columns.append([self._value(item, body, floats, ints) for item in at])
        return list(zip(*columns))

    @staticmethod
    def _value(item, body, floats, ints):
        kind, at, dtype, count, shape = item
        if kind == 0:
            return floats[at]
        if kind == 1:
            return ints[at]
        if kind == 2:
            return bool(ints[at])
        array = np.frombuffer(body, dtype, count, at)
        return array[0] if kind == 4 else array.reshape(shape)


# --------------------------------------------------------------------------- the reward side


class RewardServer:
    """Calls a loaded reward on transitions and validates each answer (``rewardcode.validate``);
    a failure of reward code becomes a RewardCodeError with ``describe_exception``'s text. With
    ``seconds``, a batch that takes longer than that (an infinite loop) stops where it is, and the
    error names the line; reward code that catches the stop and returns fails the batch all the
    same, and reward code that catches it and keeps running is reported through ``stuck`` (see
    ``batchclock``). (Wall time, not CPU time: it must come before the learner's wait for the
    answer, wall time too, runs out, however busy the machine.)"""

    def __init__(self, reward, code: str, seconds: float | None = None, stuck=None):
        self.reward, self.code, self.seconds = reward, code, seconds
        self.clock = BatchClock(seconds, stuck) if seconds else None
        if self.clock is not None:
            import signal

            signal.signal(signal.SIGALRM, self.clock)

    def call(self, state, action, next_state, where: str):
        """``(total, components)`` of one transition, or RewardCodeError saying what went wrong ``where``."""
        try:
            return validate(self.reward(state, action, next_state))
        except (MemoryError, CpuTimeExceeded):
            raise  # the process's limits: the child reports them
        except BaseException as exc:  # noqa: BLE001 - SystemExit etc. are the reward's failure, not ours
            raise RewardCodeError(describe_exception(exc, self.code, where)) from None

    def batch(self, layout: Layout, body: bytes, where: str) -> tuple[list[float], list[dict]]:
        """Every env's ``(total, components)`` for one batch body."""
        make, k, reward = state_type(layout.keys), len(layout.keys), self.reward
        totals, components = [], []
        new = tuple.__new__
        rows = layout.rows(body)
        clock, env = self.clock, 0
        if clock is not None:
            clock.message = lambda line: self._too_slow(len(rows), line, where, swallowed=True)
            clock.start()
        try:  # what ``call`` does, once per batch rather than once per transition
            for env, row in enumerate(rows):
                answer = reward(new(make, row[:k]), row[k], new(make, row[k + 1:]))
                if clock is not None and clock.rung:
                    break  # it caught BatchTooSlow and returned: the batch fails below
                total, comps = validate(answer)
                totals.append(total)
                components.append(comps)
        except (MemoryError, CpuTimeExceeded):
            raise
        except BatchTooSlow as exc:
            raise RewardCodeError(self._too_slow(len(rows), reward_line(exc), where)) from None
        except BaseException as exc:  # noqa: BLE001
            if clock is None or not clock.rung:
                raise RewardCodeError(describe_exception(exc, self.code, self._at(where, env, len(rows)))) from None
        finally:
            if clock is not None:
                clock.stop()
        if clock is not None and clock.rung:  # the limit holds whatever reward code caught
            raise RewardCodeError(self._too_slow(len(rows), caught_line(clock.raised), where, swallowed=True))
        return totals, components

    @staticmethod
    def _at(where: str, env: int, envs: int) -> str:
        return f"{where}, env {env + 1} of {envs}" if envs > 1 else where

    def _too_slow(self, transitions: int, line: int | None, where: str, swallowed: bool = False) -> str:
        caught = ("; it caught the time limit's stop and went on (a bare `except:` or `except BaseException` "
                  "catches it: catch Exception, or the errors you expect)") if swallowed else ""
        return (f"compute_reward took more than {self.seconds:g} s on one step's {transitions} "
                f"transitions{location(self.code, line)} {where}{caught}; expected well under a millisecond "
                f"per call. Likely cause: an infinite loop or a loop over a huge range.")


def load(code: str, guarded: bool = True):
    """The reward's ``compute_reward``: loaded under the Python layers (``rewardcode.load_reward``),
    or, for a trusted test that switched them off (``Layers(python=False)``), with the real builtins:
    what reward code that has escaped every Python guard can do in this process."""
    from .rewardcode import REWARD_FILENAME, load_reward

    if guarded:
        return load_reward(code)
    namespace = {"__name__": "reward"}
    exec(compile(code, REWARD_FILENAME, "exec"), namespace)  # noqa: S102 - tests only, see docstring
    return namespace["compute_reward"]


def reward_job(job: dict, emit) -> dict:
    """Child side: loads the reward, then answers the learner's batches until it closes its pipe."""
    requests, replies, code = int(job["requests"]), int(job["replies"]), job["code"]
    emit({"event": "phase", "phase": "loading the reward code"})
    try:
        reward = load(code, (job.get("layers") or {}).get("python", True))
    except (MemoryError, CpuTimeExceeded):
        raise
    except BaseException as exc:  # noqa: BLE001 - SystemExit etc. are findings, not our exit
        write_frame(replies, b"E", json.dumps({"message": describe_exception(
            exc, code, "while loading the module")}).encode())
        return {"batches": 0}
    def stuck(message: str):  # reward code that swallowed the time limit: said from outside its frames
        write_frame(replies, b"E", json.dumps({"message": message}).encode())
        os._exit(STUCK_EXIT)

    # half the learner's wait for an answer: an infinite loop is reported, with its line, before the
    # learner gives up waiting
    server = RewardServer(reward, code, seconds=float(job.get("batch_seconds") or 30.0), stuck=stuck)
    emit({"event": "phase", "phase": "computing rewards"})
    layout, names, batches = None, None, 0
    while True:
        frame = read_frame(requests)
        if frame is None:
            return {"batches": batches}  # the learner is done
        kind, body = frame
        if kind == b"L":
            layout = Layout(json.loads(body))
            continue
        if kind != b"B" or layout is None:
            raise ValueError(f"the learner sent a {kind!r} frame; expected a layout, then batches")
        try:
            totals, components = server.batch(layout, body, f"during training (step {batches + 1} of this leg)")
        except RewardCodeError as exc:
            write_frame(replies, b"E", json.dumps({"message": str(exc)}).encode())
            return {"batches": batches}
        batches += 1
        now = [list(c) for c in components]
        if now != names:
            names = now
            write_frame(replies, b"N", json.dumps(names).encode())
        numbers = totals + [v for c in components for v in c.values()]
        write_frame(replies, b"R", np.array(numbers, dtype="<f8").tobytes())


# --------------------------------------------------------------------------- the learner side


class RemoteReward:
    """The learner's end of the reward process: ``rewards(transitions)`` sends one batch (every env's
    ``(state values, action, next-state values)``) and gives back its checked totals and components.

    Everything that comes back is checked: frame kinds and sizes, one finite total per transition,
    component names (``rewardcode.check_component_name``) and finite values. A reward error comes
    back as RewardCodeError with the reward process's message; anything else that goes wrong (no
    answer within ``reply_seconds``, the process gone, a malformed answer) is a SandboxError.
    """

    def __init__(self, requests: int, replies: int, keys, reply_seconds: float = 60.0):
        self.requests, self.replies, self.keys = int(requests), int(replies), list(keys)
        self.reply_seconds = float(reply_seconds)
        self.specs: tuple | None = None
        self.names: list[tuple[str, ...]] | None = None

    def rewards(self, transitions) -> tuple[list[float], list[dict]]:
        # by column: every env's first value, then every env's second, ... (see Layout)
        values = [v for column in zip(*[(*state, action, *next_state) for state, action, next_state in transitions])
                  for v in column]
        specs = tuple(map(spec_of, values))
        try:
            if specs != self.specs:
                self.specs = specs
                write_frame(self.requests, b"L", json.dumps(
                    {"keys": self.keys, "specs": specs, "envs": len(transitions)}).encode())
            write_frame(self.requests, b"B", encode(values, specs))
        except BrokenPipeError:
            pass  # it ended: what it said before it did (an error message, say) is still in the pipe
        return self._answer(len(transitions))

    def _answer(self, n: int) -> tuple[list[float], list[dict]]:
        deadline = time.monotonic() + self.reply_seconds
        while True:
            try:
                frame = read_frame(self.replies, deadline)
            except TimeoutError:
                raise self._error(
                    f"the reward process did not answer within {self.reply_seconds:g} s; likely cause: an "
                    f"infinite loop in the reward code or a reward far too slow to compute", "timeout") from None
            except ValueError as exc:
                raise self._violation(str(exc)) from None
            if frame is None:
                raise self._gone("ended without answering")
            kind, body = frame
            if kind == b"R":
                return self._numbers(body, n)
            if kind == b"N":
                self.names = self._names(body, n)
            elif kind == b"E":
                raise RewardCodeError(self._message(body))
            else:
                raise self._violation(f"a frame of unknown kind {kind!r}")

    def _numbers(self, body: bytes, n: int):
        names = self.names
        if names is None or len(names) != n:
            raise self._violation("rewards before the names of their components")
        expected = 8 * (n + sum(map(len, names)))
        if len(body) != expected:
            raise self._violation(f"{len(body)} bytes of rewards (expected {expected} for {n} transitions)")
        numbers = np.frombuffer(body, "<f8")
        if not (np.abs(numbers) <= MAX_REWARD).all():  # false for NaN too
            raise self._violation("a reward that is not finite" if not np.isfinite(numbers).all() else
                                  f"a reward of magnitude above {MAX_REWARD:g} (rewardcode.MAX_REWARD)")
        numbers = numbers.tolist()
        components, at = [], n
        for env_names in names:
            components.append(dict(zip(env_names, numbers[at:at + len(env_names)])))
            at += len(env_names)
        return numbers[:n], components

    def _names(self, body: bytes, n: int) -> list[tuple[str, ...]]:
        from .rewardcode import check_component_name

        try:
            names = json.loads(body)
        except (ValueError, RecursionError):
            raise self._violation("component names that are not JSON") from None
        if not isinstance(names, list) or len(names) != n:
            raise self._violation(f"component names for other than {n} transitions")
        out = []
        for env_names in names:
            if not isinstance(env_names, list) or len(env_names) > MAX_COMPONENTS \
                    or not all(isinstance(name, str) for name in env_names) or len(set(env_names)) != len(env_names):
                raise self._violation(f"component names that are not a list of at most {MAX_COMPONENTS} "
                                      f"distinct strings")
            for name in env_names:
                try:
                    check_component_name(name)
                except RewardCodeError as exc:
                    raise self._violation(f"a bad component name ({exc})") from None
            out.append(tuple(env_names))
        return out

    def _message(self, body: bytes) -> str:
        try:
            message = json.loads(body).get("message")
        except (ValueError, RecursionError, AttributeError):
            message = None
        if not isinstance(message, str):
            raise self._violation("an error that is not a message")
        return message[:8000]

    def _gone(self, what: str):
        return self._error(f"the reward process {what}; it ended or crashed (its own error, if it "
                           f"sent one, says why)", "reward_process")

    def _violation(self, what: str):
        return self._error(f"the reward process sent {what}; its answers are discarded. Likely cause: "
                           f"reward code tampering with the sandbox.", "protocol")

    @staticmethod
    def _error(message: str, kind: str):
        from ..errors import SandboxError

        return SandboxError(message, kind=kind)

    def close(self) -> None:
        for fd in (self.requests, self.replies):
            try:
                os.close(fd)
            except OSError:
                pass
