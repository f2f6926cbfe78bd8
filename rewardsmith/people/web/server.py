"""The run's page: a small HTTP server on 127.0.0.1 (``rewardsmith serve DIR``, ``evolve … --serve``).

Built on the standard library's ``ThreadingHTTPServer`` on purpose: the page is one person's, on their
own machine, so a thread per connection is plenty (one long-lived server-sent-event stream and a few
requests), it needs no event loop beside the training loop of ``evolve --serve`` and adds no dependency.

Security, because any web page the person visits can send requests to 127.0.0.1:
- it binds 127.0.0.1 only;
- a random token is required on every request: given once in the printed address's ``?token=``, then
  kept in an HttpOnly, SameSite=Strict cookie (and the address bar is cleared of it);
- the Host header must name a loopback address (DNS rebinding: a hostile name that resolves to
  127.0.0.1 still carries its own name) and an Origin header, where a browser sends one, must be this
  page's own; a request that changes anything is a POST of JSON (``Content-Type: application/json``,
  which no cross-site form can send) with this page's Origin;
- there are no CORS headers, and a Content-Security-Policy allows only the page's own scripts and
  styles (no inline script), no frames, no forms;
- the only files served are the package's own assets (by exact name) and videos resolved inside the
  run directory's ``videos/`` folder.
"""

from __future__ import annotations

import hmac
import json
import re
import secrets
import threading
import time
from http import HTTPStatus
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import cast
from urllib.parse import parse_qs, urlsplit

from ...errors import RewardsmithError
from ...archive.store import RunStore
from ...untrusted import printable
from . import data, videos

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")
ASSETS = {"app.js": "text/javascript; charset=utf-8", "player.js": "text/javascript; charset=utf-8",
          "population.js": "text/javascript; charset=utf-8",
          "style.css": "text/css; charset=utf-8"}
POLL_SECONDS = 0.25     # how often the event stream looks at the store (an event reaches the page within ~0.5 s)
KEEPALIVE_SECONDS = 15  # a comment line on a quiet stream, so a dead connection is noticed
MAX_BODY = 64 * 1024
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; "
       "media-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
HOST = re.compile(r"(127\.0\.0\.1|localhost|\[::1\])(:\d{1,5})?", re.I)


