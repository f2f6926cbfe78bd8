"""The LLM layer: K samples of a chat completion through litellm, retried, budgeted, cached, recorded.

K samples come from the provider's ``n`` where it works, else from concurrent single calls. Rate
limits, server errors, timeouts and connection errors are retried with exponential backoff, each
retry logged (``rewardsmith.design.llm``). Cost comes from litellm's tables (unknown models: tokens only);
once ``max_cost`` is spent the next call raises ``BudgetExhausted``. Responses are cached on disk by
model, api_base, messages, parameters, sample index and seed: a re-run with the same seed replays
without a network call. Every call, failed attempts included, goes to the recorder as a plain dict.

litellm is imported on first use: it takes seconds, and it would fetch its cost map from the
internet unless ``LITELLM_LOCAL_MODEL_COST_MAP`` is set (we default it to True).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import queue
import random
import re
import tempfile
import textwrap
import threading
import time
import uuid
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..errors import ConfigError, LLMError

log = logging.getLogger("rewardsmith.design.llm")

MODEL_ENV = "REWARDSMITH_MODEL"
API_BASE_ENV = "REWARDSMITH_API_BASE"
_CACHE_VERSION = 1
# OpenAI-compatible local servers (vLLM, Ollama, llama.cpp) ignore the key, but the client insists on one.
_PLACEHOLDER_KEY = "sk-no-key-required"

Recorder = Callable[[dict], None]


class BudgetExhausted(LLMError):
    """The money spent on LLM calls reached ``max_cost``; the run should stop cleanly."""

    def __init__(self, spent: float, limit: float):
        super().__init__(
            f"the LLM budget is used up: ${spent:.4f} spent of --max-cost ${limit:.4f}; "
            f"no further model calls are made (raise --max-cost to continue)"
        )
        self.spent = spent
        self.limit = limit


@dataclass
class LLMConfig:
    """How to reach the model and how much to spend on it."""

    model: str  # any litellm model string, e.g. "openai/gpt-4o-mini", "ollama/qwen2.5-coder"
    api_base: str | None = None  # any OpenAI-compatible server, e.g. "http://localhost:8000/v1"
    temperature: float = 1.0
    timeout: float = 120.0  # seconds per request
    max_retries: int = 5  # retries after the first attempt, on transient errors only
    max_cost: float | None = None  # USD; None means no limit
    api_key: str | None = None  # None: the provider's usual environment variable
    cache_dir: Path | None = None  # None: no response cache
    backoff_s: float = 1.0  # first retry delay; doubles on each retry
    backoff_max_s: float = 60.0
    max_concurrency: int = 8  # single calls in flight when the provider's n is not used
    params: dict = field(default_factory=dict)  # more litellm.completion arguments (max_tokens, ...)

    def __post_init__(self):
        if not self.model:
            raise ConfigError(f"no model given: pass --model (any litellm model string) or set {MODEL_ENV}")
        for name in ("temperature", "max_cost", "max_retries", "timeout", "backoff_s"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ConfigError(f"{name.replace('_', '-')} is {value}; expected a non-negative number")
        self.max_concurrency = max(1, self.max_concurrency)
        self.cache_dir = Path(self.cache_dir) if self.cache_dir is not None else None


@dataclass(frozen=True)
class Reply:
    """One sample of a completion.

    ``model`` is the name the server answered with. A cached reply carries the tokens, cost and
    latency of the call that first produced it; ``cached=True`` says nothing was spent this time.
    When one call returned several samples, its tokens and cost are split evenly across them.
    """

    text: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    cost: float | None  # USD; None when litellm has no price for the model
    latency_s: float
    cached: bool
    sample_index: int


def resolve_model(model: str | None = None, api_base: str | None = None) -> tuple[str | None, str | None]:
    """Gives the (model, api_base) to use: the options, else REWARDSMITH_MODEL / REWARDSMITH_API_BASE.

    A model of None means no model is configured and the offline designer runs.
    """
    model = model or os.environ.get(MODEL_ENV) or None
    api_base = api_base or os.environ.get(API_BASE_ENV) or None
    if api_base and not model:
        raise ConfigError(
            f"--api-base {api_base} was given without a model; pass --model too (for an OpenAI-compatible "
            f"server: --model openai/<the server's model name>) or set {MODEL_ENV}"
        )
    return model, api_base


def model_configured(model: str | None = None, api_base: str | None = None) -> bool:
    """True when an LLM designer can run: ``--model`` given or REWARDSMITH_MODEL set."""
    return resolve_model(model, api_base)[0] is not None


@functools.cache
def _litellm():
    """Imports litellm once, offline-safe and quiet."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    litellm.suppress_debug_info = True  # no "Give Feedback / Get Help" banners on every error
    if hasattr(litellm, "telemetry"):
        litellm.telemetry = False
    if not os.environ.get("LITELLM_LOG"):  # a user debugging litellm sets LITELLM_LOG and sees everything
        for name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
    return litellm


