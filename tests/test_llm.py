"""The LLM layer: real litellm against ``mock_response`` and against a loopback OpenAI-compatible stub."""

import json
import logging
import os
import subprocess
import sys
import threading
import time

import pytest

from rewardsmith.errors import ConfigError, LLMError
from rewardsmith.design.llm import BudgetExhausted, LLMClient, LLMConfig, Reply, extract_code, model_configured, resolve_model
from stub_llm import StubLLM

MESSAGES = [{"role": "system", "content": "You write reward functions."},
            {"role": "user", "content": "Write compute_reward for reaching the flag."}]
RECORD_KEYS = {"purpose", "model", "messages", "response", "prompt_tokens", "completion_tokens", "cost",
               "latency_s", "error", "cached", "sample_index", "attempt", "call_id", "n"}
# gpt-4o-mini per litellm's bundled cost map: $0.15 / 1M prompt tokens, $0.60 / 1M completion tokens;
# a mock response counts 10 prompt and 20 completion tokens per call.
MOCK_CALL_COST = 10 * 0.15e-6 + 20 * 0.60e-6


def mock_config(text="```python\ndef compute_reward(s, a, n):\n    return 0.0, {}\n```", **kwargs):
    return LLMConfig(model=kwargs.pop("model", "gpt-4o-mini"), backoff_s=0.001,
                     params={"mock_response": text}, **kwargs)


def stub_config(stub, **kwargs):
    kwargs.setdefault("backoff_s", 0.001)
    return LLMConfig(model=kwargs.pop("model", "openai/stub-model"), api_base=stub.url, api_key="sk-test",
                     **kwargs)


class Recorder:
    def __init__(self):
        self.records, self.threads = [], set()

    def __call__(self, record):
        self.records.append(record)
        self.threads.add(threading.get_ident())


# mock_response: the client's own logic, through litellm's real completion path ------------------------
@pytest.mark.slow
def test_n_samples_carry_tokens_and_cost_split_across_them():
    recorder = Recorder()
    client = LLMClient(mock_config(), recorder)
    replies = client.complete(MESSAGES, n=3, purpose="generation 0")
    assert [r.sample_index for r in replies] == [0, 1, 2]
    assert all(isinstance(r, Reply) and "compute_reward" in r.text and not r.cached for r in replies)
    assert sum(r.prompt_tokens for r in replies) == 10 and sum(r.completion_tokens for r in replies) == 20
    assert sum(r.cost for r in replies) == pytest.approx(MOCK_CALL_COST)
    assert client.spent_usd == pytest.approx(MOCK_CALL_COST)
    assert client.network_calls == 1  # gpt-4o-mini supports n: one request for all three
    assert [set(r) for r in recorder.records] == [RECORD_KEYS] * 3
    first = recorder.records[0]
    assert first["purpose"] == "generation 0" and first["model"] == "gpt-4o-mini" and first["error"] is None
    assert first["messages"] == MESSAGES and first["attempt"] == 1 and first["n"] == 3
    assert len({r["call_id"] for r in recorder.records}) == 1


@pytest.mark.slow  # litellm's first completion in a process: over 3 s
def test_unknown_model_counts_tokens_but_no_cost():
    client = LLMClient(mock_config(model="openai/my-local-coder"))
    (reply,) = client.complete(MESSAGES, n=1, purpose="p")
    assert reply.cost is None and reply.prompt_tokens == 10 and reply.completion_tokens == 20
    assert client.spent_usd == 0.0 and client.prompt_tokens == 10


def test_max_cost_stops_before_the_call_that_would_exceed_it():
    recorder = Recorder()
    client = LLMClient(mock_config(max_cost=1.5 * MOCK_CALL_COST), recorder)
    client.complete(MESSAGES, n=1, purpose="p")
    client.complete(MESSAGES, n=1, purpose="p")  # spent 1x < limit: allowed, and overshoots
    with pytest.raises(BudgetExhausted, match="max-cost") as caught:
        client.complete(MESSAGES, n=1, purpose="p")
    assert isinstance(caught.value, LLMError)
    assert caught.value.spent == pytest.approx(2 * MOCK_CALL_COST)
    assert client.network_calls == 2 and len(recorder.records) == 2


