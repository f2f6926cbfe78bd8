// The population view (#/population): each island (its members, its best by evidence, the last migrant it
// received), the behaviour cells (descriptors -> elite and its score; a row opens the elite), the duplicates
// (not trained) and near-duplicates, and what the offline designer learned (operator statistics).
// Uses app.js's helpers (el, link, fmt, api, replace): every string goes in as text, never as markup; the
// server sends component names and reasons already made printable (output/population.py).
"use strict";

// the page re-reads the population when the store says a generation finished (or the run did), a candidate
// was recorded or scored: the population changes only then
const POPULATION_EVENTS = new Set(["generation_done", "finished", "final_scored", "interrupted", "duplicate", "near_duplicate"]);

function populationKey(s) {
  if (!s) return null;
  const marks = s.events.filter((e) => POPULATION_EVENTS.has(e.kind)).map((e) => e.id);
  const scored = s.candidates.filter((c) => c.status === "scored").length;
  return [marks.length ? Math.max(...marks) : 0, s.candidates.length, scored, s.status].join(" ");
}

function populationView() {
  const self = {
    name: "population", key: null, loads: 0,
    async start() { self.key = populationKey(runState); await self.load(); },
    render(s) {
      const key = populationKey(s);
      if (key === self.key) return;
      self.key = key;
      self.load().catch((err) => replace(el("p", { class: "error", text: "error: " + err.message })));
    },
    async load() {
      const p = await api("/api/population");
      if (view !== self) return;  // the person moved on while it loaded
      replace(...populationBlocks(p));
      document.body.dataset.population = String(++self.loads);
    },
  };
  return self;
}

function candidateRow(id) {
  // a row that opens a candidate on a click; its link is what the keyboard reaches (Tab, Enter)
  return { class: "opens", on: { click: (e) => { if (!(e.target instanceof HTMLAnchorElement)) location.hash = "#/c/" + encodeURIComponent(id); } } };
}

const joined = (ids) => ids.flatMap((id, i) => (i ? [", ", link(id)] : [link(id)]));

function populationBlocks(p) {
  const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;
  const head = el("p", { id: "population-summary" },
    `${plural(p.count, "island")}` + (p.count > 1 ? `, the best of each becoming a parent on the next every ${p.migrate_every} generations` : "") +
    `; ${plural(p.cells.length, "behaviour cell")} (dominant term · speed · height · effort · episode length), the best of each its elite` +
    (p.preference_weight ? `; preferences re-rank within the noise (weight ${p.preference_weight})` : "") + ".");
  const islands = el("table", { id: "islands" },
    el("thead", {}, el("tr", {}, ...["island", "candidates (cell)", "best by evidence", "last migrant received", "parents offered last"].map((h) => el("th", { text: h })))),
    el("tbody", {}, ...p.islands.map((members, k) => {
      const facts = p.island_facts[k] || {};
      const scored = members.filter((m) => m.status === "scored");
      const others = members.length - scored.length;
      return el("tr", { "data-island": k },
        el("td", { class: "num", text: k }),
        el("td", {}, ...scored.flatMap((m, i) => [i ? ", " : null, link(m.id), m.cell ? ` (${m.cell}${m.elite ? ", elite" : ""})` : ""]),
          scored.length ? "" : "-", others ? el("span", { class: "muted", text: ` (+${others} not scored)` }) : null),
        el("td", {}, ...(facts.best ? [link(facts.best.id), " " + facts.best.describe] : ["-"])),
        el("td", {}, ...(facts.last_migrant ? [link(facts.last_migrant.id), ` in generation ${facts.last_migrant.generation}`] : ["-"])),
        el("td", {}, ...joined(p.offered[k] || [])));
    })));
  const names = ["dominant", "speed", "height", "effort", "length"];
  const cells = p.cells.length ? el("table", { id: "cells" },
    el("thead", {}, el("tr", {}, ...["cell", ...names, "elite", "its score", "others"].map((h) => el("th", { text: h })))),
    el("tbody", {}, ...p.cells.map((c) => el("tr", { "data-elite": c.elite, ...candidateRow(c.elite) },
      el("td", { class: "num", text: c.number }),
      ...names.map((n) => el("td", { class: n === "dominant" ? "term" : "", text: c.descriptors[n] })),
      el("td", {}, link(c.elite)),
      el("td", { class: "num", text: c.score ? fmt(c.score.fitness) : "-", title: c.score ? c.score.describe : null }),
      el("td", {}, ...joined(c.others))))))
    : el("p", { class: "muted", text: "No candidate analysed yet, so no behaviour cell." });
  const dups = p.duplicates.length || p.near_duplicates.length ? el("table", { id: "duplicates" },
    el("thead", {}, el("tr", {}, ...["candidate", "", "of", "why", "RL steps"].map((h) => el("th", { text: h })))),
    el("tbody", {},
      ...p.duplicates.map((d) => el("tr", { class: "duplicate", "data-id": d.id }, el("td", {}, link(d.id)), el("td", { text: "duplicate of" }),
        el("td", {}, link(d.of)), el("td", { class: "reason", text: d.reason }), el("td", { class: "num", text: d.timesteps }))),
      ...p.near_duplicates.map((d) => el("tr", { class: "near-duplicate", "data-id": d.id }, el("td", {}, link(d.id)), el("td", { text: "near-duplicate of" }),
        el("td", {}, link(d.of)), el("td", { class: "reason", text: d.reason }), el("td", { text: "trained" })))))
    : el("p", { class: "muted", text: "No duplicate or near-duplicate was proposed." });
  const ops = p.operators.length ? el("table", { id: "operators" },
    el("thead", {}, el("tr", {}, ...["operator", "parent's finding", "tries", "improved", "share"].map((h) => el("th", { text: h })))),
    el("tbody", {}, ...p.operators.map((r) => el("tr", {},
      el("td", { text: r.operator }), el("td", { text: r.finding }), el("td", { class: "num", text: r.tries }),
      el("td", { class: "num", text: r.improved }), el("td", { class: "num", text: r.tries ? Math.round(100 * r.improved / r.tries) + "%" : "-" })))))
    : el("p", { id: "operators", class: "muted", text: p.no_operators + "." });
  return [
    el("h2", { text: "Population" }), head,
    el("section", { id: "population-islands" }, el("h3", { text: "Islands" }), islands),
    el("section", { id: "population-cells" }, el("h3", { text: "Behaviour cells (MAP-Elites)" }), cells),
    el("section", { id: "population-duplicates" }, el("h3", { text: "Duplicates (not trained) and near-duplicates (trained, flagged)" }), dups),
    el("section", { id: "population-operators" }, el("h3", { text: "What the offline designer learned" }),
      p.operators.length ? el("p", { class: "muted", text: "Per mutation operator and the analyzer's finding on the parent: children judged, and those that beat their parent at a like budget (a duplicate is a try that did not)." }) : null,
      ops),
  ];
}