class LLMClient:
    """Samples completions from one configured model; see the module docstring.

    ``recorder(record)`` receives one plain dict per sample answered and per failed attempt, always
    on the thread that called ``complete`` (so it may write to SQLite). ``already_spent`` (USD) counts
    towards ``max_cost``, for a resumed run.
    """

    def __init__(self, config: LLMConfig, recorder: Recorder | None = None, *, already_spent: float = 0.0):
        self.config = config
        self.recorder = recorder
        self.spent_usd = float(already_spent)  # live calls only; cached replays cost nothing
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.network_calls = 0  # requests sent, failed ones included
        self.cached_replies = 0
        self._lock = threading.Lock()
        self._n_works: bool | None = None  # None: not known yet

    # public ---------------------------------------------------------------------------------------
    def complete(self, messages: list[dict], n: int, purpose: str, seed: int = 0) -> list[Reply]:
        """Gives ``n`` samples for ``messages``, ordered by sample index.

        ``seed`` tells apart calls whose messages are identical (pass the run seed mixed with the
        generation); with the same seed the same call replays from the cache. Raises
        ``BudgetExhausted`` when ``max_cost`` is reached and ``LLMError`` when the model cannot
        answer; samples that did arrive before that are cached and recorded.
        """
        if n < 1:
            raise ValueError(f"n is {n}; expected at least one sample")
        records: queue.SimpleQueue = queue.SimpleQueue()
        replies: dict[int, Reply] = {}
        try:
            for index in range(n):
                cached = self._cache_get(messages, index, seed)
                if cached is not None:
                    replies[index] = cached
                    records.put(self._record(purpose, messages, cached, attempt=0, call_id=None, n=1))
            with self._lock:
                self.cached_replies += len(replies)
            missing = [i for i in range(n) if i not in replies]
            if missing:
                _litellm()  # import once, here, rather than racing in worker threads
            if len(missing) > 1 and self._supports_n():
                got = self._call(messages, missing, purpose, seed, records.put)
                replies.update((r.sample_index, r) for r in got)
                if len(got) < len(missing):
                    self._n_works = False
                    log.info("%s: %s answered %d of %d samples in one request (n ignored); asking for the "
                             "rest with single calls", purpose, self.config.model, len(got), len(missing))
                elif self._n_works is None:
                    self._n_works = True
                missing = [i for i in missing if i not in replies]
            if missing:
                replies.update(self._single_calls(messages, missing, purpose, seed, records))
        finally:
            self._drain(records)
        return [replies[i] for i in range(n)]

    # calls ----------------------------------------------------------------------------------------
    def _supports_n(self) -> bool:
        if self._n_works is not None:
            return self._n_works
        litellm = _litellm()
        try:
            model, provider, _, _ = litellm.get_llm_provider(self.config.model, api_base=self.config.api_base)
            supported = litellm.get_supported_openai_params(model=model, custom_llm_provider=provider) or []
        except Exception as exc:  # an unknown provider fails properly on the first real call
            log.debug("cannot tell whether %s supports n: %s", self.config.model, exc)
            return False
        return "n" in supported

    def _single_calls(self, messages, indices, purpose, seed, records) -> dict[int, Reply]:
        """One request per sample, ``max_concurrency`` at a time; the recorder runs on this thread."""
        workers = min(len(indices), self.config.max_concurrency)
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="rewardsmith-llm")
        try:
            futures = [pool.submit(self._call, messages, [i], purpose, seed, records.put) for i in indices]
            pending = set(futures)
            while pending:
                _, pending = wait(pending, timeout=0.05, return_when=FIRST_COMPLETED)
                self._drain(records)
        finally:  # on Ctrl-C, start no further requests
            pool.shutdown(wait=False, cancel_futures=True)
        errors = [e for f in futures if (e := f.exception()) is not None]
        if errors:  # a spent budget is the reason to stop cleanly; report it before any other failure
            raise next((e for e in errors if isinstance(e, BudgetExhausted)), errors[0])
        return {r.sample_index: r for f in futures for r in f.result()}

    def _call(self, messages, indices, purpose, seed, emit) -> list[Reply]:
        """One request for ``len(indices)`` samples, retried on transient errors; caches what arrives."""
        litellm = _litellm()
        config = self.config
        call_id = uuid.uuid4().hex[:12]
        attempts = config.max_retries + 1
        for attempt in range(1, attempts + 1):
            self._check_budget()
            with self._lock:
                self.network_calls += 1
            started = time.monotonic()
            try:
                response = litellm.completion(**self._request(messages, len(indices)))
                choices = list(response.choices or [])[: len(indices)]
                if not choices:
                    raise LLMError(f"{config.model} answered with no choices")
            except Exception as exc:
                emit(self._record(purpose, messages, None, attempt=attempt, call_id=call_id, n=len(indices),
                                  index=indices[0], error=exc, latency=time.monotonic() - started))
                retry = _transient(exc)
                if retry is None:
                    if isinstance(exc, LLMError):
                        raise
                    if not isinstance(exc, _openai_error()):
                        raise  # a bug, not the model's answer: keep the traceback
                    raise LLMError(f"{purpose}: {config.model} refused the request: {_short(exc)}") from exc
                if attempt == attempts:
                    raise LLMError(
                        f"{purpose}: {config.model} failed {attempts} time(s), last with {retry}: {_short(exc)}"
                    ) from exc
                delay = self._backoff(attempt, exc)
                log.warning("%s: %s from %s (attempt %d of %d); retrying in %.1fs: %s",
                            purpose, retry, config.model, attempt, attempts, delay, _short(exc, 200))
                time.sleep(delay)
                continue
            return self._accept(response, choices, messages, indices, purpose, seed, attempt, call_id,
                                time.monotonic() - started, emit)
        raise AssertionError("unreachable")

    def _request(self, messages: list[dict], n: int) -> dict:
        config = self.config
        request = dict(config.params)
        request.update(model=config.model, messages=messages, temperature=config.temperature,
                       timeout=config.timeout, num_retries=0, max_retries=0)  # retries are ours, and logged
        if n > 1:
            request["n"] = n
        if config.api_base:
            request["api_base"] = config.api_base
        if config.api_key:
            request["api_key"] = config.api_key
        elif config.api_base and config.model.startswith("openai/") and not os.environ.get("OPENAI_API_KEY"):
            request["api_key"] = _PLACEHOLDER_KEY
        return request

    def _accept(self, response, choices, messages, indices, purpose, seed, attempt, call_id, latency, emit):
        usage = getattr(response, "usage", None)
        prompt_tokens = int(getattr(usage, "prompt_tokens", 0) or 0)
        completion_tokens = int(getattr(usage, "completion_tokens", 0) or 0)
        cost = self._cost(response)
        with self._lock:
            self.prompt_tokens += prompt_tokens
            self.completion_tokens += completion_tokens
            self.spent_usd += cost or 0.0
        k = len(choices)
        prompt_split, completion_split = _split(prompt_tokens, k), _split(completion_tokens, k)
        model = getattr(response, "model", None) or self.config.model
        log.debug("%s: %d sample(s) from %s in %.1fs, %d+%d tokens, cost %s",
                  purpose, k, model, latency, prompt_tokens, completion_tokens, cost)
        replies = []
        for j, (index, choice) in enumerate(zip(indices, choices)):
            reply = Reply(
                text=getattr(choice.message, "content", None) or "", model=model, prompt_tokens=prompt_split[j],
                completion_tokens=completion_split[j], cost=None if cost is None else cost / k,
                latency_s=latency, cached=False, sample_index=index,
            )
            self._cache_put(messages, index, seed, reply)
            emit(self._record(purpose, messages, reply, attempt=attempt, call_id=call_id, n=len(indices)))
            replies.append(reply)
        return replies

    def _cost(self, response) -> float | None:
        try:
            return float(_litellm().completion_cost(completion_response=response))
        except Exception as exc:  # litellm has no price for this model: count tokens only
            log.debug("no price for %s: %s", self.config.model, _short(exc))
            return None

    def _check_budget(self) -> None:
        limit = self.config.max_cost
        if limit is not None and self.spent_usd >= limit:
            raise BudgetExhausted(self.spent_usd, limit)

    def _backoff(self, attempt: int, exc: Exception) -> float:
        delay = min(self.config.backoff_max_s, self.config.backoff_s * 2 ** (attempt - 1))
        retry_after = _retry_after(exc)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.config.backoff_max_s))
        return delay * random.uniform(1.0, 1.1)  # jitter so concurrent retries do not collide

    # recording ------------------------------------------------------------------------------------
    def _record(self, purpose, messages, reply: Reply | None, *, attempt, call_id, n, index=None,
                error: Exception | None = None, latency: float = 0.0) -> dict:
        """The recorder's dict for one sample answered (``reply``) or one failed attempt (``error``)."""
        return {
            "purpose": purpose, "model": self.config.model, "messages": list(messages),
            "response": reply.text if reply else None,
            "prompt_tokens": reply.prompt_tokens if reply else 0,
            "completion_tokens": reply.completion_tokens if reply else 0,
            "cost": reply.cost if reply else None, "latency_s": reply.latency_s if reply else latency,
            "error": f"{type(error).__name__}: {_short(error, 1000)}" if error is not None else None,
            "cached": reply.cached if reply else False,
            "sample_index": reply.sample_index if reply else index, "attempt": attempt,
            "call_id": call_id, "n": n,
        }

    def _drain(self, records: queue.SimpleQueue) -> None:
        while not records.empty():  # this thread is the only consumer
            record = records.get()
            if self.recorder is not None:
                self.recorder(record)

    # cache ----------------------------------------------------------------------------------------
    def cache_key(self, messages: list[dict], sample_index: int, seed: int) -> str:
        """The sha256 naming one sample's cache file (the API key and timeouts are not part of it)."""
        config = self.config
        material = {
            "version": _CACHE_VERSION, "model": config.model, "api_base": config.api_base or "",
            "messages": messages, "temperature": config.temperature, "params": config.params,
            "sample_index": sample_index, "seed": seed,
        }
        text = json.dumps(material, sort_keys=True, ensure_ascii=False, default=repr)
        return hashlib.sha256(text.encode()).hexdigest()

    def _cache_get(self, messages, index, seed) -> Reply | None:
        if self.config.cache_dir is None:
            return None
        path = self.config.cache_dir / f"{self.cache_key(messages, index, seed)}.json"
        if not path.exists():
            return None
        try:
            return Reply(**dict(json.loads(path.read_text())["reply"], cached=True, sample_index=index))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("ignoring unreadable cache entry %s (%s); asking the model again", path, exc)
            return None

    def _cache_put(self, messages, index, seed, reply: Reply) -> None:
        directory = self.config.cache_dir
        if directory is None:
            return
        directory.mkdir(parents=True, exist_ok=True)
        key = self.cache_key(messages, index, seed)
        payload = {"model": self.config.model, "api_base": self.config.api_base, "seed": seed, "reply": asdict(reply)}
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{key[:16]}-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as handle:
                json.dump(payload, handle, ensure_ascii=False)
            os.replace(tmp, directory / f"{key}.json")
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


