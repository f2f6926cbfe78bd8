// The run's page. Every piece of text from the run (reward code, component names, model output, people's
// feedback) is put into the document with textContent, never as markup; links are built only from
// candidate ids, as "#/c/<id>" (encoded). The server sends that text already made printable (control,
// bidi and zero-width characters shown as \uXXXX).
"use strict";

const main = () => document.getElementById("main");
let runState = null;          // the latest state pushed by the server
let view = null;              // the current view: { name, render(state) }

// ---------------------------------------------------------------------------- small helpers

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "text") node.textContent = String(value);
    else if (key === "on") for (const [ev, fn] of Object.entries(value)) node.addEventListener(ev, fn);
    else node.setAttribute(key, String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function svg(tag, attrs, ...children) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "text") node.textContent = String(value);
    else node.setAttribute(key, String(value));
  }
  for (const child of children.flat()) if (child) node.append(child);
  return node;
}

const link = (id) => el("a", { href: "#/c/" + encodeURIComponent(id), text: id });
const fmt = (x, digits = 4) => (x === null || x === undefined || !isFinite(x)) ? "-" : Number(x.toPrecision(digits)).toString();

async function api(path) {
  const response = await fetch(path, { credentials: "same-origin" });
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

async function post(path, value) {
  const response = await fetch(path, {
    method: "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/json" }, body: JSON.stringify(value),
  });
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

function replace(...children) {
  const m = main();
  m.replaceChildren(...children.flat().filter(Boolean));
}

// ---------------------------------------------------------------------------- live state

function connect() {
  const live = document.getElementById("live");
  const source = new EventSource("/api/events");
  source.addEventListener("state", (message) => {
    runState = JSON.parse(message.data);
    live.textContent = "●";
    live.className = "on";
    document.body.dataset.events = String(runState.events.length ? runState.events[0].id : 0);
    headline(runState);
    if (view && view.render) view.render(runState);
  });
  source.addEventListener("video", (message) => videoStatuses(JSON.parse(message.data)));  // player.js
  source.onerror = () => { live.textContent = "○"; live.className = "off"; };
}

function headline(s) {
  // the compare view hides every fitness until the person answers, the best's included
  const best = view && (view.name === "compare" || view.name === "tiles") ? "fitness hidden while you compare"
    : s.best ? `best ${s.best.id} ${s.best.describe}` : "nothing scored yet";
  document.getElementById("headline").textContent =
    `${s.task}  ·  ${s.status}  ·  generation ${s.generation ?? "-"}  ·  ${best}`;
}

// ---------------------------------------------------------------------------- watch

function fitnessChart(s) {
  const W = 640, H = 220, L = 48, R = 110, T = 10, B = 28;
  const scored = s.candidates.filter((c) => c.status === "scored" && c.fitness !== null);
  const values = scored.map((c) => c.fitness).concat(s.best_so_far.map((p) => p.fitness));
  if (s.baseline && s.baseline.fitness !== null) values.push(s.baseline.fitness);
  if (s.random_fitness !== null) values.push(s.random_fitness);
  if (!scored.length) return el("p", { class: "muted", text: "No candidate scored yet." });
  const gens = s.candidates.map((c) => c.generation);
  const g0 = Math.min(...gens), g1 = Math.max(...gens, g0 + 1);
  let lo = Math.min(...values), hi = Math.max(...values);
  if (hi === lo) { hi += 1; lo -= 1; }
  const x = (g) => L + 16 + (W - L - R - 32) * (g - g0) / (g1 - g0);  // room for a generation's spread of dots
  const y = (v) => T + (H - T - B) * (1 - (v - lo) / (hi - lo));
  const chart = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "aria-label": "fitness per generation" });
  chart.append(svg("line", { x1: L, y1: H - B, x2: W - R, y2: H - B, class: "axis" }),
               svg("line", { x1: L, y1: T, x2: L, y2: H - B, class: "axis" }));
  for (let g = g0; g <= g1; g++) chart.append(svg("text", { x: x(g), y: H - 8, class: "tick", "text-anchor": "middle", text: g }));
  for (const v of [lo, (lo + hi) / 2, hi]) chart.append(svg("text", { x: L - 4, y: y(v) + 4, class: "tick", "text-anchor": "end", text: fmt(v, 3) }));
  const reference = (v, cls, label) => {
    if (v === null || v === undefined) return;
    chart.append(svg("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), class: cls }),
                 svg("text", { x: W - R + 4, y: y(v) + 4, class: "tick label-" + cls, text: `${label} ${fmt(v, 3)}` }));
  };
  reference(s.baseline && s.baseline.fitness, "baseline", "baseline");
  reference(s.random_fitness, "random", "random");
  if (s.best_so_far.length) {
    let d = "";
    s.best_so_far.forEach((p, i) => {
      d += (i ? ` H${x(p.generation)} V${y(p.fitness)}` : `M${x(p.generation)} ${y(p.fitness)}`);
    });
    const last = s.best_so_far[s.best_so_far.length - 1];
    d += ` H${x(last.generation) + 12}`;
    chart.append(svg("path", { d, class: "best" }),
                 svg("text", { x: W - R + 4, y: y(last.fitness) + (y(last.fitness) < T + 14 ? 14 : -6), class: "tick label-best", text: "best so far" }));
  }
  const perGen = {};
  for (const c of scored) {
    const i = (perGen[c.generation] = (perGen[c.generation] || 0) + 1) - 1;
    const dot = svg("circle", { cx: x(c.generation) + (i % 7 - 3) * 3, cy: y(c.fitness), r: 4, class: "dot " + c.origin });
    dot.append(svg("title", { text: `${c.id} ${fmt(c.fitness)}` }));
    chart.append(dot);
  }
  return chart;
}

