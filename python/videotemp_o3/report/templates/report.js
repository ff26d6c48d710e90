// The question list: filters, pages and lazily built details. Everything is built with DOM
// calls (textContent, never innerHTML), so text from the model is shown, never run.
// The state lives in the URL fragment (#outcome=wrong&group=...&turns=2&q=uid&page=2&open=uid),
// so a filtered view can be linked to and reloaded. body[data-ready] becomes "1" after the
// first render (body[data-ready-ms]: when, in ms since navigation started) and body[data-shown]
// holds the number of questions that pass the filters.
(function () {
  "use strict";
  const CONFIG = JSON.parse(document.getElementById("config").textContent);
  const INDEX = JSON.parse(document.getElementById("index").textContent);
  const PAGE = CONFIG.page_size;
  const TURN_COLOURS = CONFIG.turn_colours;
  const SVG = "http://www.w3.org/2000/svg";
  const chunks = new Map();
  const list = document.getElementById("list");
  const form = document.getElementById("filters");
  const state = { outcome: "", group: "", turns: "", q: "", page: 1, open: "" };
  let shown = [];

  // Details come in blocks of chunk_size questions: inside the page (<script type=
  // "application/json" id="detail-K">) or, for large runs, in details_dir/K.js beside it, which
  // calls videotempReportDetails(K, data) once loaded.
  const waiting = new Map();
  window.videotempReportDetails = function (k, data) {
    chunks.set(k, data);
    for (const done of waiting.get(k) || []) done();
    waiting.delete(k);
  };
  function withDetail(pos, use, fail) {
    const k = Math.floor(pos / CONFIG.chunk_size);
    const give = () => use(chunks.get(k)[pos % CONFIG.chunk_size]);
    if (chunks.has(k)) return give();
    const inline = document.getElementById("detail-" + k);
    if (inline) { chunks.set(k, JSON.parse(inline.textContent)); return give(); }
    if (waiting.has(k)) { waiting.get(k).push(give); return; }
    waiting.set(k, [give]);
    const script = document.createElement("script");
    script.src = CONFIG.details_dir + k + ".js";
    script.onerror = () => { waiting.delete(k); script.remove(); fail("cannot read " + script.src + " (is the folder beside the page?)"); };
    document.head.append(script);
  }

  function clock(t) {
    if (t === null || t === undefined) return "?";
    const m = Math.floor(t / 60), s = t - 60 * m;
    return m + ":" + (s < 10 ? "0" : "") + s.toFixed(1);
  }
  function span(s) { return "[" + clock(s[0]) + " – " + clock(s[1]) + "]"; }
  function num(x, digits) { return x === null || x === undefined ? "–" : Number(x).toFixed(digits); }
  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  }
  function slot(root, name) { return root.querySelector('[data-slot="' + name + '"]'); }
  function fill(root, name, text) {
    const s = slot(root, name);
    if (text === null || text === undefined || text === "") { s.hidden = true; return s; }
    s.textContent = text;
    return s;
  }

  // ---- filters and the URL fragment ----
  function readHash() {
    const p = new URLSearchParams(location.hash.slice(1));
    for (const key of Object.keys(state)) state[key] = p.get(key) || (key === "page" ? 1 : "");
    state.page = Math.max(1, parseInt(state.page, 10) || 1);
    for (const name of ["outcome", "group", "turns", "q"]) form.elements[name].value = state[name];
  }
  function writeHash() {
    const p = new URLSearchParams();
    for (const [k, v] of Object.entries(state)) if (v && !(k === "page" && v === 1)) p.set(k, v);
    history.replaceState(null, "", "#" + p.toString());
  }
  function passes(e) {
    if (state.outcome && e.o !== state.outcome) return false;
    if (state.group && e.g.indexOf(state.group) < 0) return false;
    if (state.turns && String(e.t) !== state.turns) return false;
    if (state.q && e.u.toLowerCase().indexOf(state.q.toLowerCase()) < 0) return false;
    return true;
  }
  function apply() {
    shown = [];
    for (let k = 0; k < INDEX.length; k++) if (passes(INDEX[k])) shown.push(k);
    if (state.open) {
      const at = shown.findIndex((k) => INDEX[k].u === state.open);
      if (at >= 0) state.page = Math.floor(at / PAGE) + 1;
    }
    render();
  }

  // ---- the list ----
  function render() {
    const pages = Math.max(1, Math.ceil(shown.length / PAGE));
    state.page = Math.min(state.page, pages);
    const rows = [];
    for (const k of shown.slice((state.page - 1) * PAGE, state.page * PAGE)) rows.push(row(k));
    list.replaceChildren(...rows);
    document.getElementById("count").textContent = shown.length + " of " + INDEX.length + " questions";
    const pager = document.getElementById("pager");
    pager.querySelector(".where").textContent = "page " + state.page + " of " + pages;
    pager.querySelector('[data-step="-1"]').disabled = state.page <= 1;
    pager.querySelector('[data-step="1"]').disabled = state.page >= pages;
    document.body.dataset.shown = String(shown.length);
    writeHash();
    if (state.open) {
      const li = list.querySelector('li[data-pos="' + INDEX.findIndex((e) => e.u === state.open) + '"]');
      if (li && !li.classList.contains("open")) { toggle(li); li.scrollIntoView(); }
    }
  }

  function row(k) {
    const e = INDEX[k];
    const li = document.getElementById("row-tpl").content.firstElementChild.cloneNode(true);
    li.dataset.pos = String(k);
    li.dataset.uid = e.u;
    li.dataset.outcome = e.o;
    li.dataset.turns = String(e.t);
    const badge = fill(li, "outcome", e.o);
    badge.classList.add(e.o);
    fill(li, "uid", e.u).title = e.u;
    fill(li, "group", e.g.join(", "));
    fill(li, "turns", e.t + (e.t === 1 ? " turn" : " turns"));
    fill(li, "calls", e.c + (e.c === 1 ? " call" : " calls"));
    const iou = [];
    if (e.i !== null) iou.push("IoU " + num(e.i, 2));
    if (e.l !== null) iou.push("last call " + num(e.l, 2));
    fill(li, "iou", iou.join(" · ") || "–");
    fill(li, "prediction", e.p === null ? "(no prediction)" : "→ " + e.p);
    li.querySelector("button.head").addEventListener("click", () => toggle(li));
    return li;
  }

  function toggle(li) {
    const head = li.querySelector("button.head");
    const open = li.querySelector(".detail");
    if (open) {
      open.remove();
      li.classList.remove("open");
      head.setAttribute("aria-expanded", "false");
      if (state.open === li.dataset.uid) { state.open = ""; writeHash(); }
      return;
    }
    li.classList.add("open");
    head.setAttribute("aria-expanded", "true");
    state.open = li.dataset.uid;
    writeHash();
    const placeholder = el("div", "detail loading", "loading…");
    li.append(placeholder);
    withDetail(parseInt(li.dataset.pos, 10),
      (q) => { if (placeholder.isConnected) placeholder.replaceWith(detail(q)); },
      (why) => { placeholder.textContent = why; placeholder.classList.add("run-error"); });
  }

  // ---- one question ----
  function detail(q) {
    const d = document.getElementById("detail-tpl").content.firstElementChild.cloneNode(true);
    fill(d, "question", q.question);
    const options = slot(d, "options");
    if (q.options.length) {
      q.options.forEach((text, i) => {
        const letter = String.fromCharCode(65 + i);
        const li = el("li", "", text.replace(/^\s*\(?[A-Z][.)]\s?/, ""));
        if (letter === q.gold) li.classList.add("gold");
        if (letter === q.prediction) li.classList.add("picked");
        options.append(li);
      });
    } else options.hidden = true;
    fill(d, "truth", q.kind === "grounding" || q.truth.length
      ? (q.truth.map(span).join(", ") || "–") + (q.gold ? " · answer " + q.gold : "")
      : "answer " + q.gold);
    let pred = q.prediction === null ? "(none)" : Array.isArray(q.prediction) ? span(q.prediction) : String(q.prediction);
    fill(d, "prediction", pred + " — " + q.outcome);
    const ious = [];
    if (q.iou !== null) ious.push("answer " + num(q.iou, 3));
    if (q.last_call_iou !== null) ious.push("last call " + num(q.last_call_iou, 3));
    if (q.refinement) ious.push("refinement " + q.refinement + " the IoU");
    fill(d, "ious", ious.join(" · ") || "–");
    fill(d, "video", q.video + (q.duration ? " (" + clock(q.duration) + ")" : ""));
    const cost = [];
    if (q.seconds !== null) cost.push(num(q.seconds, 2) + " s");
    if (q.tokens.some((t) => t)) cost.push(q.tokens[0] + " prompt tokens (" + q.tokens[1] + " visual), " + q.tokens[2] + " generated");
    fill(d, "cost", cost.join(" · "));
    const notes = [];
    if (q.thumbs_note) notes.push(q.thumbs_note);
    if (!q.trajectory) notes.push("no trajectory file: only the requested segments are known");
    fill(d, "note", notes.join(" — "));
    slot(d, "timeline").append(timeline(q));

    const ov = q.thumbs ? q.thumbs.overview : [];
    if (ov.length) {
      const strip = slot(d, "overview");
      const spans = [];
      q.turn_list.forEach((t) => t.clips.forEach((c) => { if (c.seg) spans.push(c.seg); }));
      const around = spans.length ? spans : q.truth;
      for (const f of ov) {
        const fig = thumb(q.thumbs.dir, f);
        if (around.some((s) => f.t >= s[0] && f.t <= s[1])) fig.classList.add("in");
        strip.append(fig);
      }
      fill(d, "overview-info", (q.overview ? "(the overview had " + q.overview.frames + " frames; " : "(") +
        (spans.length ? "outlined: inside a requested span)" : "no call: around the truth)"));
    } else slot(d, "overview-wrap").hidden = true;

    const turns = slot(d, "turns");
    q.turn_list.forEach((t, i) => turns.append(turn(q, t, i)));
    fill(d, "error", q.error ? "run error: " + q.error : null);
    if (q.raw) slot(d, "raw").textContent = q.raw; else slot(d, "raw-wrap").hidden = true;
    return d;
  }

  function thumb(dir, f) {
    const fig = el("figure");
    const img = el("img");
    img.loading = "lazy";
    img.alt = "frame " + f.i + " at " + clock(f.t);
    img.src = dir + f.i + ".webp";
    fig.append(img, el("figcaption", "", clock(f.t)));
    return fig;
  }

  function turn(q, t, i) {
    const div = document.getElementById("turn-tpl").content.firstElementChild.cloneNode(true);
    const colour = TURN_COLOURS[i % TURN_COLOURS.length];
    div.style.borderLeftColor = colour;
    slot(div, "swatch").style.background = colour;
    const action = t.rejected ? "rejected tool call" : t.clips.length ? "tool call"
      : t.answer !== null && t.answer !== undefined ? "answer" : "no action (neither an answer nor a tool call)";
    fill(div, "head", "Turn " + t.n + ": " + action);
    const cost = [];
    if (t.tok && t.tok.length && t.tok[0] !== null) cost.push(t.tok[0] + " prompt (" + t.tok[1] + " visual) · " + t.tok[2] + " generated tokens");
    if (t.sec && t.sec.length) {
      const s = ["generate " + num(t.sec[0], 2) + " s"];
      if (t.sec[1]) s.push("video " + num(t.sec[1], 2) + " s");
      if (t.sec[2] !== null) s.push("prefill " + num(t.sec[2], 2) + " s");
      if (t.sec[3] !== null) s.push("decode " + num(t.sec[3], 2) + " s");
      cost.push(s.join(", "));
    }
    fill(div, "cost", cost.join(" · "));
    fill(div, "think", t.think);
    fill(div, "call", t.call);
    fill(div, "rejected", t.rejected ? "rejected (" + t.rejected.problem + "): " + (t.rejected.detail || "") : null);
    const clips = slot(div, "clips");
    for (const c of t.clips) {
      const box = document.getElementById("clip-tpl").content.firstElementChild.cloneNode(true);
      const asked = c.req && c.seg && (Math.abs(c.req[0] - c.seg[0]) > 0.05 || Math.abs(c.req[1] - c.seg[1]) > 0.05);
      const info = ["clip " + (c.seg ? span(c.seg) : "?") + (asked ? " (asked " + span(c.req) + ")" : "")];
      if (c.iou !== null && c.iou !== undefined) info.push("IoU " + num(c.iou, 3));
      if (c.frames) info.push(c.frames + " frames at " + num(c.fps, 2) + " fps, " + clock(c.first) + " – " + clock(c.last));
      if (c.reused) info.push(c.reused + " reused from earlier decodes");
      fill(box, "info", info.join(" · "));
      const strip = slot(box, "frames");
      if (c.thumbs && c.thumbs.length) for (const f of c.thumbs) strip.append(thumb(q.thumbs.dir, f));
      else strip.hidden = true;
      clips.append(box);
    }
    if (!t.clips.length) clips.hidden = true;
    const obs = t.observation && (t.rejected || !t.clips.length) && t.answer == null ? t.observation : null;
    if (obs) slot(div, "observation").textContent = obs; else slot(div, "observation-wrap").hidden = true;
    fill(div, "text", t.text);
    fill(div, "answer", t.answer !== null && t.answer !== undefined ? "answer: " + t.answer : null);
    fill(div, "issues", t.issues && t.issues.length ? "format: " + t.issues.join("; ") : null);
    return div;
  }

  // ---- the timeline: truth, one lane per turn, the answer span ----
  function timeline(q) {
    const W = 1000, LEFT = 70, RIGHT = 24, LANE = 20, AXIS = 20;
    const lanes = [{ label: "truth", spans: q.truth.map((s) => ({ s: s, fill: "var(--truth)" })) }];
    q.turn_list.forEach((t, i) => {
      const colour = TURN_COLOURS[i % TURN_COLOURS.length];
      const spans = t.clips.filter((c) => c.seg).map((c) => ({ s: c.seg, fill: colour, iou: c.iou }));
      for (const a of t.asked || []) spans.push({ s: a, fill: "none", stroke: colour, dashed: true, label: "rejected" });
      lanes.push({ label: "turn " + t.n, spans: spans });
    });
    if (q.answer_span) lanes.push({ label: "answer", spans: [{ s: q.answer_span, fill: "var(--answer)", iou: q.iou }] });
    let end = q.duration || 0;
    for (const l of lanes) for (const x of l.spans) end = Math.max(end, x.s[1]);
    end = end || 1;
    const H = AXIS + LANE * lanes.length + 4;
    const svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("viewBox", "0 0 " + W + " " + H);
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", "timeline of the video, 0 to " + clock(end));
    const x = (t) => LEFT + (W - LEFT - RIGHT) * Math.min(Math.max(t, 0), end) / end;
    function add(tag, attrs, text) {
      const n = document.createElementNS(SVG, tag);
      for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, String(v));
      if (text !== undefined) n.textContent = text;
      svg.append(n);
      return n;
    }
    const step = niceStep(end);
    const ticks = [];
    for (let t = 0; t <= end - step / 3; t += step) ticks.push(t);
    ticks.push(end);  // the end of the video, labelled too
    for (const t of ticks) {
      add("line", { x1: x(t), x2: x(t), y1: AXIS - 4, y2: H, stroke: "#e4e4e4" });
      add("text", { x: x(t), y: AXIS - 7, "text-anchor": t === end ? "end" : "middle", fill: "#888" },
          clock(t).replace(/\.0$/, ""));
    }
    lanes.forEach((lane, i) => {
      const y = AXIS + i * LANE;
      add("text", { x: 4, y: y + 14, fill: "#555" }, lane.label);
      add("line", { x1: LEFT, x2: W - RIGHT, y1: y + LANE / 2, y2: y + LANE / 2, stroke: "#eee" });
      for (const sp of lane.spans) {
        const x0 = x(sp.s[0]), w = Math.max(2, x(sp.s[1]) - x0);
        const r = add("rect", { x: x0, y: y + 3, width: w, height: LANE - 6, rx: 2, fill: sp.fill, class: "span" });
        if (sp.stroke) { r.setAttribute("stroke", sp.stroke); r.setAttribute("stroke-dasharray", "4 3"); }
        const title = document.createElementNS(SVG, "title");
        title.textContent = lane.label + " " + span(sp.s) + (sp.iou !== undefined && sp.iou !== null ? " IoU " + num(sp.iou, 3) : "");
        r.append(title);
        const label = sp.label || (sp.iou !== undefined && sp.iou !== null ? "IoU " + num(sp.iou, 2) : "");
        if (label) {
          const inside = w > 56;
          add("text", { x: inside ? x0 + w / 2 : x0 + w + 3, y: y + 14, "text-anchor": inside ? "middle" : "start",
                        fill: inside && !sp.dashed ? "#fff" : "#333", class: "iou" }, label);
        }
      }
    });
    return svg;
  }
  function niceStep(end) {
    const raw = end / 8;
    for (const s of [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200]) if (s >= raw) return s;
    return Math.ceil(raw / 3600) * 3600;
  }

  // ---- wiring ----
  form.addEventListener("input", (ev) => {
    const name = ev.target.name;
    if (!name) return;
    state[name] = ev.target.value;
    state.page = 1;
    state.open = "";
    apply();
  });
  form.addEventListener("submit", (ev) => ev.preventDefault());
  document.querySelectorAll("#pager button").forEach((b) => b.addEventListener("click", () => {
    state.page += parseInt(b.dataset.step, 10);
    state.open = "";
    render();
    window.scrollTo(0, document.getElementById("questions").offsetTop);
  }));
  window.addEventListener("hashchange", () => {
    const before = location.hash;
    readHash();
    if (before === location.hash) apply();
  });
  readHash();
  apply();
  document.body.dataset.readyMs = String(Math.round(performance.now()));
  document.body.dataset.ready = "1";
})();
