"""A seccomp filter for a sandboxed process: the system calls reward code could use to leave it.

Applied in the child before any reward code is read (after Landlock, whose set-up needs calls this
filter would not refuse anyway). It is a hand-assembled classic BPF program loaded through ctypes, so
it needs no library. It refuses, with EPERM:

- process creation other than threads: ``execve``/``execveat``, ``fork``/``vfork``, and ``clone``
  without ``CLONE_THREAD`` (``clone3`` answers ENOSYS: its flags live in memory a filter cannot read,
  and glibc then falls back to ``clone`` for threads, which torch and OpenMP start);
- sockets (``socket``, ``socketpair``): no network, no unix sockets, no raw sockets;
- device nodes (``mknod``/``mknodat``), ``ptrace`` and cross-process memory access, ``pidfd_getfd``;
- mounts and namespaces (``mount`` and the new mount API, ``umount2``, ``pivot_root``, ``chroot``,
  ``unshare``, ``setns``), file handles (``open_by_handle_at``), ``bpf``, the kernel keyring,
  ``perf_event_open``, ``io_uring``, ``userfaultfd``, ``kexec_*`` and kernel modules;
- memory the address-space limit does not count: System V shared memory, message queues and
  semaphores (``shmget``...), ``memfd_create``; extended attributes and ``chown``;
- ``inotify``/``fanotify``; the scheduling and memory policy of processes (``setpriority``,
  ``sched_setaffinity``, ``migrate_pages``...), ``kcmp``; ``syslog``, ``reboot``, swap, clocks,
  host names, quotas, I/O ports, ``acct``, ``vhangup``.

Another architecture than the one the filter was built for (x86_64's 32-bit and x32 ABIs included)
kills the process (SIGSYS, the only call the filter kills for; the parent says so): those are other
system-call tables, and no honest child uses them. Everything else answers an error the caller sees,
so a refused call never leaves an unexplained dead process.
"""

from __future__ import annotations

import ctypes
import errno
import platform
import struct
import sys
from typing import Any

# what the child may not do, by name; the numbers per architecture follow
DENIED = (
    "execve", "execveat", "fork", "vfork",
    "socket", "socketpair",
    "mknod", "mknodat",
    "ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd",
    "mount", "umount2", "pivot_root", "chroot", "unshare", "setns",
    "fsopen", "fsconfig", "fsmount", "fspick", "move_mount", "open_tree", "mount_setattr",
    "open_by_handle_at", "name_to_handle_at",
    "bpf", "keyctl", "add_key", "request_key", "perf_event_open",
    "io_uring_setup", "io_uring_enter", "io_uring_register", "userfaultfd",
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
    # memory outside the address-space limit: System V IPC objects (they outlive a process that has
    # no ipc namespace of its own) and memory-backed files
    "shmget", "shmat", "shmctl", "shmdt", "msgget", "msgsnd", "msgrcv", "msgctl",
    "semget", "semop", "semtimedop", "semctl", "memfd_create", "memfd_secret",
    # watching other files, and kernel memory that is no file's size: extended attributes
    "inotify_init", "inotify_init1", "inotify_add_watch", "fanotify_init", "fanotify_mark",
    "setxattr", "lsetxattr", "fsetxattr", "removexattr", "lremovexattr", "fremovexattr",
    "setxattrat", "removexattrat", "chown", "fchown", "lchown", "fchownat",
    # other processes' scheduling and memory, and calls only an administrator makes
    "setpriority", "sched_setaffinity", "sched_setscheduler", "sched_setparam", "sched_setattr",
    "ioprio_set", "migrate_pages", "move_pages", "process_madvise", "kcmp",
    "syslog", "reboot", "swapon", "swapoff", "acct", "settimeofday", "clock_settime", "clock_adjtime",
    "adjtimex", "sethostname", "setdomainname", "iopl", "ioperm", "quotactl", "quotactl_fd", "vhangup",
    "lookup_dcookie",
)
# calls a table may lack (aarch64 has only the *at and generic forms)
NOT_IN_EVERY_TABLE = frozenset(("fork", "vfork", "mknod", "inotify_init", "iopl", "ioperm", "chown", "lchown"))