function watchView() {
  return {
    name: "watch",
    render(s) {
      const training = s.candidates.filter((c) => c.status === "training");
      const prefs = s.preferences;
      const prefScore = Object.fromEntries(prefs.scores.map((p) => [p.id, p]));
      const table = el("table", { id: "candidates" },
        el("thead", {}, el("tr", {}, ...["id", "gen", "parent", "origin", "status", "fitness", "preference", "reason"].map((h) => el("th", { text: h })))),
        el("tbody", {}, ...s.candidates.slice().reverse().map((c) => el("tr", { "data-id": c.id, class: c.status + (s.best && s.best.id === c.id ? " best" : "") },
          el("td", {}, link(c.id), s.best && s.best.id === c.id ? " ★" : ""),
          el("td", { text: c.generation }), el("td", {}, c.parent ? link(c.parent) : "-"),
          el("td", { text: c.origin }),
          el("td", { class: "status", text: c.status + (c.progress ? ` ${c.progress.fraction !== null ? Math.round(100 * c.progress.fraction) + "%" : "step " + c.progress.step}` : "") }),
          el("td", { class: "num", text: fmt(c.fitness) }),
          el("td", { class: "num", text: prefScore[c.id] ? `${prefScore[c.id].score.toFixed(2)} ± ${prefScore[c.id].sd.toFixed(2)}` : "" }),
          el("td", { class: "reason", text: c.reason || "" })))));
      replace(
        s.waiting ? waitingBanner(s.waiting) : null,
        el("section", { id: "summary" },
          el("p", {}, `${s.candidates.length} candidates; designer ${s.designer}${s.model ? " (" + s.model + ")" : ""}. Best: `,
            s.best ? link(s.best.id) : "-", s.best ? ` ${s.best.describe}` : ""),
          training.length ? el("div", { id: "training" }, el("h3", { text: "Training now" }),
            ...training.map((c) => el("div", { class: "progress" }, link(c.id), " ",
              el("progress", { max: 1, value: c.progress && c.progress.fraction !== null ? c.progress.fraction : 0 }),
              c.progress ? ` step ${c.progress.step}` : " starting"))) : null),
        el("section", { id: "fitness" }, el("h2", { text: "Fitness over generations" }), fitnessChart(s)),
        el("section", { id: "table" }, el("h2", { text: "Candidates" }), table),
        el("section", { id: "lineage" }, el("details", {}, el("summary", { text: "Lineage (who descends from whom)" }), lineage(s))),
        el("section", { id: "preferences" }, el("h2", { text: "Preferences" }), preferencesBlock(prefs)),
        el("section", { id: "events" }, el("h2", { text: "What happened (latest first)" }),
          el("ol", { reversed: true }, ...s.events.map((e) => el("li", { text: `${new Date(e.created * 1000).toLocaleTimeString()}  ${e.text}` })))),
        el("section", { id: "feedback" }, el("h2", { text: "Feedback" }), feedbackForm(null, s.feedback)),
      );
    },
  };
}