# helpers ------------------------------------------------------------------------------------------
def _openai_error() -> type:
    import openai  # litellm's exceptions subclass openai's; already imported with litellm

    return openai.OpenAIError


def _transient(exc: Exception) -> str | None:
    """Names the kind of a transient error worth retrying, or None for one that would recur."""
    import openai

    if isinstance(exc, openai.RateLimitError):
        return "a rate limit"
    if "missing credentials" in str(exc).lower():
        return None  # litellm reports a missing API key as a server error; retrying cannot help
    if isinstance(exc, openai.APITimeoutError):
        return "a timeout"
    if isinstance(exc, openai.APIConnectionError):
        return "a connection error"
    status = getattr(exc, "status_code", None)
    if isinstance(status, int) and (status >= 500 or status in (408, 429)):
        return f"a server error (HTTP {status})"
    if isinstance(exc, LLMError) and "no choices" in str(exc):
        return "an empty answer"
    return None


def _retry_after(exc: Exception) -> float | None:
    headers: Any = getattr(exc, "litellm_response_headers", None) or \
        getattr(getattr(exc, "response", None), "headers", {})
    try:
        return float(headers.get("retry-after"))
    except (AttributeError, TypeError, ValueError):
        return None  # absent, or an HTTP date: the exponential backoff is good enough


