"""Scratch directories of sandboxed jobs (parent side): made per job, removed without trusting them.

A job's scratch directory is the one place its reward code could write, so whatever is left in it is
hostile: a 3000-deep directory chain, directories without permissions, symbolic links to the user's
files. ``remove_tree`` walks it iteratively through directory file descriptors, never follows a link,
and reports what it could not remove instead of raising; a tree it leaves behind is retried by the
next run's sweep and cannot break it.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
import tempfile
import time

SCRATCH_PREFIX = "rewardsmith-sandbox-"
_ORPHAN_AGE_S = 600.0
_MAX_PROBLEMS = 20  # problems kept for the report; the count goes on
_PENDING = 4096     # non-empty subdirectories remembered per directory and pass
REMOVE_DEADLINE_S = 20.0  # one job's scratch: removal is linear, so this stops only a flood
SWEEP_DEADLINE_S = 20.0   # all orphans of killed runs together
SANDBOX_UID = 65534  # the job's user where rewardsmith runs as root without bubblewrap (it owns scratch)
log = logging.getLogger(__name__)
_swept: set[str] = set()

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def make_scratch() -> str:
    """A new scratch directory named after this process; the first one in each temp directory also
    sweeps away those of runs that were killed (kill -9 leaves no chance to remove them)."""
    root = tempfile.gettempdir()
    if root not in _swept:
        _swept.add(root)
        sweep_orphaned_scratch(root)
    return tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-")


def sweep_orphaned_scratch(root: str, min_age_s: float = _ORPHAN_AGE_S,
                           deadline_s: float = SWEEP_DEADLINE_S) -> list[str]:
    """Removes this user's scratch directories in ``root`` whose process is gone and that have not
    changed for ``min_age_s`` seconds, within ``deadline_s`` seconds in all (what is left then is
    logged and left for the next sweep); gives the paths it removed completely."""
    removed: list[str] = []
    now, deadline = time.time(), time.monotonic() + deadline_s
    try:
        entries = list(os.scandir(root))
    except OSError:
        return removed
    for entry in entries:
        pid = entry.name[len(SCRATCH_PREFIX):].partition("-")[0]
        if not entry.name.startswith(SCRATCH_PREFIX) or not pid.isdigit():
            continue
        try:
            info = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() and not (os.getuid() == 0 and info.st_uid == SANDBOX_UID) \
                or now - info.st_mtime < min_age_s or _process_exists(int(pid)):
            continue
        problems = remove_tree(entry.path, deadline_s=deadline - time.monotonic())
        if not problems:
            removed.append(entry.path)
        else:
            log.warning("could not remove all of the orphaned sandbox scratch directory %s (%d problems, "
                        "first: %s); the next run's sweep retries", entry.path, len(problems), problems[0])
    return removed


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def remove_tree(path: str, deadline_s: float = REMOVE_DEADLINE_S) -> list[str]:
    """Removes the directory ``path`` and everything in it without following any symbolic link or
    recursing, in time linear in the number of entries and at most ``deadline_s`` seconds; gives what
    could not be removed (empty when all is gone; past the deadline, a problem saying so). Never raises."""
    problems: list[str] = []

    def problem(where: str, exc: OSError) -> None:
        if len(problems) < _MAX_PROBLEMS:
            problems.append(f"{where}: {exc.strerror or exc}")
        elif len(problems) == _MAX_PROBLEMS:
            problems.append("(more problems not listed)")

    parent, name = os.path.split(os.path.abspath(path))
    try:
        top = os.open(parent, _DIR_FLAGS)
    except OSError as exc:
        problem(parent, exc)
        return problems
    try:
        _remove_below(top, name, path, problem, time.monotonic() + max(0.0, deadline_s))
    finally:
        os.close(top)
    return problems


def _open_dir(parent_fd: int, name: str) -> int:
    """``name`` in ``parent_fd`` opened as a directory, never through a link; made readable first
    when it is not (reward code may have removed its permissions)."""
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=parent_fd)
    except PermissionError:
        os.chmod(name, 0o700, dir_fd=parent_fd, follow_symlinks=False)
        return os.open(name, _DIR_FLAGS, dir_fd=parent_fd)


def _in_writable(dir_fd: int, remove, name: str) -> None:
    """``remove(name, dir_fd=dir_fd)``; when the directory's permissions forbid it (reward code may have
    made it read-only), made writable first."""
    try:
        remove(name, dir_fd=dir_fd)
    except PermissionError:
        os.fchmod(dir_fd, 0o700)
        remove(name, dir_fd=dir_fd)


class _PastDeadline(Exception):
    pass


def _sweep_dir(fd: int, stuck: set, deadline: float, where, problem) -> tuple[list[str], bool]:
    """One pass over the open directory ``fd``: unlinks every non-directory, removes every empty
    directory on the spot, and gives (up to ``_PENDING`` names of non-empty subdirectories to enter,
    whether the pass changed anything). Reads the directory as a stream: a pass costs one step per
    entry and memory for the pending names only."""
    pending: list[str] = []
    changed = False
    with os.scandir(fd) as entries:
        for entry in entries:
            if time.monotonic() > deadline:
                raise _PastDeadline
            try:
                if not entry.is_dir(follow_symlinks=False):
                    _in_writable(fd, os.unlink, entry.name)
                    changed = True
                    continue
                try:
                    _in_writable(fd, os.rmdir, entry.name)  # most are empty: no need to enter them
                    changed = True
                    continue
                except OSError as exc:
                    if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                        raise
                info = entry.stat(follow_symlinks=False)
                if (info.st_dev, info.st_ino) not in stuck and len(pending) < _PENDING:
                    pending.append(entry.name)
            except FileNotFoundError:
                continue
            except OSError as exc:
                problem(where(entry.name), exc)
    return pending, changed or bool(pending)


def _remove_below(top_fd: int, name: str, shown: str, problem, deadline: float) -> None:
    """Empties and removes directory ``name`` of ``top_fd``, depth first, with an explicit stack of
    (name, device, inode, names still to enter) instead of recursion; one directory is open at a time,
    so depth costs no file descriptors. Each directory is read in passes (``_sweep_dir``) until a pass
    finds nothing left to do, so a directory of n entries costs O(n), not one re-read per child.
    Going back up goes through ``..``, checked against the remembered inode."""
    try:
        fd = _open_dir(top_fd, name)
    except FileNotFoundError:
        return
    except OSError as exc:
        problem(shown, exc)
        return
    path: list[tuple[str, int, int, list[str]]] = []  # the directories we are inside, below ``name``
    stuck: set[tuple[int, int]] = set()  # directories that could not be emptied: not entered again
    info = os.fstat(fd)
    here = (info.st_dev, info.st_ino)
    pending: list[str] = []
    try:
        while True:
            if not pending:
                try:
                    pending, changed = _sweep_dir(fd, stuck, deadline, lambda n: _join(shown, path, n), problem)
                except _PastDeadline:
                    raise
                except OSError as exc:
                    problem(_join(shown, path), exc)
                    pending, changed = [], False
                    stuck.add(here)
                if changed and not pending:
                    continue  # read it again: a pass that removed something may have missed an entry
            if pending:
                child_name = pending.pop()
                try:
                    child = _open_dir(fd, child_name)
                except FileNotFoundError:
                    continue
                except OSError as exc:
                    problem(_join(shown, path, child_name), exc)
                    continue
                child_info = os.fstat(child)
                if (child_info.st_dev, child_info.st_ino) in stuck:
                    os.close(child)
                    continue
                path.append((child_name, *here, pending))
                os.close(fd)
                fd, here, pending = child, (child_info.st_dev, child_info.st_ino), []
                continue
            if not path:  # back at ``name`` itself, emptied as far as possible
                try:
                    os.rmdir(name, dir_fd=top_fd)
                except FileNotFoundError:
                    pass
                except OSError as exc:
                    problem(shown, exc)
                return
            child_name, dev, ino, pending = path.pop()
            try:
                parent = os.open("..", _DIR_FLAGS, dir_fd=fd)
            except OSError as exc:
                problem(_join(shown, path, child_name), exc)
                return
            os.close(fd)
            fd = parent
            parent_info = os.fstat(parent)
            if (parent_info.st_dev, parent_info.st_ino) != (dev, ino):  # the tree moved under us: stop
                problem(_join(shown, path), OSError("directory moved during removal"))
                return
            left, here = here, (dev, ino)
            try:
                _in_writable(fd, os.rmdir, child_name)
            except FileNotFoundError:
                pass
            except OSError as exc:
                stuck.add(left)
                problem(_join(shown, path, child_name), exc)
    except _PastDeadline:
        problem(shown, OSError(f"stopped at the removal deadline; the rest is left for the next run's sweep"))
    finally:
        os.close(fd)


def _join(shown: str, path: list, *more: str) -> str:
    parts = [p[0] for p in path] + list(more)
    if len(parts) > 4:
        parts = parts[:2] + [f"... {len(parts) - 4} more ..."] + parts[-2:]
    return os.path.join(shown, *parts)