class PageServer:
    """The page of one run directory, served on 127.0.0.1 (``port`` 0: any free port)."""

    def __init__(self, run_dir: str | Path, port: int = 0, token: str | None = None, events=None):
        """``events``: the run's event sink when a live run serves its page (``evolve --serve``), so a
        person's edit made on the page is heard by the run's view and observers as one typed in the terminal
        is (archive/events.py); None (``rewardsmith serve``): the edit is persisted as ``rewardsmith edit``'s."""
        self.root = Path(run_dir).resolve()
        self.events = events
        RunStore(self.root).close()  # a clear error for a directory that holds no run; applies migrations once
        self.token = token or secrets.token_urlsafe(24)
        self.closing = threading.Event()
        self.httpd = _HTTPServer(("127.0.0.1", port), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.page = self
        self.port = self.httpd.server_address[1]
        self.cookie = f"rewardsmith_{self.port}"
        self._state: tuple[tuple, str] | None = None  # (store fingerprint, the state's JSON) last built
        self._state_lock = threading.Lock()
        self._sprites: dict[tuple, tuple[bytes, dict]] = {}
        self._sprites_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.videos = videos.Renderer(self.root)  # videos rendered on demand (POST /api/video), one at a time

    @property
    def url(self) -> str:
        """The address to open (it carries the token)."""
        return f"http://127.0.0.1:{self.port}/?token={self.token}"

    def serve_forever(self) -> None:
        self.httpd.serve_forever(poll_interval=0.2)

    def start(self) -> "PageServer":
        """Serves in a background thread (``evolve --serve``, tests)."""
        self._thread = threading.Thread(target=self.serve_forever, name="rewardsmith-page", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        self.closing.set()
        self.videos.close()
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join(timeout=5)
        self.httpd.server_close()

    def store(self) -> RunStore:
        return RunStore(self.root)

    def state_json(self, store: RunStore, fingerprint: tuple) -> str:
        """The watch view's state as JSON, built once per change of the store however many pages watch."""
        with self._state_lock:
            if self._state is None or self._state[0] != fingerprint:
                self._state = (fingerprint, json.dumps(data.state(store), allow_nan=False))
            return self._state[1]

    def sprite(self, name: str) -> tuple[bytes, dict]:
        """A video's sprite sheet (``data.sprite``), kept while the file is unchanged."""
        path = self.video_path(name)
        key = (name, path.stat().st_mtime_ns, path.stat().st_size)
        with self._sprites_lock:
            if key not in self._sprites:
                self._sprites[key] = data.sprite(path)
            return self._sprites[key]

    def video_path(self, name: str) -> Path:
        """``videos/<name>`` of the run, refused unless it is a video file that resolves (symbolic links
        followed) to the run directory's own ``videos/`` folder."""
        if not data.VIDEO_NAME.fullmatch(name) or "/" in name or "\\" in name:
            raise _Refused(HTTPStatus.NOT_FOUND, "no such video")
        folder = (self.root / "videos").resolve()
        path = (folder / name).resolve()
        if path.parent != folder or not path.is_relative_to(self.root) or not data.VIDEO_NAME.fullmatch(path.name) \
                or not path.is_file():
            raise _Refused(HTTPStatus.NOT_FOUND, "no such video")
        return path


class _Refused(Exception):
    def __init__(self, status: HTTPStatus, message: str):
        super().__init__(message)
        self.status = status


class _HTTPServer(ThreadingHTTPServer):
    page: PageServer  # the page that serves this run (set when it starts)


class _Handler(BaseHTTPRequestHandler):
    server_version = "rewardsmith"
    sys_version = ""

    @property
    def page(self) -> PageServer:
        return cast(_HTTPServer, self.server).page

    def log_message(self, format, *args):  # the terminal belongs to the run's own view
        pass

    # ------------------------------------------------------------------ checks on every request

    def _check(self, post: bool) -> dict:
        """The query; raises _Refused unless Host, Origin and the token are right."""
        host = self.headers.get("Host", "")
        if not HOST.fullmatch(host):
            raise _Refused(HTTPStatus.FORBIDDEN, "this page answers only to a loopback Host (127.0.0.1 or localhost)")
        origin = self.headers.get("Origin")
        if origin is not None and origin != f"http://{host}":
            raise _Refused(HTTPStatus.FORBIDDEN, "cross-origin requests are refused")
        if post and origin is None:
            raise _Refused(HTTPStatus.FORBIDDEN, "a change needs the page's own Origin")
        query = parse_qs(urlsplit(self.path).query)
        tokens = query.get("token")
        given = tokens[0] if tokens else None
        if given is None:
            cookie = SimpleCookie(self.headers.get("Cookie", ""))
            given = cookie[self.page.cookie].value if self.page.cookie in cookie else None
        if given is None or not hmac.compare_digest(given.encode(), self.page.token.encode()):
            raise _Refused(HTTPStatus.UNAUTHORIZED, "open the address rewardsmith printed (it carries the token)")
        return query

    def _headers(self, status: HTTPStatus, content_type: str, length: int | None = None, extra: dict | None = None):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        if length is not None:
            self.send_header("Content-Length", str(length))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("X-Frame-Options", "DENY")
        self.send_header("Content-Security-Policy", CSP)
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()

    def _send(self, status: HTTPStatus, body: bytes, content_type: str, extra: dict | None = None) -> None:
        self._headers(status, content_type, len(body), extra)
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, value, status: HTTPStatus = HTTPStatus.OK) -> None:
        self._send(status, json.dumps(value, allow_nan=False).encode(), "application/json")

    def _error(self, status: HTTPStatus, message: str) -> None:
        self._send(status, json.dumps({"error": printable(message)}).encode(), "application/json")

    # ------------------------------------------------------------------ GET

    def do_GET(self):
        try:
            query = self._check(post=False)
            self._get(urlsplit(self.path).path, query)
        except _Refused as exc:
            self._error(exc.status, str(exc))
        except RewardsmithError as exc:
            self._error(HTTPStatus.NOT_FOUND, str(exc))
        except (BrokenPipeError, ConnectionResetError):
            pass
        except Exception as exc:  # noqa: BLE001 - a page's request must not print a traceback over the run's view
            self._failed(exc)

    def _failed(self, exc: Exception) -> None:
        try:
            self._error(HTTPStatus.INTERNAL_SERVER_ERROR, f"{type(exc).__name__}: {exc}")
        except OSError:
            pass

    do_HEAD = do_GET

    def _get(self, path: str, query: dict) -> None:
        one = lambda key: (query.get(key) or [""])[0]  # noqa: E731
        if path == "/":
            if "token" in query:  # keep the token in a cookie and out of the address bar and history
                cookie = f"{self.page.cookie}={self.page.token}; HttpOnly; SameSite=Strict; Path=/"
                self._send(HTTPStatus.SEE_OTHER, b"", "text/plain", {"Location": "/", "Set-Cookie": cookie})
                return
            self._send(HTTPStatus.OK, _asset("index.html"), "text/html; charset=utf-8")
        elif path == "/favicon.ico":
            self._send(HTTPStatus.NO_CONTENT, b"", "image/x-icon")
        elif path.startswith("/static/") and path[len("/static/"):] in ASSETS:
            name = path[len("/static/"):]
            self._send(HTTPStatus.OK, _asset(name), ASSETS[name])
        elif path == "/api/state":
            with _opened(self.page) as store:
                body = self.page.state_json(store, data.fingerprint(store)).encode()
                self._send(HTTPStatus.OK, body, "application/json")
        elif path == "/api/candidate":
            with _opened(self.page) as store:
                self._json(data.candidate(store, one("id")))
        elif path == "/api/population":  # islands, cells, duplicates, operator statistics (output/population.py)
            with _opened(self.page) as store:
                self._json(data.population(store))
        elif path == "/api/pair":
            with _opened(self.page) as store:
                self._json(data.pair(store))
        elif path == "/api/tiles":
            with _opened(self.page) as store:
                self._json(data.tiles(store, max(2, min(9, int(one("k") or 6) if one("k").isdigit() else 6))))
        elif path == "/api/events":
            self._events()
        elif path.startswith("/videos/"):
            target = self.page.video_path(path[len("/videos/"):])
            self._ranged(target.read_bytes(), {"gif": "image/gif", "mp4": "video/mp4", "webm": "video/webm"}[target.suffix[1:]])
        elif path.startswith("/curves/"):  # a video's component curves, one row per frame (output/video.py)
            self._json(data.curves(self.page.video_path(path[len("/curves/"):])))
        elif path.startswith("/sprites/"):
            sheet, facts = self.page.sprite(path[len("/sprites/"):])
            if one("facts"):
                self._json(facts)
            else:
                self._send(HTTPStatus.OK, sheet, "image/png")
        else:
            raise _Refused(HTTPStatus.NOT_FOUND, "no such page")

    def _ranged(self, body: bytes, content_type: str) -> None:
        """``body``, or the one byte range a ``Range: bytes=a-b`` header asks for (206): a browser seeks in
        an MP4 only where the server answers ranges."""
        m = re.fullmatch(r"bytes=(\d*)-(\d*)", self.headers.get("Range", "").strip())
        if m is None or not (m.group(1) or m.group(2)):
            self._send(HTTPStatus.OK, body, content_type, {"Accept-Ranges": "bytes"})
            return
        size = len(body)
        first, last = (int(m.group(1)), int(m.group(2) or size - 1)) if m.group(1) else (size - int(m.group(2)), size - 1)
        first, last = max(0, first), min(last, size - 1)
        if first > last:
            self._send(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE, b"", content_type, {"Content-Range": f"bytes */{size}"})
            return
        self._send(HTTPStatus.PARTIAL_CONTENT, body[first:last + 1], content_type,
                   {"Accept-Ranges": "bytes", "Content-Range": f"bytes {first}-{last}/{size}"})

    def _events(self) -> None:
        """Server-sent events: a ``state`` message (the watch view's JSON) whenever the store changes."""
        self._headers(HTTPStatus.OK, "text/event-stream; charset=utf-8")
        last, quiet, rendered = None, time.monotonic(), 0
        with _opened(self.page) as store:
            while not self.page.closing.is_set():
                if self.page.videos.version != rendered:  # an on-demand video queued, rendering, ready or failed
                    rendered = self.page.videos.version
                    self.wfile.write(f"event: video\ndata: {json.dumps(self.page.videos.statuses())}\n\n".encode())
                    self.wfile.flush()
                fingerprint = data.fingerprint(store)
                if fingerprint != last:
                    last = fingerprint
                    payload = self.page.state_json(store, fingerprint)
                    self.wfile.write(f"event: state\ndata: {payload}\n\n".encode())
                    self.wfile.flush()
                    quiet = time.monotonic()
                elif time.monotonic() - quiet > KEEPALIVE_SECONDS:
                    self.wfile.write(b": keepalive\n\n")
                    self.wfile.flush()
                    quiet = time.monotonic()
                self.page.closing.wait(POLL_SECONDS)

    # ------------------------------------------------------------------ POST (JSON only)

    def do_POST(self):
        try:
            self._check(post=True)
            if self.headers.get("Content-Type", "").split(";")[0].strip().lower() != "application/json":
                raise _Refused(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "changes are JSON (Content-Type: application/json)")
            length = int(self.headers.get("Content-Length") or 0)
            if not 0 < length <= MAX_BODY:
                raise _Refused(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "a JSON body of at most 64 KiB is expected")
            try:
                body = json.loads(self.rfile.read(length))
            except (json.JSONDecodeError, UnicodeDecodeError):
                raise _Refused(HTTPStatus.BAD_REQUEST, "the body is not JSON") from None
            if not isinstance(body, dict):
                raise _Refused(HTTPStatus.BAD_REQUEST, "the body is not a JSON object")
            with _opened(self.page) as store:
                self._json(self._post(urlsplit(self.path).path, body, store))
        except _Refused as exc:
            self._error(exc.status, str(exc))
        except RewardsmithError as exc:
            self._error(HTTPStatus.BAD_REQUEST, str(exc))
        except (BrokenPipeError, ConnectionResetError):
            pass
        except Exception as exc:  # noqa: BLE001 - as in do_GET
            self._failed(exc)

    def _post(self, path: str, body: dict, store: RunStore) -> dict:
        if path == "/api/video":  # render a candidate's rollout video now (its status also comes as `event: video`)
            try:
                return self.page.videos.request(store, _field(body, "candidate"))
            except videos.Refused as exc:
                raise _Refused(HTTPStatus(exc.status), str(exc)) from None
        if path == "/api/prefer":
            a, b, outcome = _field(body, "a"), _field(body, "b"), _field(body, "outcome")
            reason = body.get("reason")
            if reason is not None and not isinstance(reason, str):
                raise _Refused(HTTPStatus.BAD_REQUEST, "reason is text")
            if outcome not in ("a", "b", "equal", "unsure"):
                raise _Refused(HTTPStatus.BAD_REQUEST, "outcome is a, b, equal or unsure")
            preferred, other = (b, a) if outcome == "b" else (a, b)
            pid = store.add_preference(preferred, other, "better" if outcome in ("a", "b") else outcome,
                                       (reason or "").strip()[:2000] or None, source="page")
            # the ground truth, shown only now that the person has answered
            return {"id": pid, "fitness": {cid: data.num(store.candidate(cid).fitness) for cid in (a, b)}}
        if path == "/api/best-worst":
            return _best_worst(store, body)
        if path == "/api/undo":
            withdrawn = body.get("id")
            if not isinstance(withdrawn, int) or isinstance(withdrawn, bool):
                raise _Refused(HTTPStatus.BAD_REQUEST, "id is the number of a preference")
            return {"withdrawn": store.withdraw_preference(withdrawn)}
        if path == "/api/feedback":
            text = _field(body, "text").strip()
            if not text:
                raise _Refused(HTTPStatus.BAD_REQUEST, "the feedback is empty")
            candidate = body.get("candidate") or None
            if candidate is not None and not isinstance(candidate, str):
                raise _Refused(HTTPStatus.BAD_REQUEST, "candidate is an id")
            return {"id": store.add_feedback(text[:8000], candidate)}
        if path == "/api/decide":
            waiting = store.meta("waiting")
            generation, action = body.get("generation"), body.get("action")
            if action not in ("continue", "stop") or not isinstance(generation, int) or isinstance(generation, bool):
                raise _Refused(HTTPStatus.BAD_REQUEST, "action is continue or stop, generation a number")
            if not isinstance(waiting, dict) or waiting.get("generation") != generation:
                raise _Refused(HTTPStatus.CONFLICT, f"the run is not waiting after generation {generation}")
            store.set_meta("decision", {"generation": generation, "action": action, "at": time.time()})
            return {"recorded": action}
        if path == "/api/edit":
            return _edit(store, _field(body, "parent"), _field(body, "code"), screen=body.get("screen", True) is not False,
                         events=self.page.events)
        raise _Refused(HTTPStatus.NOT_FOUND, "no such action")


def _best_worst(store: RunStore, body: dict) -> dict:
    """ICPL's answer over K shown candidates: the best preferred over each other shown, each other
    preferred over the worst (what picking them says, as pairs); gives the preference ids and the fitness
    of those shown, revealed now."""
    shown = body.get("shown")
    best, worst = _field(body, "best"), _field(body, "worst")
    if not isinstance(shown, list) or not all(isinstance(x, str) for x in shown) or len(set(shown)) != len(shown) \
            or not 2 <= len(shown) <= 9 or best not in shown or worst not in shown or best == worst:
        raise _Refused(HTTPStatus.BAD_REQUEST, "shown is 2 to 9 distinct ids, best and worst two different of them")
    reason = body.get("reason")
    reason = reason.strip()[:2000] or None if isinstance(reason, str) else None
    ids = [store.add_preference(best, other, "better", reason, source="page-best-worst")
           for other in shown if other != best]
    ids += [store.add_preference(other, worst, "better", reason, source="page-best-worst")
            for other in shown if other not in (best, worst)]
    return {"ids": ids, "fitness": {cid: data.num(store.candidate(cid).fitness) for cid in shown}}


def _edit(store: RunStore, parent: str, code: str, screen: bool, events=None) -> dict:
    """A person's edit of ``parent``, admitted exactly as ``rewardsmith edit`` admits it (human.add_edit, the
    proposals' admission: the critic, the run's LLM critic veto where it has one, duplicates, then screening
    unless ``screen`` is False); a rejected edit is kept as a draft; an accepted
    one is told to ``events`` (the live run's sink, else one persisting to ``store``)."""
    from ..human import add_edit
    from ...task import load_task_file

    if len(code) > MAX_BODY:
        raise _Refused(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "the code is too long")
    outcome = add_edit(store, load_task_file(store.root / "task.py"), parent, code, screen=screen, events=events)
    if outcome.candidate is None:
        return {"accepted": False, "report": printable(outcome.report),
                "draft": str(outcome.draft.relative_to(store.root)) if outcome.draft else None,
                "screened": outcome.screening is not None}
    return {"accepted": True, "candidate": outcome.candidate.id, "generation": outcome.candidate.generation,
            "screened": outcome.screening is not None}


def _field(body: dict, key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise _Refused(HTTPStatus.BAD_REQUEST, f"{key!r} is missing or not text")
    return value


class _opened:
    """A run store for one request (each request is its own thread; SQLite connections are not shared)."""

    def __init__(self, page: PageServer):
        self.page = page

    def __enter__(self) -> RunStore:
        self.store = self.page.store()
        return self.store

    def __exit__(self, *exc):
        self.store.close()


def _asset(name: str) -> bytes:
    return resources.files("rewardsmith.people.web").joinpath("static", name).read_bytes()