def test_already_spent_counts_toward_the_budget():
    client = LLMClient(mock_config(max_cost=0.01), already_spent=0.01)
    with pytest.raises(BudgetExhausted):
        client.complete(MESSAGES, n=1, purpose="p")
    assert client.network_calls == 0


def test_persistent_rate_limit_is_retried_logged_recorded_then_fails(caplog):
    recorder = Recorder()
    client = LLMClient(mock_config("litellm.RateLimitError", max_retries=2), recorder)
    with caplog.at_level(logging.WARNING, logger="rewardsmith.design.llm"):
        with pytest.raises(LLMError, match="failed 3 time"):
            client.complete(MESSAGES, n=1, purpose="repair")
    assert [r["attempt"] for r in recorder.records] == [1, 2, 3]
    assert all("RateLimitError" in r["error"] and r["response"] is None for r in recorder.records)
    retries = [r.getMessage() for r in caplog.records if r.name == "rewardsmith.design.llm"]
    assert len(retries) == 2 and all("rate limit" in m and "retrying" in m for m in retries)


def test_request_errors_are_not_retried():
    recorder = Recorder()
    client = LLMClient(mock_config("litellm.ContextWindowExceededError"), recorder)
    with pytest.raises(LLMError, match="refused the request"):
        client.complete(MESSAGES, n=1, purpose="p")
    assert client.network_calls == 1 and len(recorder.records) == 1


def test_cache_replays_with_the_same_seed_only(tmp_path):
    config = mock_config(cache_dir=tmp_path / "cache")
    first = LLMClient(config).complete(MESSAGES, n=2, purpose="p", seed=7)
    recorder = Recorder()
    again = LLMClient(config, recorder)
    replayed = again.complete(MESSAGES, n=2, purpose="p", seed=7)
    assert again.network_calls == 0 and again.spent_usd == 0.0 and again.cached_replies == 2
    assert [r.text for r in replayed] == [r.text for r in first]
    assert all(r.cached for r in replayed) and [r["cached"] for r in recorder.records] == [True, True]
    assert sorted(p.suffix for p in (tmp_path / "cache").iterdir()) == [".json", ".json"]  # no temp files left
    again.complete(MESSAGES, n=2, purpose="p", seed=8)
    assert again.network_calls == 1


def test_importing_rewardsmith_llm_does_not_import_litellm():
    script = "import sys, rewardsmith.design.llm\nassert 'litellm' not in sys.modules, 'litellm imported eagerly'"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr


def test_litellm_is_set_up_offline_and_quiet_unless_the_user_says_otherwise(monkeypatch):
    from rewardsmith.design import llm

    monkeypatch.delenv("LITELLM_LOCAL_MODEL_COST_MAP", raising=False)
    monkeypatch.delenv("LITELLM_LOG", raising=False)
    llm._litellm.cache_clear()
    llm._litellm()
    assert os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] == "True"  # no cost-map download on import
    assert logging.getLogger("LiteLLM").level == logging.CRITICAL
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "False")
    llm._litellm.cache_clear()
    llm._litellm()
    assert os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] == "False"  # a user's choice stands


# the stub server: real HTTP on 127.0.0.1 ------------------------------------------------------------
def test_provider_n_gives_k_samples_in_one_request(stub_llm):
    for text in ("first reply", "second reply", "third one here"):
        stub_llm.enqueue(text)
    client = LLMClient(stub_config(stub_llm))
    replies = client.complete(MESSAGES, n=3, purpose="p")
    assert [r.text for r in replies] == ["first reply", "second reply", "third one here"]
    assert len(stub_llm.requests) == 1 and stub_llm.requests[0]["n"] == 3
    assert stub_llm.requests[0]["model"] == "stub-model" and stub_llm.requests[0]["messages"] == MESSAGES
    assert sum(r.completion_tokens for r in replies) == 7 and client.prompt_tokens == 10
    assert all(r.cost is None for r in replies)  # litellm has no price for stub-model


