"""Scratch directories of sandboxed jobs (parent side): made per job, removed without trusting them.

A job's scratch directory is the one place its reward code could write, so whatever is left in it is
hostile: a 3000-deep directory chain, directories without permissions, symbolic links to the user's
files. ``remove_tree`` walks it iteratively through directory file descriptors, never follows a link,
and reports what it could not remove instead of raising; a tree it leaves behind is retried by the
next run's sweep and cannot break it.
"""

from __future__ import annotations

import os
import stat
import tempfile
import time

SCRATCH_PREFIX = "rewardsmith-sandbox-"
_ORPHAN_AGE_S = 600.0
_MAX_PROBLEMS = 20  # problems kept for the report; the count goes on
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


def sweep_orphaned_scratch(root: str, min_age_s: float = _ORPHAN_AGE_S) -> list[str]:
    """Removes this user's scratch directories in ``root`` whose process is gone and that have not
    changed for ``min_age_s`` seconds; gives the paths it removed completely."""
    removed = []
    now = time.time()
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
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() \
                or now - info.st_mtime < min_age_s or _process_exists(int(pid)):
            continue
        if not remove_tree(entry.path):
            removed.append(entry.path)
    return removed


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def remove_tree(path: str) -> list[str]:
    """Removes the directory ``path`` and everything in it without following any symbolic link or
    recursing; gives what could not be removed (empty when all is gone). Never raises."""
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
        _remove_below(top, name, path, problem)
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


def _remove_below(top_fd: int, name: str, shown: str, problem) -> None:
    """Empties and removes directory ``name`` of ``top_fd``, depth first, with an explicit stack of
    (name, device, inode) instead of recursion; one directory is open at a time, so depth costs no
    file descriptors. Going back up goes through ``..``, checked against the remembered inode."""
    try:
        fd = _open_dir(top_fd, name)
    except FileNotFoundError:
        return
    except OSError as exc:
        problem(shown, exc)
        return
    path: list[tuple[str, int, int]] = []   # the directories we are inside, below ``name``
    stuck: set[tuple[int, int]] = set()      # directories that could not be emptied: not entered again
    info = os.fstat(fd)
    here = (info.st_dev, info.st_ino)
    while True:
        entered = False
        try:
            entries = list(os.scandir(fd))
        except OSError as exc:
            problem(_join(shown, path), exc)
            entries = []
            stuck.add(here)
        for entry in entries:
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
                if not is_dir:
                    _in_writable(fd, os.unlink, entry.name)
                    continue
                child_info = entry.stat(follow_symlinks=False)
                if (child_info.st_dev, child_info.st_ino) in stuck:
                    continue
                child = _open_dir(fd, entry.name)
            except FileNotFoundError:
                continue
            except OSError as exc:
                problem(_join(shown, path, entry.name), exc)
                continue
            path.append((entry.name, *here))
            os.close(fd)
            fd, here, entered = child, (child_info.st_dev, child_info.st_ino), True
            break
        if entered:
            continue
        if not path:  # back at ``name`` itself, emptied as far as possible
            os.close(fd)
            try:
                os.rmdir(name, dir_fd=top_fd)
            except FileNotFoundError:
                pass
            except OSError as exc:
                problem(shown, exc)
            return
        child_name, dev, ino = path.pop()
        try:
            parent = os.open("..", _DIR_FLAGS, dir_fd=fd)
        except OSError as exc:
            problem(_join(shown, path, child_name), exc)
            os.close(fd)
            return
        os.close(fd)
        parent_info = os.fstat(parent)
        if (parent_info.st_dev, parent_info.st_ino) != (dev, ino):  # the tree moved under us: stop
            os.close(parent)
            problem(_join(shown, path), OSError("directory moved during removal"))
            return
        fd, left = parent, here
        here = (dev, ino)
        try:
            _in_writable(fd, os.rmdir, child_name)
        except FileNotFoundError:
            pass
        except OSError as exc:
            stuck.add(left)
            problem(_join(shown, path, child_name), exc)


def _join(shown: str, path: list, *more: str) -> str:
    parts = [p[0] for p in path] + list(more)
    if len(parts) > 4:
        parts = parts[:2] + [f"... {len(parts) - 4} more ..."] + parts[-2:]
    return os.path.join(shown, *parts)
