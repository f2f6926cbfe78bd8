"""Attack: reward code that reached arbitrary code execution (issue 18 class 4) takes 3 GB of System V
shared memory and a memory-backed file: memory the address-space limit does not count and, in the
host's ipc namespace, a segment outlives the job. Must happen: every call is refused (the seccomp
filter; bubblewrap's ipc namespace besides), and no segment is left on the machine."""
import ctypes
import os

KEY = 0x52534831
libc = ctypes.CDLL(None, use_errno=True)


def attempt(action):
    try:
        value = action()
    except OSError as exc:
        return f"refused: {exc}"
    return f"done: {value}"


def segments():
    ids = []
    for _ in range(3):  # 1 GB each, past a 2 GB address-space limit together
        shmid = libc.shmget(KEY + len(ids), 1 << 30, 0o1600)
        if shmid < 0:
            raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
        ids.append(shmid)
    return ids


result = {"shm": attempt(segments), "memfd": attempt(lambda: os.memfd_create("hoard"))}


def compute_reward(state, action, next_state):
    return 0.0, {}
