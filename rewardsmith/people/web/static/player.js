// Videos the compare and tiles views drive from one control, and the reward components' curves under
// them. Loaded before app.js (which uses makePlayer and componentStrip). Component names come from reward
// code: they are put into the document as text only (textContent), never as markup.
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";

function svgNode(tag, attrs, text) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, String(value));
  if (text !== undefined) node.textContent = String(text);
  return node;
}

async function fetchJSON(path) {
  const response = await fetch(path, { credentials: "same-origin" });
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

// A video file shown in a <video> element (MP4 or WebM: the browser seeks to any frame). The shared
// clock (app.js) tells it where to be; it plays natively and is put back on the clock when it drifts
// more than half a frame.
class VideoPlayer {
  constructor(name, curves, id) {
    this.name = name;
    this.curves = curves;
    this.frameMs = curves && curves.frame_ms ? curves.frame_ms : 1000 / 30;
    this.video = document.createElement("video");
    this.video.muted = true;
    this.video.playsInline = true;
    this.video.preload = "auto";
    this.video.disablePictureInPicture = true;
    if (id) this.video.id = id;
    this.video.className = "video-frame";
    this.element = this.video;
    // paused by the clock while a seek of its own was under way (show skips a video that is seeking), it would
    // stay where that seek lands: when a seek ends on a paused video, it is put back on the clock's time
    this.pausedAt = null;
    this.video.addEventListener("seeked", () => {
      if (this.video.paused && this.pausedAt !== null && Math.abs(this.currentMs() - this.pausedAt) > 0.5)
        this.video.currentTime = this.pausedAt / 1000;
    });
    this.ready = new Promise((resolve, reject) => {
      this.video.addEventListener("loadeddata", resolve, { once: true });
      this.video.addEventListener("error", () => reject(new Error("the browser cannot play " + name)), { once: true });
    }).then(() => { this.length = 1000 * this.video.duration; this.show(0, false, 1); });
    this.video.src = "/videos/" + encodeURIComponent(name);
  }
  get isVideo() { return true; }
  currentMs() { return 1000 * this.video.currentTime; }
  frameAt(ms) {
    const frames = this.curves ? this.curves.rows.length : Infinity;
    return Math.max(0, Math.min(frames - 1, Math.floor(ms / this.frameMs + 1e-6)));
  }
  show(ms, playing, speed) {
    const v = this.video;
    if (!this.length) return;
    if (v.playbackRate !== speed) v.playbackRate = speed;
    const target = Math.min(ms, this.length);
    const running = playing && ms < this.length;
    this.pausedAt = running ? null : target;
    if (running && v.paused) v.play().catch(() => {});
    if (!running && !v.paused) v.pause();
    // paused: exactly on the clock; playing: back on it when more than half a frame away
    const tolerance = running ? this.frameMs / 2 : 0.5;
    if (!v.seeking && Math.abs(this.currentMs() - target) > tolerance) v.currentTime = target / 1000;
    v.dataset.frame = String(this.frameAt(running ? this.currentMs() : target));
  }
}

// A GIF drawn frame by frame from its sprite sheet on a canvas (the fallback where no MP4 was made),
// so it can be scrubbed to any frame too.
class SpritePlayer {
  constructor(name, curves, id) {
    this.curves = curves;
    this.canvas = document.createElement("canvas");
    this.canvas.width = 160;
    this.canvas.height = 160;
    if (id) this.canvas.id = id;
    this.element = this.canvas;
    this.ms = 0;
    this.ready = this.load(name);
  }
  get isVideo() { return false; }
  async load(name) {
    this.facts = await fetchJSON("/sprites/" + encodeURIComponent(name) + "?facts=1");
    this.image = new Image();
    this.image.src = "/sprites/" + encodeURIComponent(name);
    await this.image.decode();
    this.canvas.width = this.facts.width;
    this.canvas.height = this.facts.height;
    this.starts = [];
    let t = 0;
    for (const d of this.facts.durations) { this.starts.push(t); t += d; }
    this.length = t;
    this.frameMs = this.facts.durations.length ? t / this.facts.durations.length : 50;
  }
  currentMs() { return this.ms; }
  frameAt(ms) {
    if (!this.facts) return -1;
    let lo = 0, hi = this.starts.length - 1;
    while (lo < hi) { const mid = (lo + hi + 1) >> 1; if (this.starts[mid] <= ms) lo = mid; else hi = mid - 1; }
    return lo;
  }
  show(ms) {
    if (!this.facts) return;
    this.ms = Math.min(ms, this.length);
    const f = this.frameAt(this.ms), { width: w, height: h, cols } = this.facts;
    this.canvas.dataset.frame = String(f);
    this.canvas.getContext("2d").drawImage(this.image, (f % cols) * w, Math.floor(f / cols) * h, w, h, 0, 0, w, h);
  }
}

function canPlay(name) {
  const type = name.endsWith(".webm") ? 'video/webm; codecs="vp9"' : 'video/mp4; codecs="avc1.640028"';
  return document.createElement("video").canPlayType(type) !== "";
}

// The player for a video file name, with its component curves (null where there are none).
async function makePlayer(name, id) {
  let curves = null;
  try { curves = await fetchJSON("/curves/" + encodeURIComponent(name)); } catch (err) { curves = null; }
  if (/\.(mp4|webm)$/.test(name)) {
    if (!canPlay(name)) {
      const note = document.createElement("p");
      note.className = "muted";
      note.textContent = "This browser cannot play H.264 video (" + name + "); open the page in Chromium, Chrome, Firefox or Safari.";
      return { element: note, ready: Promise.resolve(), length: 0, curves, isVideo: false,
               show() {}, frameAt() { return -1; }, currentMs() { return 0; } };
    }
    return new VideoPlayer(name, curves, id);
  }
  return new SpritePlayer(name, curves, id);
}

// Each reward component's value on every frame, one small row per component (each on its own scale,
// so a small term is not flattened by a large one), the total first; a cursor marks the frame shown.
const STRIP_ROWS = 12;

function componentStrip(curves, side) {
  const box = document.createElement("div");
  box.className = "strip";
  if (side) box.id = "curves-" + side;
  if (!curves || !curves.rows.length) {
    box.append(Object.assign(document.createElement("p"), { className: "muted", textContent: "No component curves for this video." }));
    return { element: box, update() {} };
  }
  const series = [["total", curves.total]].concat(curves.names.map((name, k) => [name, curves.rows.map((r) => r[k])]));
  const shown = series.slice(0, STRIP_ROWS + 1);
  const W = 320, NAME = 92, VALUE = 66, ROW = 20, H = ROW * shown.length + 4;
  const x0 = NAME, x1 = W - VALUE, frames = curves.rows.length;
  const x = (i) => x0 + (x1 - x0) * (frames > 1 ? i / (frames - 1) : 0);
  const chart = svgNode("svg", { viewBox: `0 0 ${W} ${H}`, class: "strip-chart", role: "img", "aria-label": "reward components per frame" });
  const values = [];
  shown.forEach(([name, ys], k) => {
    const top = 2 + k * ROW;
    const finite = ys.filter((v) => v !== null && isFinite(v));
    let lo = finite.length ? Math.min(...finite) : 0, hi = finite.length ? Math.max(...finite) : 1;
    if (hi === lo) { hi += 1; lo -= 1; }
    const y = (v) => top + 2 + (ROW - 6) * (1 - (v - lo) / (hi - lo));
    const label = svgNode("text", { x: 2, y: top + ROW / 2 + 4, class: "tick strip-name s" + (k % 8) }, name.length > 14 ? name.slice(0, 13) + "…" : name);
    label.append(svgNode("title", {}, name));
    let d = "", pen = false;
    ys.forEach((v, i) => {
      if (v === null || !isFinite(v)) { pen = false; return; }
      d += `${pen ? "L" : "M"}${x(i).toFixed(1)} ${y(v).toFixed(1)} `;
      pen = true;
    });
    const value = svgNode("text", { x: W - 2, y: top + ROW / 2 + 4, class: "tick strip-value", "text-anchor": "end" }, "-");
    values.push([value, ys]);
    chart.append(svgNode("line", { x1: x0, x2: x1, y1: top + ROW - 1, y2: top + ROW - 1, class: "strip-rule" }),
                 label, svgNode("path", { d, class: "series s" + (k % 8) }), value);
  });
  const cursor = svgNode("line", { x1: x0, x2: x0, y1: 0, y2: H, class: "cursor" });
  chart.append(cursor);
  const where = Object.assign(document.createElement("div"), { className: "strip-where muted" });
  box.append(chart, where);
  if (series.length > shown.length) {
    box.append(Object.assign(document.createElement("p"), { className: "muted", textContent: `${series.length - shown.length} more components not drawn` }));
  }
  return {
    element: box,
    update(frame) {
      const f = Math.max(0, Math.min(frames - 1, frame));
      cursor.setAttribute("x1", x(f).toFixed(1));
      cursor.setAttribute("x2", x(f).toFixed(1));
      box.dataset.cursor = String(f);
      const step = curves.frame_steps ? curves.frame_steps[f] : null;
      where.textContent = `frame ${f + 1} of ${frames}` + (step !== null && step !== undefined && curves.steps !== null ? ` · step ${step} of ${curves.steps}` : "") +
        " · values: mean over the steps since the previous frame";
      for (const [node, ys] of values) {
        const v = ys[f];
        node.textContent = v === null || !isFinite(v) ? "-" : Number(v.toPrecision(3)).toString();
      }
    },
  };
}

// Says whether two videos start from the same state (the seeds their curves record).
function startNote(a, b) {
  const ca = a && a.curves, cb = b && b.curves;
  if (ca && cb && ca.reset_seed !== null && ca.reset_seed === cb.reset_seed) {
    return `Same start: both episodes begin from reset seed ${ca.reset_seed}` + (ca.start_seed !== null ? ` (the run's seed ${ca.start_seed})` : "") + ".";
  }
  if (ca && cb && ca.reset_seed !== null && cb.reset_seed !== null) {
    return `Different starts: reset seeds ${ca.reset_seed} and ${cb.reset_seed} (videos rendered before runs shared one start).`;
  }
  return "Start state not recorded for these videos (rendered before rewardsmith recorded it).";
}

// Videos rendered on demand (POST /api/video, people/web/videos.py): the server renders one at a time and
// pushes every request's status on the page's event stream as `event: video` (app.js hands it to
// videoStatuses). A status: { candidate, request (its number), state: queued | rendering | ready | failed,
// video, error, position }.
const onDemand = { waiting: new Map(), latest: {} };

function videoStatuses(statuses) {
  onDemand.latest = statuses;
  for (const [cid, status] of Object.entries(statuses)) hearStatus(cid, status);
}

function hearStatus(cid, status) {
  const waiting = onDemand.waiting.get(cid);
  if (!waiting || status.request < waiting.request) return;  // an earlier request's news
  if (status.state === "ready" || status.state === "failed") onDemand.waiting.delete(cid);
  for (const fn of waiting.listeners) fn(status);
}

// Asks for `cid`'s video; `onStatus` hears each status until it is ready or failed (a refusal, such as a
// candidate with no checkpoint to render from, is a failed status carrying the server's message).
async function requestVideo(cid, onStatus) {
  let status;
  try {
    const response = await fetch("/api/video", {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json" }, body: JSON.stringify({ candidate: cid }),
    });
    const body = await response.json();
    status = response.ok ? body : { candidate: cid, state: "failed", error: body.error || response.statusText };
  } catch (err) {
    status = { candidate: cid, state: "failed", error: err.message };
  }
  onStatus(status);
  if (status.state !== "queued" && status.state !== "rendering") return;
  const waiting = onDemand.waiting.get(cid) || { request: status.request, listeners: [] };
  waiting.listeners.push(onStatus);
  onDemand.waiting.set(cid, waiting);
  const pushed = onDemand.latest[cid];  // the stream may have told of it before this answer came
  if (pushed) hearStatus(cid, pushed);
}

// What a status says, for a person.
function statusText(status) {
  if (status.state === "queued") return `rendering video… (queued${status.position ? ", " + status.position + " ahead" : ""})`;
  if (status.state === "rendering") return "rendering video…";
  if (status.state === "failed") return "no video: " + (status.error || "rendering failed");
  return "";
}