function waitingBanner(w) {
  // an --interactive run waits after a generation: answered here or on its terminal, whichever is first
  const note = el("span", { class: "note" });
  const decide = (action) => async () => {
    try {
      await post("/api/decide", { generation: w.generation, action });
      note.textContent = action === "continue" ? "continuing…" : "stopping…";
    } catch (err) { note.textContent = "error: " + err.message; }
  };
  return el("section", { id: "waiting", class: "revealed" },
    `Generation ${w.generation} is done and the run waits for you${w.timeout ? ` (it continues by itself after ${w.timeout} s)` : ""}: give feedback or edit a candidate, then `,
    el("button", { type: "button", id: "continue", text: "Continue", on: { click: decide("continue") } }), " ",
    el("button", { type: "button", id: "stop", text: "Stop the run", on: { click: decide("stop") } }), " ", note);
}

function lineage(s) {
  const children = {};
  const ids = new Set(s.candidates.map((c) => c.id));
  for (const c of s.candidates) {
    const key = c.parent && ids.has(c.parent) ? c.parent : "";
    (children[key] = children[key] || []).push(c);
  }
  const tree = (key, depth) => el("ul", {}, ...(children[key] || []).map((c) => el("li", { class: c.status },
    link(c.id), ` ${c.origin} · ${c.status}${c.fitness !== null ? " · " + fmt(c.fitness) : ""}`,
    depth < 60 && children[c.id] ? tree(c.id, depth + 1) : null)));
  return tree("", 0);
}

function preferencesBlock(p) {
  if (!p.answers) return el("p", { class: "muted" }, "No preferences yet: ", el("a", { href: "#/compare", text: "compare two candidates" }), ".");
  return el("div", {},
    el("p", { text: `${p.answers} answers (${p.informative} informative). Kendall τ between the preference ranking and fitness: ${p.kendall_tau === null ? "-" : p.kendall_tau.toFixed(2) + " over " + p.tau_over + " candidates"}.` }),
    el("table", {}, el("tr", {}, el("th", { text: "candidate" }), el("th", { text: "Bradley–Terry score ± sd" }), el("th", { text: "fitness" }), el("th", { text: "wins / comparisons" })),
      ...p.scores.map((sc) => el("tr", {}, el("td", {}, link(sc.id)), el("td", { class: "num", text: `${sc.score.toFixed(2)} ± ${sc.sd.toFixed(2)}` }), el("td", { class: "num", text: fmt(sc.fitness) }), el("td", { class: "num", text: `${sc.wins} / ${sc.comparisons}` })))),
    p.conflicts.length ? el("ul", { class: "conflicts" }, ...p.conflicts.map((c) => el("li", {},
      "conflict: person prefers ", link(c.preferred), " over ", link(c.other), `; fitness says ${c.other} by ${fmt(c.gap, 3)}${c.gap_sd ? " ± " + fmt(c.gap_sd, 2) : ""} (${fmt(c.other_fitness)} vs ${fmt(c.preferred_fitness)})`,
      c.reason ? " — " : "", c.reason ? el("q", { text: c.reason }) : null))) : el("p", { class: "muted", text: "No conflicts with fitness." }));
}

function feedbackForm(candidate, items) {
  const box = el("textarea", { rows: 3, cols: 70, placeholder: "What you saw and what you want (the next generation's prompt carries it)" });
  const note = el("span", { class: "note" });
  const send = el("button", { type: "button", text: "Send feedback" });
  send.addEventListener("click", async () => {
    try {
      const r = await post("/api/feedback", { text: box.value, candidate });
      note.textContent = `feedback #${r.id} recorded`;
      box.value = "";
    } catch (err) { note.textContent = "error: " + err.message; }
  });
  return el("div", { class: "feedback" },
    el("ul", {}, ...(items || []).map((f) => el("li", { class: "feedback-text" }, f.candidate ? link(f.candidate) : null, f.candidate ? ": " : "", el("span", { text: f.text })))),
    box, el("br"), send, " ", note);
}

// ---------------------------------------------------------------------------- one candidate