def test_ignored_n_is_made_up_with_concurrent_single_calls():
    recorder = Recorder()
    with StubLLM(honour_n=False) as stub:
        for text in "abc":
            stub.enqueue(f"reply {text}")
        client = LLMClient(stub_config(stub), recorder)
        replies = client.complete(MESSAGES, n=3, purpose="p")
        assert [r.sample_index for r in replies] == [0, 1, 2]
        assert sorted(r.text for r in replies) == ["reply a", "reply b", "reply c"]
        assert len(stub.requests) == 3 and [r.get("n") for r in stub.requests][1:] == [None, None]
        for text in "de":
            stub.enqueue(f"reply {text}")
        client.complete(MESSAGES, n=2, purpose="p")  # now known to ignore n: singles straight away
        assert len(stub.requests) == 5 and all("n" not in r for r in stub.requests[3:])
    assert recorder.threads == {threading.get_ident()}  # the recorder never runs on a worker thread
    assert len(recorder.records) == 5


def test_rate_limit_and_server_error_are_retried_with_backoff(stub_llm, caplog):
    stub_llm.enqueue_error(429).enqueue_error(500).enqueue_error(503).enqueue("finally")
    recorder = Recorder()
    with caplog.at_level(logging.WARNING, logger="rewardsmith.design.llm"):
        (reply,) = LLMClient(stub_config(stub_llm), recorder).complete(MESSAGES, n=1, purpose="p")
    assert reply.text == "finally" and len(stub_llm.requests) == 4  # one request per attempt
    assert [(r["attempt"], r["error"] is None) for r in recorder.records] == [
        (1, False), (2, False), (3, False), (4, True)]
    logged = " | ".join(r.getMessage() for r in caplog.records)
    assert "rate limit" in logged and "HTTP 500" in logged and "HTTP 503" in logged


def test_retry_after_header_is_honoured(stub_llm):
    stub_llm.enqueue_error(429, retry_after=0.4).enqueue("ok")
    started = time.monotonic()
    LLMClient(stub_config(stub_llm, backoff_max_s=5)).complete(MESSAGES, n=1, purpose="p")
    assert time.monotonic() - started >= 0.4


def test_timeout_is_retried(stub_llm):
    stub_llm.enqueue("too late", delay_s=1.5).enqueue("in time")
    recorder = Recorder()
    (reply,) = LLMClient(stub_config(stub_llm, timeout=0.3), recorder).complete(MESSAGES, n=1, purpose="p")
    assert reply.text == "in time"
    assert "Timeout" in recorder.records[0]["error"]


def test_authentication_error_fails_at_once(stub_llm):
    stub_llm.enqueue_error(401, "invalid api key").enqueue("never")
    with pytest.raises(LLMError, match="invalid api key"):
        LLMClient(stub_config(stub_llm)).complete(MESSAGES, n=1, purpose="p")
    assert len(stub_llm.requests) == 1


def test_cache_rerun_makes_zero_requests(stub_llm, tmp_path):
    for text in ("one", "two", "three"):
        stub_llm.enqueue(text)
    config = stub_config(stub_llm, cache_dir=tmp_path)
    first = LLMClient(config).complete(MESSAGES, n=3, purpose="p", seed=3)
    recorder = Recorder()
    replay = LLMClient(config, recorder).complete(MESSAGES, n=3, purpose="p", seed=3)
    assert len(stub_llm.requests) == 1
    assert [(r.text, r.sample_index, r.cached) for r in replay] == [(r.text, r.sample_index, True) for r in first]
    assert [r["response"] for r in recorder.records] == ["one", "two", "three"]
    stub_llm.enqueue("four")  # one more sample: only the missing index goes out
    more = LLMClient(config).complete(MESSAGES, n=4, purpose="p", seed=3)
    assert [r.text for r in more] == ["one", "two", "three", "four"] and len(stub_llm.requests) == 2
    assert "n" not in stub_llm.requests[1]
    cached = json.loads(next(tmp_path.glob("*.json")).read_text())
    assert "sk-test" not in json.dumps(cached)  # the key never reaches the disk


def test_max_cost_with_priced_model_behind_the_stub(stub_llm):
    stub_llm.enqueue("a b c d").enqueue("never sent")
    client = LLMClient(stub_config(stub_llm, model="openai/gpt-4o-mini", max_cost=1e-9))
    (reply,) = client.complete(MESSAGES, n=1, purpose="p")
    assert reply.cost == pytest.approx(10 * 0.15e-6 + 4 * 0.60e-6)
    with pytest.raises(BudgetExhausted):
        client.complete(MESSAGES, n=1, purpose="p")
    assert len(stub_llm.requests) == 1