# (AUDIT_ARCH_*, system-call numbers) from linux/audit.h and the kernel's syscall tables; aarch64
# uses the generic table, which has no fork, vfork or mknod (glibc uses clone and mknodat there)
_ARCHITECTURES = {
    "x86_64": (0xC000003E, {
        "execve": 59, "execveat": 322, "fork": 57, "vfork": 58, "clone": 56, "clone3": 435,
        "socket": 41, "socketpair": 53, "mknod": 133, "mknodat": 259,
        "ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311, "pidfd_getfd": 438,
        "mount": 165, "umount2": 166, "pivot_root": 155, "chroot": 161, "unshare": 272, "setns": 308,
        "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432,
        "fspick": 433, "mount_setattr": 442, "name_to_handle_at": 303, "open_by_handle_at": 304,
        "bpf": 321, "keyctl": 250, "add_key": 248, "request_key": 249, "perf_event_open": 298,
        "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427, "userfaultfd": 323,
        "kexec_load": 246, "kexec_file_load": 320, "init_module": 175, "finit_module": 313,
        "delete_module": 176, "seccomp": 317,
        "shmget": 29, "shmat": 30, "shmctl": 31, "shmdt": 67, "msgget": 68, "msgsnd": 69, "msgrcv": 70,
        "msgctl": 71, "semget": 64, "semop": 65, "semctl": 66, "semtimedop": 220, "memfd_create": 319,
        "memfd_secret": 447, "inotify_init": 253, "inotify_add_watch": 254, "inotify_init1": 294,
        "fanotify_init": 300, "fanotify_mark": 301, "setxattr": 188, "lsetxattr": 189, "fsetxattr": 190,
        "removexattr": 197, "lremovexattr": 198, "fremovexattr": 199, "setxattrat": 463, "removexattrat": 466,
        "chown": 92, "fchown": 93, "lchown": 94, "fchownat": 260,
        "setpriority": 141, "sched_setaffinity": 203, "sched_setscheduler": 144, "sched_setparam": 142,
        "sched_setattr": 314, "ioprio_set": 251, "migrate_pages": 256, "move_pages": 279,
        "process_madvise": 440, "kcmp": 312, "syslog": 103, "reboot": 169, "swapon": 167, "swapoff": 168,
        "acct": 163, "settimeofday": 164, "clock_settime": 227, "clock_adjtime": 305, "adjtimex": 159,
        "sethostname": 170, "setdomainname": 171, "iopl": 172, "ioperm": 173, "quotactl": 179,
        "quotactl_fd": 443, "vhangup": 153, "lookup_dcookie": 212,
    }),
    "aarch64": (0xC00000B7, {
        "execve": 221, "execveat": 281, "clone": 220, "clone3": 435,
        "socket": 198, "socketpair": 199, "mknodat": 33,
        "ptrace": 117, "process_vm_readv": 270, "process_vm_writev": 271, "pidfd_getfd": 438,
        "mount": 40, "umount2": 39, "pivot_root": 41, "chroot": 51, "unshare": 97, "setns": 268,
        "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432,
        "fspick": 433, "mount_setattr": 442, "name_to_handle_at": 264, "open_by_handle_at": 265,
        "bpf": 280, "keyctl": 219, "add_key": 217, "request_key": 218, "perf_event_open": 241,
        "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427, "userfaultfd": 282,
        "kexec_load": 104, "kexec_file_load": 294, "init_module": 105, "finit_module": 273,
        "delete_module": 106, "seccomp": 277,
        "shmget": 194, "shmat": 196, "shmctl": 195, "shmdt": 197, "msgget": 186, "msgsnd": 189, "msgrcv": 188,
        "msgctl": 187, "semget": 190, "semop": 193, "semctl": 191, "semtimedop": 192, "memfd_create": 279,
        "memfd_secret": 447, "inotify_add_watch": 27, "inotify_init1": 26,
        "fanotify_init": 262, "fanotify_mark": 263, "setxattr": 5, "lsetxattr": 6, "fsetxattr": 7,
        "removexattr": 14, "lremovexattr": 15, "fremovexattr": 16, "setxattrat": 463, "removexattrat": 466,
        "fchown": 55, "fchownat": 54,
        "setpriority": 140, "sched_setaffinity": 122, "sched_setscheduler": 119, "sched_setparam": 118,
        "sched_setattr": 274, "ioprio_set": 30, "migrate_pages": 238, "move_pages": 239,
        "process_madvise": 440, "kcmp": 272, "syslog": 116, "reboot": 142, "swapon": 224, "swapoff": 225,
        "acct": 89, "settimeofday": 170, "clock_settime": 112, "clock_adjtime": 266, "adjtimex": 171,
        "sethostname": 161, "setdomainname": 162, "quotactl": 60,
        "quotactl_fd": 443, "vhangup": 58, "lookup_dcookie": 18,
    }),
}
_X32_SYSCALL_BIT = 0x40000000  # x86_64 system calls with this bit set are the x32 ABI's
_CLONE_THREAD = 0x00010000

# classic BPF opcodes (linux/bpf_common.h) and seccomp return values (linux/seccomp.h)
_LD_W_ABS, _JEQ_K, _JGE_K, _JSET_K, _RET_K = 0x20, 0x15, 0x35, 0x45, 0x06
_RET_KILL_PROCESS, _RET_ERRNO, _RET_ALLOW = 0x80000000, 0x00050000, 0x7FFF0000
_OFFSET_NR, _OFFSET_ARCH, _OFFSET_ARG0 = 0, 4, 16  # struct seccomp_data; arg 0's low half (little-endian)
_PR_SET_NO_NEW_PRIVS = 38
_SECCOMP_SET_MODE_FILTER, _SECCOMP_FILTER_FLAG_TSYNC = 1, 1