function componentChart(components) {
  const names = Object.keys(components);
  if (!names.length) return el("p", { class: "muted", text: "No component curves." });
  const W = 640, H = 180, L = 48, R = 150, T = 8, B = 20;
  const all = names.flatMap((n) => components[n].series.filter((v) => v !== null));
  if (!all.length) return el("p", { class: "muted", text: "No component curves." });
  let lo = Math.min(...all), hi = Math.max(...all);
  if (hi === lo) { hi += 1; lo -= 1; }
  const chart = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "aria-label": "reward components over training" });
  chart.append(svg("line", { x1: L, y1: H - B, x2: W - R, y2: H - B, class: "axis" }));
  for (const v of [lo, hi]) chart.append(svg("text", { x: L - 4, y: T + (H - T - B) * (1 - (v - lo) / (hi - lo)) + 4, class: "tick", "text-anchor": "end", text: fmt(v, 3) }));
  names.forEach((name, k) => {
    const series = components[name].series;
    const pts = series.map((v, i) => v === null ? null : `${L + (W - L - R) * i / Math.max(1, series.length - 1)},${T + (H - T - B) * (1 - (v - lo) / (hi - lo))}`).filter(Boolean);
    chart.append(svg("polyline", { points: pts.join(" "), class: "series s" + (k % 8) }),
                 svg("text", { x: W - R + 6, y: T + 12 + 14 * k, class: "tick s" + (k % 8), text: name }));
  });
  return chart;
}

function facts(obj) {
  // a record as a two-column table; nested values as compact JSON text
  return el("table", { class: "facts" }, ...Object.entries(obj).map(([key, value]) => el("tr", {},
    el("th", { text: key }),
    el("td", { class: typeof value === "number" ? "num" : "", text: typeof value === "number" ? fmt(value) : typeof value === "string" ? value : JSON.stringify(value) }))));
}

async function candidateView(id) {
  const c = await api("/api/candidate?id=" + encodeURIComponent(id));
  const block = (title, ...content) => el("section", {}, el("h3", { text: title }), ...content);
  const pre = (text, cls) => el("pre", { class: cls || "", text });
  replace(
    el("h2", {}, `${c.id}`, el("span", { class: "muted", text: `  generation ${c.generation} · ${c.origin} · ${c.status} · fitness ${fmt(c.fitness)}` })),
    c.parent ? el("p", {}, "parent ", link(c.parent)) : null,
    c.notes ? el("p", { class: "notes", text: c.notes }) : null,
    c.video ? block("Rollout video", rolloutVideo(c.video)) : c.status === "scored" ? block("Rollout video", renderButton(c.id)) : null,
    c.reason ? block("Why it stopped", pre(c.reason, "reason")) : null,
    c.verdict ? block("Critic", c.verdict.errors.length ? el("ul", {}, ...c.verdict.errors.map((e) => el("li", { class: "error", text: e }))) : el("p", { text: "accepted" }),
      c.verdict.warnings.length ? el("ul", {}, ...c.verdict.warnings.map((w) => el("li", { class: "warning", text: w }))) : null) : null,
    c.screening ? block("Screening (on the run's recorded episodes)", facts(c.screening)) : null,
    c.rungs.length ? block("Halving rungs", el("table", {}, el("tr", {}, el("th", { text: "timesteps" }), el("th", { text: "fitness" })),
      ...c.rungs.map((r) => el("tr", {}, el("td", { class: "num", text: r.timesteps }), el("td", { class: "num", text: fmt(r.fitness) })))),
      ...c.halving.map((d) => facts(d))) : null,
    block("Reward components over training", componentChart(c.components)),
    c.findings.length ? block("Analysis", el("ul", {}, ...c.findings.map((f) => el("li", {}, el("strong", { text: f.name }), ": ", el("span", { text: f.message }))))) : null,
    c.diagnosis ? block("Diagnosis", pre(c.diagnosis)) : null,
    c.reflection ? block("Reflection (what the designer read)", pre(c.reflection)) : null,
    c.diff.length ? block(`Diff against ${c.parent}`, el("pre", { class: "diff" }, ...c.diff.map(([kind, line]) => el("span", { class: kind, text: line + "\n" })))) : null,
    block("Code", pre(c.code, "code")),
    c.status !== "rejected" ? block("Edit this reward", editForm(c)) : null,
    block("Feedback on " + c.id, feedbackForm(c.id, c.feedback.map((f) => ({ ...f, candidate: null })))),
  );
}

function rolloutVideo(name) {
  // MP4: the browser's own controls, the component strip's cursor following them; a GIF as an image
  if (!/\.(mp4|webm)$/.test(name)) return el("img", { src: "/videos/" + encodeURIComponent(name), alt: "policy video", class: "video" });
  const video = el("video", { src: "/videos/" + encodeURIComponent(name), controls: true, loop: true, muted: true, class: "video", id: "rollout" });
  video.muted = true;
  const box = el("div", {}, video);
  api("/curves/" + encodeURIComponent(name)).then((curves) => {
    const strip = componentStrip(curves, "rollout");
    const frameMs = curves && curves.frame_ms ? curves.frame_ms : 1000 / 30;
    const follow = () => strip.update(Math.floor(1000 * video.currentTime / frameMs + 1e-6));
    for (const ev of ["timeupdate", "seeked", "loadeddata"]) video.addEventListener(ev, follow);
    box.append(strip.element);
    follow();
  }).catch(() => {});
  return box;
}

