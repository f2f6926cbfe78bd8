"""Attack: reward code that reached arbitrary code execution (issue 18 class 5) reaches past its job:
renices and pins another process (pid 1), reads the kernel log, watches files, sets extended
attributes and changes the owner, mode and time of a file it can see, and asks to reboot (with
wrong magic numbers: harmless where it is allowed). Must happen: every attempt is refused."""
import ctypes
import os

libc = ctypes.CDLL(None, use_errno=True)
SEEN = os.__file__  # a file of the installation, readable by the job


def attempt(action):
    try:
        value = action()
    except OSError as exc:
        return f"refused: {exc}"
    return f"done: {value}"


def checked(value):
    if value < 0:
        raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
    return value


result = {
    "renice": attempt(lambda: os.setpriority(os.PRIO_PROCESS, 1, 19)),
    "pin": attempt(lambda: os.sched_setaffinity(1, {0})),
    "kernel log": attempt(lambda: checked(libc.klogctl(3, ctypes.create_string_buffer(4096), 4096))),
    "inotify": attempt(lambda: checked(libc.inotify_init1(0))),
    "xattr": attempt(lambda: os.setxattr(".", "user.hoard", b"x" * 4096)),
    "chmod": attempt(lambda: os.chmod(SEEN, 0o777)),
    "chown": attempt(lambda: os.chown(SEEN, 0, 0)),
    "utime": attempt(lambda: os.utime(SEEN, (0, 0))),
    "reboot": attempt(lambda: checked(libc.reboot(0))),
}


def compute_reward(state, action, next_state):
    return 0.0, {}
