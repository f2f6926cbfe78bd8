"""`rewardsmith report DIR`: one self-contained HTML file with every section, escaped, that a browser
(headless Chromium) renders without errors."""

import io
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from rewardsmith.output.report import code_diff, write_report
from rewardsmith.archive.store import REJECTED, RunStore
from conftest import invoke, TINY_TASK

SECTIONS = ("summary", "fitness", "candidates", "rejections", "llm", "feedback", "videos")
EVIL = "<script>alert('pwned')</script>"
EXTERNAL = re.compile(r"""(?:src|href|action|poster|data)\s*=\s*["']?\s*(?:https?:)?//""", re.I)


def tiny_gif() -> bytes:
    frames = [Image.new("RGB", (24, 16), colour) for colour in ("red", "green", "blue")]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A real one-generation offline run on the tiny task with a one-seed final scoring, plus what people
    and models add to a run: feedback, a rejected (hostile) candidate, LLM calls and a video."""
    root = tmp_path_factory.mktemp("report") / "run"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("REWARDSMITH_CACHE", str(root.parent / "cache"))
        mp.delenv("REWARDSMITH_MODEL", raising=False)
        result = invoke("evolve", "--task", TINY_TASK, "--iterations", 1, "--samples", 2, "--final-top", 1,
                        "--final-seeds", 1, "--out", root)
    assert result.exit_code == 0, result.output
    store = RunStore(root)
    best = store.best_of_run()
    invoke("feedback", root, "--candidate", best.id, "--text", f"it rocks but never commits {EVIL}")
    store.add_candidate(1, f"# {EVIL}\nimport os\n", "llm", parent=best.id, status=REJECTED,
                        reason=f"REJECTED\nline 2: imports os {EVIL}")
    store.record_llm_call({"purpose": "design", "model": "openai/stub", "messages": [], "response": EVIL,
                           "prompt_tokens": 1200, "completion_tokens": 345, "cost": 0.0021, "latency_s": 1.5},
                          generation=1)
    store.record_llm_call({"purpose": "repair", "model": "openai/stub", "messages": [], "response": "",
                           "prompt_tokens": 10, "completion_tokens": 0, "error": f"HTTP 500 {EVIL}"},
                          generation=1)
    (root / "videos").mkdir(exist_ok=True)  # the loop may have rendered generation 0's best already
    (root / "videos" / f"gen1-{best.id}.gif").write_bytes(tiny_gif())
    store.event("video", {"generation": 1, "candidate": best.id, "seed": 0, "path": f"videos/gen1-{best.id}.gif",
                          "frames": 3, "steps": 999, "fitness": best.fitness, "terminated": False})
    store.close()
    result = invoke("report", root)
    assert result.exit_code == 0 and "report.html" in result.output
    return root


@pytest.mark.slow
def test_report_has_every_section_and_is_self_contained(run):
    page = (run / "report.html").read_text()
    for section in SECTIONS + ("final",):
        assert f'<section id="{section}">' in page
    store = RunStore(run)
    for c in store.candidates(status="scored"):
        block = page.split(f'<article id="cand-{c.id}">')[1].split("</article>")[0]
        assert 'src="data:image/png;base64,' in block  # its component and training curves
        assert "Reflection" in block and "Code" in block
        for name in c.result.components:
            assert name in block
        if c.parent:
            assert f"Diff against {c.parent}" in block and 'class="add"' in block and 'class="del"' in block
    best = store.best_of_run()
    assert page.count('alt="fitness per generation" src="data:image/png;base64,') == 1
    assert '<article id="rej-' in page and "line 2: imports os" in page
    assert "1,210 prompt + 345 completion tokens" in page and "0.0021" in page and "HTTP 500" in page
    assert "it rocks but never commits" in page
    final = store.final()
    assert f"best: <strong>{final.best}</strong>" in page and "final scoring, 1 fresh seed<" in page
    for entry in final.entries:
        assert f"<td>{entry.id}</td><td>{entry.role}</td>" in page
    assert 'src="data:image/gif;base64,' in page and f"gen1-{best.id}.gif" in page
    assert not EXTERNAL.search(page), EXTERNAL.search(page).group(0)
    assert "<script" not in page.lower() and "<link" not in page.lower()


@pytest.mark.slow
def test_untrusted_text_is_escaped_everywhere(run):
    page = (run / "report.html").read_text()
    assert EVIL not in page
    assert page.count("&lt;script&gt;alert(&#39;pwned&#39;)&lt;/script&gt;") >= 4  # code, reason, feedback, error


def test_report_of_a_run_with_nothing_scored(tmp_path):
    store = RunStore.create(tmp_path / "run", {"task": "tiny-mountaincar", "designer": "offline"}, Path(TINY_TASK))
    store.add_candidate(0, "def compute_reward(s, a, n):\n    return 0.0, {}\n", "baseline")
    store.close()
    page = write_report(tmp_path / "run").read_text()
    for section in SECTIONS:
        assert f'<section id="{section}">' in page
    assert "No candidate has been scored yet" in page and "this run used the offline designer" in page
    assert '<section id="final">' not in page


def test_best_so_far_line_follows_the_runs_best_rule():
    """A fitness measured at a lower halving rung never tops one measured on the full budget (the rule
    `show` and export use), and the baseline is the best only in an offline-designer run."""
    from rewardsmith.archive.records import CandidateResult
    from rewardsmith.output.report import best_so_far_line
    from rewardsmith.archive.store import Candidate

    def scored(cid, seq, generation, origin, fitness, fraction=1.0):
        return Candidate(id=cid, seq=seq, generation=generation, parent=None, origin=origin, code="", code_hash=cid,
                         status="scored", fitness=fitness, result=CandidateResult(budget_fraction=fraction))

    run = [scored("c0", 0, 0, "baseline", 0.7), scored("c1", 1, 0, "llm", 0.5),
           scored("c2", 2, 1, "llm", 0.9, fraction=1 / 3),  # stopped early by halving: not comparable
           scored("c3", 3, 2, "llm", 0.6)]
    assert best_so_far_line(run, baseline_competes=False) == [(0, 0.5), (1, 0.5), (2, 0.6), (2.3, 0.6)]
    assert best_so_far_line(run, baseline_competes=True) == [(0, 0.7), (1, 0.7), (2, 0.7), (2.3, 0.7)]
    assert best_so_far_line(run[2:3]) == [(1, 0.9), (1.3, 0.9)]  # only lower-rung scores: the best of them
    assert best_so_far_line([]) == []


def test_code_diff_marks_added_and_removed_lines():
    diff = code_diff("a = 1\nb = 2\n", "a = 1\nb = 3\n", "c0", "c1")
    assert ("del", "-b = 2") in diff and ("add", "+b = 3") in diff
    assert diff[0] == ("meta", "--- c0") and any(kind == "hunk" for kind, _ in diff)


def chromium() -> str | None:
    return next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)


@pytest.mark.slow
@pytest.mark.skipif(chromium() is None, reason="no chromium binary (apt-get install chromium)")
def test_report_renders_in_headless_chromium(run, tmp_path):
    url = (run / "report.html").resolve().as_uri()
    base = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions",
            f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0"]
    env = {**os.environ, "HOME": str(tmp_path)}
    dom = subprocess.run(base + ["--dump-dom", url], capture_output=True, text=True, timeout=180, env=env)
    assert dom.returncode == 0, dom.stderr[-2000:]
    for section in SECTIONS + ("final",):
        assert f'<section id="{section}">' in dom.stdout
    assert "Fitness per generation" in dom.stdout and "Scored candidates" in dom.stdout
    shot = tmp_path / "report.png"
    render = subprocess.run(base + ["--window-size=1200,2400", f"--screenshot={shot}", url],
                            capture_output=True, text=True, timeout=180, env=env)
    assert render.returncode == 0 and shot.is_file(), render.stderr[-2000:]
    log = dom.stderr + render.stderr
    console = [ln for ln in log.splitlines() if "CONSOLE" in ln or "Uncaught" in ln]
    failed_loads = [ln for ln in log.splitlines() if "net::ERR" in ln or "Failed to load resource" in ln]
    assert console == [] and failed_loads == [], console + failed_loads
    image = Image.open(shot).convert("RGB")
    colours = image.getcolors(maxcolors=1 << 20) or []
    assert len(colours) > 500  # plots, header, tables: a rendered page, not a blank or error page
    header = np.asarray(image.crop((0, 0, image.width, 60)).convert("L"))
    assert header.mean() < 128  # the dark header bar is there