function editForm(c) {
  // the same admission as `rewardsmith edit`: the critic, then screening; a rejected edit is kept as a draft
  const box = el("textarea", { id: "edit-code", rows: 14, cols: 90, spellcheck: "false" });
  box.value = c.code;
  const noScreen = el("input", { type: "checkbox", id: "edit-no-screen" });
  const note = el("div", { id: "edit-result" });
  const send = el("button", { type: "button", id: "edit-send", text: "Check and add as a new candidate" });
  send.addEventListener("click", async () => {
    send.disabled = true;
    note.replaceChildren(el("p", { class: "muted", text: "checking (critic, then screening)…" }));
    try {
      const r = await post("/api/edit", { parent: c.id, code: box.value, screen: !noScreen.checked });
      note.replaceChildren(r.accepted
        ? el("p", { class: "revealed" }, "accepted as ", link(r.candidate), `; it is trained in generation ${r.generation} (rewardsmith evolve --resume on this run)`)
        : el("div", {}, el("p", { class: "error", text: `rejected; your code is kept in ${r.draft}` }), el("pre", { class: "reason", text: r.report })));
    } catch (err) {
      note.replaceChildren(el("p", { class: "error", text: "error: " + err.message }));
    } finally {
      send.disabled = false;
    }
  });
  return el("div", {}, box, el("br"), send, " ", el("label", {}, noScreen, " skip screening (the critic still checks)"), note);
}

// ---------------------------------------------------------------------------- compare two

// the players (VideoPlayer for MP4/WebM, SpritePlayer for a GIF) and the component strips live in player.js

const compare = { pair: null, players: [], strips: [], t: 0, playing: false, speed: 1, loop: 0, last: null, answers: [],
                  tags: new Set() };
// reason tags, keys 1-9: a few words a person says often, stored at the front of the answer's reason
const TAGS = ["reaches the goal", "faster", "steadier", "more natural", "less effort", "safer",
              "games the reward", "falls or crashes", "does nothing"];

function compareView() {
  return { name: "compare", async start() { await loadPair(); } };
}

async function loadPair() {
  compare.playing = false;
  compare.t = 0;
  const pair = await api("/api/pair");
  compare.pair = pair;
  if (!pair) {
    compare.players = [];
    compare.strips = [];
    replace(el("h2", { text: "Compare" }), el("p", { text: "Fewer than two scored candidates to compare yet." }), lastAnswer());
    return;
  }
  const [playerA, playerB] = await Promise.all([pair.video_a ? makePlayer(pair.video_a, "video-a") : null,
                                                 pair.video_b ? makePlayer(pair.video_b, "video-b") : null]);
  const strips = [playerA && componentStrip(playerA.curves, "a"), playerB && componentStrip(playerB.curves, "b")];
  const panel = (side, id, player, strip) => el("div", { class: "panel", id: "panel-" + side },
    el("h3", {}, side === "a" ? "← left: " : "right → : ", link(id)),
    player ? player.element : videoLater(pair, side, id),
    strip ? strip.element : null);
  const scrub = el("input", { type: "range", id: "scrub", min: 0, max: 1000, value: 0, "aria-label": "position" });
  const speed = el("select", { id: "speed", "aria-label": "speed" }, ...[0.25, 0.5, 1, 2, 4].map((v) => el("option", { value: v, text: v + "×", selected: v === 1 })));
  const play = el("button", { type: "button", id: "play", text: "▶ play (Space)" });
  const reason = el("input", { type: "text", id: "reason", size: 50, placeholder: "T: why (optional; Enter to go back to the keys)" });
  play.addEventListener("click", () => togglePlay());
  scrub.addEventListener("input", () => { compare.t = scrub.value / 1000 * duration(); drawAll(); });
  speed.addEventListener("change", () => { compare.speed = Number(speed.value); drawAll(); speed.blur(); });
  reason.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === "Escape") { e.preventDefault(); reason.blur(); } });
  replace(
    el("h2", { text: "Which is better?" }),
    el("p", { class: "muted", text: "Keys: ← left better · → right better · ↓ equal · S can't tell · Space play/pause · Z undo · 1–9 reason tags · T reason. Fitness is shown after you answer." }),
    el("p", { id: "start", text: startNote(playerA, playerB) }),
    el("div", { class: "pair" }, panel("a", pair.a, playerA, strips[0]), panel("b", pair.b, playerB, strips[1])),
    el("div", { class: "controls" }, play, " ", scrub, " ", speed),
    el("div", {}, reason),
    el("div", { id: "tags" }, ...TAGS.map((tag, i) => el("span", { class: "tag" + (compare.tags.has(tag) ? " on" : ""), "data-tag": i + 1, text: `${i + 1} ${tag}` }))),
    lastAnswer(),
  );
  compare.players = [playerA, playerB].filter(Boolean);
  compare.strips = [[playerA, strips[0]], [playerB, strips[1]]].filter(([player]) => player);
  await Promise.all(compare.players.map((p) => p.ready.catch((err) => { p.element.replaceWith(el("p", { class: "error", text: err.message })); })));
  drawAll();
  document.body.dataset.pair = `${pair.a} ${pair.b}`;
}

