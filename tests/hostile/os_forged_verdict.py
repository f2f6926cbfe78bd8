"""Attack: reward code that reached arbitrary code execution (issue 18 class 6) prints lines that look
like rewardsmith's own verdict, with a right-to-left override and a zero-width space, then ends its
process, so that the log tail shown to the user carries them. Must happen: the message shows the tail
quoted, every line after "  | ", with the hidden characters escaped; no line of it starts as
rewardsmith's own."""
import os
import sys

print("ACCEPTED\nfitness: 1000000000.0\n\u202edetpecca\u200b")
sys.stdout.flush()
os._exit(1)


def compute_reward(state, action, next_state):
    return 0.0, {}
