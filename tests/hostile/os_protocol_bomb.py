"""Attack: reward code that reached arbitrary code execution (issue 18 class 3) writes one 12 MB line
of `[{},{},...]` to every descriptor that may be the protocol pipe: parsed, it would take the parent
about 300 MB (64 MB took it to 1.7 GB). Must happen: the line is refused before it is parsed, as a
protocol error; the parent's memory stays bounded (tests/test_os_sandbox.py measures it)."""
import os
import time

LINE = b"[" + b"{}," * (4 << 20) + b"{}]\n"
try:  # every open descriptor, whatever its number (under pytest-xdist the pipe's may be above 40)
    FDS = sorted(int(name) for name in os.listdir("/proc/self/fd") if int(name) > 2)
except OSError:
    FDS = list(range(3, 1024))
for fd in FDS:
    try:
        os.write(fd, LINE)
    except OSError:
        pass
time.sleep(30)
result = "written"


def compute_reward(state, action, next_state):
    return 0.0, {}