function videoLater(pair, side, id) {
  // a candidate of the pair without a video: the server renders it now (one at a time, in the sandbox as
  // after a generation) and the panel joins the shared clock when it is ready
  const box = el("div", { class: "rendering", id: "rendering-" + side, "data-state": "asking" },
    el("p", { class: "muted", text: "rendering video…" }));
  requestVideo(id, async (status) => {
    if (compare.pair !== pair) return;  // the person has moved on to another pair
    box.dataset.state = status.state;
    if (status.state !== "ready") {
      box.replaceChildren(el("p", { class: status.state === "failed" ? "error" : "muted", text: statusText(status) }));
      return;
    }
    const player = await makePlayer(status.video, "video-" + side);
    if (compare.pair !== pair) return;
    const strip = componentStrip(player.curves, side);
    box.replaceChildren(player.element, strip.element);
    try { await player.ready; } catch (err) { box.replaceChildren(el("p", { class: "error", text: err.message })); return; }
    const other = compare.players.find((p) => p !== player) || null;
    compare.players.push(player);
    compare.strips.push([player, strip]);
    const start = document.getElementById("start");
    if (start) start.textContent = side === "a" ? startNote(player, other) : startNote(other, player);
    box.dataset.state = "shown";
    drawAll();
  });
  return box;
}

function renderButton(id) {
  // one candidate's view: its video on request, when the run rendered none (only each generation's best)
  const note = el("span", { class: "note", id: "render-note" });
  const box = el("div", { id: "render-later" });
  const button = el("button", { type: "button", id: "render-video", text: "Render its video" });
  button.addEventListener("click", () => {
    button.disabled = true;
    requestVideo(id, (status) => {
      if (status.state === "ready") box.replaceChildren(rolloutVideo(status.video));
      else note.textContent = statusText(status);
      if (status.state === "failed") button.disabled = false;
    });
  });
  box.append(el("p", { class: "muted", text: "No rollout video yet (a run renders each generation's best; --videos every renders all)." }),
             button, " ", note);
  return box;
}

function lastAnswer() {
  const box = el("div", { id: "answer" });
  if (compare.last) box.append(compare.last);
  return box;
}

const duration = () => Math.max(1, ...compare.players.map((p) => p.length || 0));

function drawAll() {
  for (const p of compare.players) p.show(compare.t, compare.playing, compare.speed);
  for (const [p, strip] of compare.strips) strip.update(p.frameAt(p.currentMs()));
  const scrub = document.getElementById("scrub");
  if (scrub) scrub.value = String(Math.round(1000 * compare.t / duration()));
}

function clockLeader() {
  // the longest video drives the clock while it plays: the others are put back on it, never it on them
  const videos = compare.players.filter((p) => p.isVideo && p.length).sort((a, b) => b.length - a.length);
  return videos.length && videos[0].length >= duration() - videos[0].frameMs ? videos[0] : null;
}

function togglePlay() {
  compare.playing = !compare.playing;
  const button = document.getElementById("play");
  if (button) button.textContent = compare.playing ? "❚❚ pause (Space)" : "▶ play (Space)";
  const loop = ++compare.loop;
  if (!compare.playing) {
    const leader = clockLeader();
    if (leader) compare.t = Math.min(leader.currentMs(), duration());
    drawAll();  // every video paused on the same time
    return;
  }
  if (compare.t >= duration()) compare.t = 0;
  let previous = performance.now();
  const tick = (now) => {
    if (!compare.playing || loop !== compare.loop) return;
    const leader = clockLeader();
    if (leader && leader.video.ended) compare.t = duration();
    else if (leader) { if (!leader.video.paused && !leader.video.seeking) compare.t = leader.currentMs(); }
    else compare.t += (now - previous) * compare.speed;
    previous = now;
    if (compare.t >= duration()) compare.t = 0;
    drawAll();
    requestAnimationFrame(tick);
  };
  drawAll();
  requestAnimationFrame(tick);
}