def architecture() -> str | None:
    """This machine's architecture if the filter knows its system-call table, else None."""
    machine = platform.machine().lower()
    machine = {"amd64": "x86_64", "arm64": "aarch64"}.get(machine, machine)
    if not sys.platform.startswith("linux") or machine not in _ARCHITECTURES \
            or sys.byteorder != "little" or struct.calcsize("P") != 8:
        return None
    return machine


def program(machine: str) -> bytes:
    """The filter for ``machine`` as an array of ``struct sock_filter``."""
    arch, numbers = _ARCHITECTURES[machine]
    denied = sorted({numbers[name] for name in DENIED if name in numbers})
    # the returns sit at the end; every jump is forward, by at most 255 instructions
    # (opcode or jump name, constant, label if true, label if false): see the loop below
    head: list[tuple[Any, int, Any, Any]] = [(_LD_W_ABS, 0, 0, _OFFSET_ARCH), ("jeq", arch, None, "kill"),
                                             (_LD_W_ABS, 0, 0, _OFFSET_NR)]
    if machine == "x86_64":
        head.append(("jge", _X32_SYSCALL_BIT, "kill", None))
    checks: list[tuple[Any, int, Any, Any]] = [("jeq", nr, "eperm", None) for nr in denied]
    checks += [("jeq", numbers["clone3"], "enosys", None), ("jeq", numbers["clone"], "clone", "allow")]
    tail: dict[str, list[tuple[Any, int, Any, Any]]] = {
        "clone": [(_LD_W_ABS, 0, 0, _OFFSET_ARG0), ("jset", _CLONE_THREAD, "allow", None),
                  (_RET_K, 0, 0, _RET_ERRNO | errno.EPERM)],
        "allow": [(_RET_K, 0, 0, _RET_ALLOW)],
        "eperm": [(_RET_K, 0, 0, _RET_ERRNO | errno.EPERM)],
        "enosys": [(_RET_K, 0, 0, _RET_ERRNO | errno.ENOSYS)],
        "kill": [(_RET_K, 0, 0, _RET_KILL_PROCESS)],
    }
    code = head + checks
    labels = {}
    for label, block in tail.items():
        labels[label] = len(code)
        code += block
    opcodes = {"jeq": _JEQ_K, "jge": _JGE_K, "jset": _JSET_K}
    out = bytearray()
    for index, (op, k_or_jt, jt, jf) in enumerate(code):
        if op in opcodes:  # (name, constant, label if true, label if false); None: the next one

            def offset(label):
                step = 0 if label is None else labels[label] - index - 1
                if not 0 <= step <= 255:
                    raise ValueError(f"seccomp filter jump of {step} instructions to {label}")
                return step

            out += struct.pack("=HBBI", opcodes[op], offset(jt), offset(jf), k_or_jt)
        else:
            out += struct.pack("=HBBI", op, k_or_jt, jt, jf)
    return bytes(out)


class SeccompUnavailable(OSError):
    """The filter cannot be installed here (another OS or architecture, or the kernel refused)."""


def install() -> str:
    """Installs the filter on every thread of this process (it cannot be removed); gives the
    architecture it filters. Raises SeccompUnavailable where it cannot."""
    machine = architecture()
    if machine is None:
        raise SeccompUnavailable(
            f"the seccomp filter knows the system calls of Linux on x86_64 and aarch64 only; this is "
            f"{sys.platform} on {platform.machine() or 'an unknown machine'}")
    filters = program(machine)
    buffer = ctypes.create_string_buffer(filters, len(filters))
    # struct sock_fprog { unsigned short len; struct sock_filter *filter; }
    fprog = struct.pack("=HxxxxxxQ", len(filters) // 8, ctypes.addressof(buffer))
    fprog_buffer = ctypes.create_string_buffer(fprog, len(fprog))
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise SeccompUnavailable(f"prctl(PR_SET_NO_NEW_PRIVS) failed: {_errno_text()}")
    number = _ARCHITECTURES[machine][1]["seccomp"]
    # TSYNC: threads a library already started get the filter too
    if libc.syscall(ctypes.c_long(number), ctypes.c_uint(_SECCOMP_SET_MODE_FILTER),
                    ctypes.c_uint(_SECCOMP_FILTER_FLAG_TSYNC), fprog_buffer) != 0:
        raise SeccompUnavailable(f"the kernel refused the seccomp filter: {_errno_text()}")
    return machine


def _errno_text() -> str:
    import os

    code = ctypes.get_errno()
    return f"{errno.errorcode.get(code, code)} ({os.strerror(code)})"
