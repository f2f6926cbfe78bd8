"""The errors rewardsmith raises for expected failures.

The CLI turns every ``RewardsmithError`` into a clean one-paragraph message (no traceback); anything
else is a bug and is shown with its traceback.
"""


class RewardsmithError(Exception):
    """An expected failure with a message meant for a person (and, for reward code, for the LLM)."""


class TaskError(RewardsmithError):
    """A task file is missing, malformed, or names an environment that cannot be made."""


class RewardCodeError(RewardsmithError):
    """Reward code broke the contract while it ran (bad return value, unknown field, exception)."""


class UnknownFieldError(RewardCodeError, AttributeError):
    """Reward code read a state field the task does not declare."""


class SandboxError(RewardsmithError):
    """The sandboxed process failed: time, CPU or memory limit, crash, or a broken protocol."""

    def __init__(self, message: str, kind: str = "crash"):
        super().__init__(message)
        self.kind = kind


class SandboxUnavailable(RewardsmithError):
    """``--sandbox strict`` cannot be honoured here (bubblewrap, seccomp or Landlock is missing): no job
    runs. Not a SandboxError: it says nothing about the reward code."""


class TrainingError(RewardsmithError):
    """Training a policy failed (the message says whether the reward or the trainer is to blame)."""


class RunStoreError(RewardsmithError):
    """A run directory is missing, not a rewardsmith run, or inconsistent."""


class LLMError(RewardsmithError):
    """The language model could not be reached or gave no usable answer after the retries."""


class ConfigError(RewardsmithError):
    """A command-line option or configuration value is invalid."""