async function answer(outcome) {
  const pair = compare.pair;
  if (!pair || compare.busy) return;  // one answer at a time: a key pressed while the next pair loads waits
  compare.busy = true;
  try {
    const reasonBox = document.getElementById("reason");
    const reason = [...TAGS.filter((t) => compare.tags.has(t)).map((t) => `[${t}]`),
                    reasonBox ? reasonBox.value.trim() : ""].filter(Boolean).join(" ");
    compare.tags.clear();
    const r = await post("/api/prefer", { a: pair.a, b: pair.b, outcome, reason: reason || null });
    compare.answers.push([r.id]);
    const said = { a: `${pair.a} better than ${pair.b}`, b: `${pair.b} better than ${pair.a}`, equal: `${pair.a} and ${pair.b} equal`, unsure: `can't tell ${pair.a} from ${pair.b}` }[outcome];
    compare.last = el("p", { class: "revealed" }, `recorded #${r.id}: ${said}. Fitness: ${pair.a} ${fmt(r.fitness[pair.a])}, ${pair.b} ${fmt(r.fitness[pair.b])}. (Z undoes)`);
    await loadPair();
    document.body.dataset.answers = String(compare.answers.length);
  } finally {
    compare.busy = false;
  }
}

async function undo() {
  if (compare.busy) return;
  const ids = compare.answers.pop();
  if (ids === undefined) return;
  const done = [];
  for (const id of ids) if ((await post("/api/undo", { id })).withdrawn) done.push(id);
  compare.last = el("p", { class: "revealed", text: done.length ? `withdrawn: preference #${done.join(", #")}` : "already withdrawn" });
  document.body.dataset.answers = String(compare.answers.length);
  const box = document.getElementById("answer");
  if (box) box.replaceChildren(compare.last);
}

// ---------------------------------------------------------------------------- K tiled: best and worst (ICPL)

const tiled = { shown: [], best: null };

function tilesView() {
  return { name: "tiles", async start() { await loadTiles(); } };
}

async function loadTiles() {
  compare.playing = false;
  compare.t = 0;
  tiled.best = null;
  const shown = await api("/api/tiles?k=6");
  tiled.shown = shown;
  if (shown.length < 2) {
    replace(el("h2", { text: "Best and worst" }), el("p", { text: "Fewer than two candidates with a video yet." }), lastAnswer());
    return;
  }
  const players = await Promise.all(shown.map((c, i) => makePlayer(c.video, "tile-" + (i + 1))));
  replace(
    el("h2", { text: "Which is best, and which is worst?" }),
    el("p", { class: "muted", text: `Keys: 1–${shown.length} the best, then 1–${shown.length} the worst · Esc start over · Space play/pause · Z undo · T reason. Fitness is shown after you answer.` }),
    el("div", { class: "tiles" }, ...shown.map((c, i) => el("div", { class: "panel tile", "data-id": c.id },
      el("h3", {}, `${i + 1}: `, link(c.id)), players[i].element))),
    el("div", { class: "controls" }, el("button", { type: "button", id: "play", text: "▶ play (Space)", on: { click: () => togglePlay() } }), " ",
      el("input", { type: "range", id: "scrub", min: 0, max: 1000, value: 0, "aria-label": "position", on: { input: (e) => { compare.t = e.target.value / 1000 * duration(); drawAll(); } } })),
    el("div", {}, el("input", { type: "text", id: "reason", size: 50, placeholder: "T: why (optional; Enter to go back to the keys)",
      on: { keydown: (e) => { if (e.key === "Enter" || e.key === "Escape") { e.preventDefault(); e.target.blur(); } } } })),
    el("p", { id: "choice", text: "best: ?  worst: ?" }),
    lastAnswer(),
  );
  compare.players = players;
  compare.strips = [];
  await Promise.all(players.map((p) => p.ready.catch((err) => { p.element.replaceWith(el("p", { class: "error", text: err.message })); })));
  drawAll();
  document.body.dataset.tiles = shown.map((c) => c.id).join(" ");
}