def _split(total: int, k: int) -> list[int]:
    base, extra = divmod(total, k)
    return [base + (1 if j < extra else 0) for j in range(k)]


def _short(exc: Exception, limit: int = 300) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


# code extraction ----------------------------------------------------------------------------------
_FENCE = re.compile(r"^[ \t]*(```|~~~)[ \t]*([\w+.-]*)[^\n]*\n(.*?)^[ \t]*\1[ \t]*$", re.M | re.S)
_OPEN_FENCE = re.compile(r"^[ \t]*```[ \t]*([\w+.-]*)[^\n]*\n", re.M)
_PYTHON_TAGS = {"python", "py", "python3", "py3"}
_DEFINES_REWARD = re.compile(r"^\s*def\s+compute_reward\s*\(", re.M)
_CODE_START = re.compile(r"^\s*(import\s+\w|from\s+[\w.]+\s+import\s|def\s+\w)")
_TOP_LEVEL_CODE = re.compile(
    r"^(import\s|from\s|def\s|class\s|@|#|if\s|for\s|while\s|try:|except|else:|elif\s|return\b|"
    r"[\w.]+\s*(=|\+=|-=|\*=|/=|\(|\[)|[)\]}]|\"\"\"|\'\'\')"
)


def extract_code(text: str) -> str:
    """Gives the Python module in an LLM reply.

    Order: the last fenced block that defines ``compute_reward`` (``python``-tagged ones first), else
    the longest fenced block (likewise), then an unclosed fence (a reply cut off by the token limit),
    then bare code amid prose (from the first ``import``/``from``/``def`` line to the first line of
    prose after it). The code is not checked here; the critic does that.
    """
    text = (text or "").replace("\r\n", "\n")
    blocks = [(tag.lower() in _PYTHON_TAGS, _tidy(body)) for _, tag, body in _FENCE.findall(text)]
    defining = [(python, b) for python, b in blocks if _DEFINES_REWARD.search(b)]
    for group in (defining, blocks):  # python-tagged first, then any; the last definition, else the longest
        for pool in ([b for python, b in group if python and b], [b for _, b in group if b]):
            if pool:
                return pool[-1] if group is defining else max(pool, key=len)
    opened = list(_OPEN_FENCE.finditer(text))
    if opened and not blocks:
        code = _tidy(text[opened[-1].end():].split("```")[0])  # cut off, or closed on a code line
        if code:
            return code
    lines = text.split("\n")
    start = next((i for i, line in enumerate(lines) if _CODE_START.match(line)), None)
    if start is not None:
        end = start + 1
        while end < len(lines):
            line = lines[end]
            if line.strip() and not line[0].isspace() and not _TOP_LEVEL_CODE.match(line):
                break
            end += 1
        code = _tidy("\n".join(lines[start:end]))
        if code:
            return code
    preview = " ".join((text or "").split())[:160]
    raise LLMError(
        "the model's reply contains no code: expected a ```python fenced block (or at least lines starting "
        f"with 'import' or 'def compute_reward'); the reply began: {preview!r}"
    )


def _tidy(code: str) -> str:
    code = textwrap.dedent(code).strip("\n")
    return code.rstrip() + "\n" if code.strip() else ""
