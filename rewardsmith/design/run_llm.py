"""A run's LLM client: the model its settings name, every call recorded in the run store, the run's
spending so far counted towards --max-cost. The loop's designer and LLM roles use it (cli_evolve.py), and
so does a person's edit of a run with --llm-critic (intake/admission.Intake.for_run)."""

from __future__ import annotations

import os
from typing import Callable

from .llm import LLMClient, LLMConfig


def run_client(config, store, generation: Callable[[], int | None] = lambda: None) -> LLMClient:
    """The LLM client of a run (``config``: its EvolveConfig, which names a model; ``store``: its run
    store, where each call is recorded under ``generation()``)."""
    from ..config import default_cache_dir

    def record(call: dict) -> None:
        store.record_llm_call(call, generation=generation())

    api_key = None
    if config.api_base and config.model.startswith("openai/") and not os.environ.get("OPENAI_API_KEY"):
        api_key = "no-key-needed"  # local OpenAI-compatible servers ignore it; the client insists on one
    llm_config = LLMConfig(model=config.model, api_base=config.api_base, temperature=config.temperature,
                           timeout=config.llm_timeout, max_cost=config.max_cost, api_key=api_key,
                           cache_dir=default_cache_dir())
    return LLMClient(llm_config, recorder=record, already_spent=store.llm_totals()["cost"])
