"""rewardsmith: LLM-driven reward function synthesis for reinforcement learning."""

__version__ = "0.1.0"