def test_local_server_without_a_key_gets_a_placeholder(stub_llm, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    stub_llm.enqueue("hello")
    config = LLMConfig(model="openai/local", api_base=stub_llm.url)
    assert LLMClient(config).complete(MESSAGES, n=1, purpose="p")[0].text == "hello"
    assert stub_llm.headers[0]["Authorization"] == "Bearer sk-no-key-required"


def test_empty_stub_queue_fails_fast_with_a_clear_message(stub_llm):
    with pytest.raises(LLMError, match="queue is empty"):
        LLMClient(stub_config(stub_llm)).complete(MESSAGES, n=1, purpose="p")
    assert len(stub_llm.requests) == 1


# configuration ----------------------------------------------------------------------------------------
def test_model_configured_from_option_or_environment(monkeypatch):
    monkeypatch.delenv("REWARDSMITH_MODEL", raising=False)
    monkeypatch.delenv("REWARDSMITH_API_BASE", raising=False)
    assert not model_configured(None, None)
    assert model_configured("openai/gpt-4o-mini", None)
    with pytest.raises(ConfigError, match="--api-base"):
        model_configured(None, "http://localhost:8000/v1")
    monkeypatch.setenv("REWARDSMITH_MODEL", "ollama/qwen2.5-coder")
    assert resolve_model(None, None) == ("ollama/qwen2.5-coder", None)
    assert resolve_model("openai/x", "http://h/v1") == ("openai/x", "http://h/v1")


def test_config_rejects_nonsense():
    with pytest.raises(ConfigError, match="max-cost"):
        LLMConfig(model="gpt-4o-mini", max_cost=-1)
    with pytest.raises(ConfigError, match="no model"):
        LLMConfig(model="")


# extract_code -------------------------------------------------------------------------------------------
GOOD = "import numpy as np\n\ndef compute_reward(state, action, next_state):\n    return 1.0, {'a': 1.0}\n"


def test_extract_python_fence():
    assert extract_code(f"Here you go:\n```python\n{GOOD}```\nThis rewards progress.") == GOOD


def test_extract_prefers_the_last_python_block_defining_compute_reward():
    snippet = "```python\nspeed = next_state.x_velocity\n```"
    draft = "```python\ndef compute_reward(state, action, next_state):\n    return 0.0, {}\n```"
    reply = f"The key term is\n{snippet}\nA first try:\n{draft}\nBetter:\n```py\n{GOOD}```\n```text\nnotes\n```"
    assert extract_code(reply) == GOOD


def test_extract_any_fence_when_untagged():
    assert extract_code(f"```\n{GOOD}```") == GOOD
    assert extract_code(f"  ```Python\n  {GOOD.replace(chr(10), chr(10) + '  ')}```") == GOOD


def test_extract_prefers_a_definition_in_any_fence_to_a_python_snippet():
    assert extract_code(f"```python\nx = next_state.obs[0]\n```\nFull:\n```\n{GOOD}```") == GOOD


def test_extract_unclosed_fence_from_a_truncated_reply():
    assert extract_code(f"Sure.\n```python\n{GOOD}") == GOOD
    assert extract_code(f"```python\n{GOOD.rstrip()}```  Hope this helps.") == GOOD


def test_extract_indented_code_without_fences():
    indented = "\n".join("    " + line if line else "" for line in GOOD.splitlines())
    assert extract_code(f"Code:\n\n{indented}\n\nIt pays for height.") == GOOD


def test_extract_bare_code_between_prose():
    reply = f"I propose the following.\n{GOOD}\nThis reward encourages reaching the flag early.\n"
    assert extract_code(reply) == GOOD


def test_extract_keeps_broken_code_for_the_critic():
    broken = "def compute_reward(state, action, next_state)\n    return 1.0, {}\n"
    assert extract_code(f"```python\n{broken}```") == broken


def test_extract_without_code_says_so():
    with pytest.raises(LLMError, match="no code.*I cannot help"):
        extract_code("I cannot help with that request.")