async function pickTile(n) {
  const c = tiled.shown[n - 1];
  if (!c || compare.busy) return;
  if (tiled.best === null) {
    tiled.best = c.id;
    document.querySelector(`.tile[data-id="${c.id}"]`).classList.add("best");
    document.getElementById("choice").textContent = `best: ${c.id}  worst: ?`;
    return;
  }
  if (c.id === tiled.best) return;
  compare.busy = true;
  try {
    const reasonBox = document.getElementById("reason");
    const reason = reasonBox ? reasonBox.value.trim() : "";
    const shown = tiled.shown.map((x) => x.id);
    const r = await post("/api/best-worst", { shown, best: tiled.best, worst: c.id, reason: reason || null });
    compare.answers.push(r.ids);
    compare.last = el("p", { class: "revealed" }, `recorded ${r.ids.length} preferences: ${tiled.best} best, ${c.id} worst. Fitness: ` +
      shown.map((id) => `${id} ${fmt(r.fitness[id])}`).join(", ") + ". (Z undoes)");
    await loadTiles();
    document.body.dataset.answers = String(compare.answers.length);
  } finally {
    compare.busy = false;
  }
}

document.addEventListener("keydown", (e) => {
  if (!view || view.name !== "tiles") return;
  const typing = e.target instanceof HTMLInputElement || e.target instanceof HTMLTextAreaElement;
  if (typing || e.ctrlKey || e.metaKey || e.altKey) return;
  let act = null;
  if (/^[1-9]$/.test(e.key)) act = () => pickTile(Number(e.key));
  else if (e.key === "Escape") act = () => { tiled.best = null; document.querySelectorAll(".tile").forEach((t) => t.classList.remove("best")); document.getElementById("choice").textContent = "best: ?  worst: ?"; };
  else act = { " ": () => togglePlay(), z: () => undo(), Z: () => undo(), t: () => document.getElementById("reason").focus(), T: () => document.getElementById("reason").focus() }[e.key];
  if (act) {
    e.preventDefault();
    Promise.resolve(act()).catch((err) => { const box = document.getElementById("answer"); if (box) box.textContent = "error: " + err.message; });
  }
});

document.addEventListener("keydown", (e) => {
  if (!view || view.name !== "compare") return;
  const typing = e.target instanceof HTMLInputElement || e.target instanceof HTMLTextAreaElement || e.target instanceof HTMLSelectElement;
  if (typing || e.ctrlKey || e.metaKey || e.altKey) return;
  const act = { ArrowLeft: () => answer("a"), ArrowRight: () => answer("b"), ArrowDown: () => answer("equal"),
                s: () => answer("unsure"), S: () => answer("unsure"), " ": () => togglePlay(),
                z: () => undo(), Z: () => undo(), t: () => document.getElementById("reason").focus(),
                T: () => document.getElementById("reason").focus() }[e.key];
  if (!act && /^[1-9]$/.test(e.key)) {
    const tag = TAGS[Number(e.key) - 1];
    if (compare.tags.has(tag)) compare.tags.delete(tag); else compare.tags.add(tag);
    const chip = document.querySelector(`#tags [data-tag="${e.key}"]`);
    if (chip) chip.classList.toggle("on", compare.tags.has(tag));
    e.preventDefault();
    return;
  }
  if (act) {
    e.preventDefault();
    Promise.resolve(act()).catch((err) => { const box = document.getElementById("answer"); if (box) box.textContent = "error: " + err.message; });
  }
});

// ---------------------------------------------------------------------------- routing

async function route() {
  const hash = location.hash || "#/";
  try {
    if (hash.startsWith("#/c/")) {
      view = { name: "candidate" };
      await candidateView(decodeURIComponent(hash.slice(4)));
    } else if (hash.startsWith("#/tiles")) {
      view = tilesView();
      if (runState) headline(runState);
      await view.start();
    } else if (hash.startsWith("#/population")) {
      view = populationView();  // population.js
      await view.start();
    } else if (hash.startsWith("#/compare")) {
      view = compareView();
      if (runState) headline(runState);
      await view.start();
    } else {
      view = watchView();
      if (runState) view.render(runState);
    }
  } catch (err) {
    replace(el("p", { class: "error", text: "error: " + err.message }));
  }
  document.body.dataset.view = view ? view.name : "";
  if (runState) headline(runState);
}

window.addEventListener("hashchange", route);
window.addEventListener("DOMContentLoaded", () => { connect(); route(); });
