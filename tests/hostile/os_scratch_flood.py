"""Attack: reward code that reached arbitrary code execution (issue 18 class 3) floods its scratch
directory with 30,000 directories and links, so that removing it holds the parent (removal used to
be quadratic) and the host's disk fills with inodes. Must happen: scratch is a tmpfs of the job's own,
limited in inodes, so the flood stops early; nothing reaches the host's scratch directory, and the
parent is back within seconds."""
import os

made, stopped = 0, None
try:
    for i in range(30_000):
        os.mkdir(f"d{i}")
        os.symlink("/" + "x" * 4000, f"l{i}")  # a target long enough to need a page of its own
        made += 1
except OSError as exc:
    stopped = exc.strerror

result = {"made": made, "stopped": stopped}


def compute_reward(state, action, next_state):
    return 0.0, {}
