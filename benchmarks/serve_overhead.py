"""Does an open page slow training down? The same tiny evolve timed with and without ``rewardsmith serve``
on its run directory, side by side in one run.

Each round runs the same command twice (same task, seed and budget; a fresh run directory each time):

- **without**: ``rewardsmith evolve …`` alone;
- **with**: the same, plus ``rewardsmith serve RUN`` in a process of its own as soon as the run directory
  holds its store, and a client (in this process) that follows the server's event stream (``/api/events``)
  and loads the page every second as a browser does (``/``, its two scripts and style sheet, ``/api/state``).

The order alternates between rounds (without-with, with-without, …) so a drift in the machine's load falls
on both arms. Printed per arm: the median wall time of the evolve command and the median training speed,
PPO steps per second of training time summed over every candidate's seeds as the run store records them
(``SeedResult.train_seconds``), and the ratio with/without for each. A ratio within the spread of the arms'
own repeats is no measurable slowdown.

    nice -n 10 python benchmarks/serve_overhead.py                      # 3 rounds, tiny mountain car
    nice -n 10 python benchmarks/serve_overhead.py --rounds 5 --timesteps 8192
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from rewardsmith.archive.store import SCORED, RunStore

TASK = Path(__file__).resolve().parent.parent / "tests" / "data" / "tiny_mountaincar.py"
CLI = [sys.executable, "-c", "from rewardsmith.cli import main; main()"]
PAGE = ("/", "/static/app.js", "/static/player.js", "/static/style.css", "/api/state")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Client:
    """What an open page does: follows the event stream and reloads the page every second."""

    def __init__(self, port: int, token: str):
        self.base, self.token = f"http://127.0.0.1:{port}", token
        # a browser's way in: the address with the token answers with a cookie and a redirect to "/"
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
        self.stop = threading.Event()
        self.events = self.loads = self.errors = 0
        self.threads = [threading.Thread(target=self._follow, daemon=True),
                        threading.Thread(target=self._reload, daemon=True)]

    def __enter__(self) -> "Client":
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=5)

    def _get(self, path: str, timeout: float = 10):
        sep = "&" if "?" in path else "?"
        return self.opener.open(f"{self.base}{path}{sep}token={self.token}", timeout=timeout)

    def _follow(self) -> None:
        while not self.stop.is_set():
            try:
                with self._get("/api/events", timeout=30) as stream:
                    for line in stream:
                        if line.startswith(b"event: state"):
                            self.events += 1
                        if self.stop.is_set():
                            return
            except OSError:
                self.errors += 1
                self.stop.wait(0.5)

    def _reload(self) -> None:
        while not self.stop.wait(1.0):
            try:
                for path in PAGE:
                    with self._get(path) as response:
                        response.read()
                self.loads += 1
            except OSError:
                self.errors += 1


def training_speed(run: Path) -> tuple[float, int]:
    """PPO steps per second of training time over every scored candidate's seeds, and the candidates."""
    store = RunStore(run)
    try:
        steps = seconds = 0.0
        scored = store.candidates(status=SCORED)
        for c in scored:
            for r in (c.result.runs if c.result else []):
                if r.train_seconds:
                    steps += r.timesteps
                    seconds += r.train_seconds
        return (steps / seconds if seconds else float("nan")), len(scored)
    finally:
        store.close()


def one_run(args, root: Path, served: bool) -> dict:
    run = root / f"run-{'with' if served else 'without'}-{time.monotonic_ns()}"
    command = CLI + ["evolve", "--task", str(args.task), "--out", str(run), "--iterations", str(args.iterations),
                     "--samples", str(args.samples), "--workers", "1", "--final-seeds", "0", "--seed", "0",
                     "--timesteps", str(args.timesteps)]
    server = client = None
    t0 = time.monotonic()
    evolve = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        if served:
            while not (run / "run.db").is_file() and evolve.poll() is None:
                time.sleep(0.05)
            port = free_port()
            server = subprocess.Popen(CLI + ["serve", str(run), "--port", str(port)], stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, text=True)
            line = server.stdout.readline() if server.stdout else ""
            m = re.search(r"token=([\w-]+)", line)
            if m is None:
                raise SystemExit(f"rewardsmith serve printed no address: {line!r}")
            client = Client(port, m.group(1)).__enter__()
        _, err = evolve.communicate()
        wall = time.monotonic() - t0
    finally:
        if client is not None:
            client.__exit__()
        if server is not None:
            server.terminate()
            server.wait(timeout=10)
    if evolve.returncode != 0:
        raise SystemExit(f"evolve failed ({evolve.returncode}): {err.decode()[-2000:]}")
    speed, scored = training_speed(run)
    out = {"wall": wall, "speed": speed, "scored": scored}
    if client is not None:
        out.update(events=client.events, loads=client.loads, errors=client.errors)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", default=str(TASK))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=2)
    parser.add_argument("--samples", type=int, default=2)
    parser.add_argument("--timesteps", type=int, default=6144)
    args = parser.parse_args()
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; nice {os.nice(0)}")
    print(f"each run: evolve --task {Path(args.task).name} --iterations {args.iterations} --samples {args.samples} "
          f"--timesteps {args.timesteps} --workers 1 --final-seeds 0 --seed 0")
    arms: dict[bool, list[dict]] = {False: [], True: []}
    with tempfile.TemporaryDirectory(prefix="rewardsmith-serve-overhead-") as tmp:
        for k in range(args.rounds):
            for served in ((False, True) if k % 2 == 0 else (True, False)):
                r = one_run(args, Path(tmp), served)
                arms[served].append(r)
                extra = (f", page: {r['events']} state events, {r['loads']} page loads, {r['errors']} errors"
                         if served else "")
                print(f"round {k + 1} {'with   ' if served else 'without'}: {r['wall']:.1f} s wall, "
                      f"{r['speed']:.0f} training steps/s over {r['scored']} candidates{extra}", flush=True)
    med = {s: {key: statistics.median(r[key] for r in arms[s]) for key in ("wall", "speed")} for s in arms}
    spread = {s: {key: (min(r[key] for r in arms[s]), max(r[key] for r in arms[s])) for key in ("wall", "speed")}
              for s in arms}
    for key, unit, better in (("wall", "s", "lower"), ("speed", "steps/s", "higher")):
        print(f"{'evolve wall time' if key == 'wall' else 'training speed'} ({unit}, median of {args.rounds}; "
              f"{better} is better): without {med[False][key]:.1f} [{spread[False][key][0]:.1f}–{spread[False][key][1]:.1f}]"
              f", with the page {med[True][key]:.1f} [{spread[True][key][0]:.1f}–{spread[True][key][1]:.1f}]"
              f"; with/without {med[True][key] / med[False][key]:.3f}")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
