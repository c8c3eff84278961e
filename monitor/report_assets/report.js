// tonewatch call report: the moments to review, a severity strip over the whole call with
// a zoom window (brush), the timeline of the window (SVG), filters, the alert list, the
// summary and the transcript, all drawn from the JSON in #call-data and tied to the player.
// No libraries and no network: everything the page needs is in the page.
"use strict";
(function () {
  const began = performance.now();
  const D = JSON.parse(document.getElementById("call-data").textContent);
  const audio = document.getElementById("player");
  const SVGNS = "http://www.w3.org/2000/svg";
  const SPEAKERS = ["agent", "customer"];
  const SEVS = ["info", "warning", "critical"];
  const LEVEL_H = 96, PITCH_H = 54, SPEECH_H = 10, GAP = 14, AXIS_H = 22, OVER_H = 10;
  const LEVEL_MIN = -60, LEVEL_MAX = -6, STRIP_H = 34, MIN_SPAN = 10;
  const rate = D.tracks.rate_hz || 10;
  const duration = Math.max(D.duration_s || 0, (D.tracks.n || 0) / rate, 1);
  const view = { t0: 0, t1: duration };
  const shown = { kind: new Set(), severity: new Set(SEVS) };
  let W = 1160, LEFT = 92, RIGHT = 16, narrow = false;

  function el(name, attrs, parent) {
    const node = document.createElementNS(SVGNS, name);
    for (const k in attrs) node.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(node);
    return node;
  }
  function h(tag, props, parent) {
    const node = document.createElement(tag);
    for (const k in props || {}) {
      if (k === "text") node.textContent = props[k];
      else if (k === "cls") node.className = props[k];
      else node.setAttribute(k, props[k]);
    }
    if (parent) parent.appendChild(node);
    return node;
  }
  function clock(t) {
    const m = Math.floor(t / 60), s = t - 60 * m;
    return String(m).padStart(2, "0") + ":" + s.toFixed(1).padStart(4, "0");
  }
  const short = (t) => clock(t).replace(/\.\d$/, "");
  function secs(v) { return v === null || v === undefined ? "n/a" : Number(v).toFixed(1) + " s"; }
  const label = (kind) => kind.replace(/_/g, " ");
  const kindOf = (a) => (a.kind === "phrase" && a.cue ? "phrase: " + label(a.cue) : label(a.kind));
  const sevOf = (a) => (a.good ? "good" : a.severity);
  const visible = (a) => shown.kind.has(kindOf(a)) && (a.good ? shown.severity.has("good") : shown.severity.has(a.severity));

  // ---- header -------------------------------------------------------------------------
  const meta = [];
  if (D.started_at) meta.push(D.started_at.replace("T", " "));
  meta.push("call " + D.call);
  if (D.agent) meta.push("agent " + D.agent);
  meta.push(clock(D.duration_s) + " long");
  if (D.source) meta.push("source " + (Array.isArray(D.source) ? D.source.join(" + ") : D.source));
  document.getElementById("meta").textContent = meta.join(" · ");
  document.getElementById("logname").textContent = D.log;
  const warnBox = document.getElementById("warnings");
  for (const w of D.warnings) h("div", { cls: "warning-banner", text: "⚠ " + w }, warnBox);

  // ---- seeking and the playback cursor --------------------------------------------------
  const nowBox = document.getElementById("now");
  function seek(t) {
    if (!audio) return;
    audio.currentTime = Math.max(0, t);
    moveCursor(audio.currentTime);
  }

  // ---- filters ------------------------------------------------------------------------
  const kinds = [];
  for (const a of D.alerts) if (!kinds.includes(kindOf(a))) kinds.push(kindOf(a));
  kinds.forEach((k) => shown.kind.add(k));
  if (D.alerts.some((a) => a.good)) shown.severity.add("good");
  const filters = document.getElementById("filters");
  function chip(group, value, text, count) {
    const lab = h("label", {}, filters);
    const box = h("input", { type: "checkbox", ["data-" + group]: value }, lab);
    box.checked = true;
    lab.appendChild(document.createTextNode(text + " (" + count + ")"));
    box.addEventListener("change", () => {
      if (box.checked) shown[group].add(value); else shown[group].delete(value);
      lab.classList.toggle("off", !box.checked);
      drawTimeline();
      filterTable();
      drawOverview();
    });
  }
  if (D.alerts.length) {
    for (const s of [...SEVS].reverse()) {
      const n = D.alerts.filter((a) => !a.good && a.severity === s).length;
      if (n) chip("severity", s, s, n);
    }
    const good = D.alerts.filter((a) => a.good).length;
    if (good) chip("severity", "good", "good signs", good);
    h("span", { cls: "sep" }, filters);
    for (const k of kinds) chip("kind", k, k, D.alerts.filter((a) => kindOf(a) === k).length);
  }

  // ---- the whole call: severity strip and zoom window ---------------------------------
  const overviewBox = document.getElementById("overview");
  const timelineBox = document.getElementById("timeline");
  let overview = null, brush = null, shadeL = null, shadeR = null;
  const ox = (t) => LEFT + (Math.max(0, Math.min(t, duration)) / duration) * (W - LEFT - RIGHT);
  const tOfOx = (px) => ((px - LEFT) / (W - LEFT - RIGHT)) * duration;

  function drawOverview() {
    overviewBox.textContent = "";
    overview = el("svg", { viewBox: `0 0 ${W} ${STRIP_H}`, id: "strip", "aria-label": "severity over the whole call" }, overviewBox);
    el("text", { class: "strip-label", x: narrow ? 2 : LEFT - 6, y: narrow ? 9 : 14, "text-anchor": narrow ? "start" : "end" }, overview).textContent =
      narrow ? "" : "whole call";
    const both = D.tracks.agent.speech.map((v, i) => v && D.tracks.customer.speech[i]);
    const talk = D.tracks.agent.speech.map((v, i) => v || D.tracks.customer.speech[i]);
    for (const [a, b] of mergeRuns(runs(talk), ox, 1)) {
      el("rect", { class: "speech", x: ox(a / rate), y: STRIP_H - 9, width: Math.max(0.8, ox(b / rate) - ox(a / rate)), height: 3, opacity: 0.5 }, overview);
    }
    for (const [a, b] of mergeRuns(runs(both), ox, 1)) {
      el("rect", { class: "overlap", x: ox(a / rate), y: STRIP_H - 6, width: Math.max(0.8, ox(b / rate) - ox(a / rate)), height: 3 }, overview);
    }
    // worst on top: info, then warnings, then critical
    for (const s of ["good", ...SEVS]) {
      for (const a of D.alerts) {
        if (sevOf(a) !== s || !visible(a)) continue;
        // an episode from its start to when it became certain; a phrase is a tick
        const wide = a.kind === "phrase" ? 3 : Math.max(3, ox(a.end) - ox(a.start) + 2);
        el("rect", { class: "sev-strip " + (a.good ? "good" : "sev-" + s), x: ox(a.start) - 1,
          y: a.good ? 14 : 4, width: wide, height: a.good ? STRIP_H - 25 : STRIP_H - 15, rx: 1,
          "data-start": a.start }, overview);
      }
    }
    shadeL = el("rect", { class: "shade", y: 0, height: STRIP_H }, overview);
    shadeR = el("rect", { class: "shade", y: 0, height: STRIP_H }, overview);
    brush = el("rect", { class: "brush", id: "brush", y: 1, height: STRIP_H - 2, rx: 3 }, overview);
    placeBrush();
  }
  function placeBrush() {
    const a = ox(view.t0), b = ox(view.t1);
    brush.setAttribute("x", a); brush.setAttribute("width", Math.max(2, b - a));
    shadeL.setAttribute("x", LEFT); shadeL.setAttribute("width", Math.max(0, a - LEFT));
    shadeR.setAttribute("x", b); shadeR.setAttribute("width", Math.max(0, W - RIGHT - b));
    brush.style.display = view.t0 <= 0 && view.t1 >= duration ? "none" : "";
    document.getElementById("window").textContent = view.t0 <= 0 && view.t1 >= duration
      ? "the whole call (" + short(duration) + "); drag on the strip or the timeline, or +, to zoom"
      : "showing " + short(view.t0) + " – " + short(view.t1) + " of " + short(duration);
  }
  function svgX(svg, e) {
    const p = svg.createSVGPoint();
    p.x = e.clientX; p.y = e.clientY;
    return p.matrixTransform(svg.getScreenCTM().inverse()).x;
  }
  function setView(t0, t1) {
    let span = Math.max(MIN_SPAN, Math.min(duration, t1 - t0));
    t0 = Math.max(0, Math.min(t0, duration - span));
    view.t0 = t0; view.t1 = Math.min(duration, t0 + span);
    placeBrush();
    drawTimeline();
  }
  function zoom(factor, around) {
    const c = around === undefined ? (view.t0 + view.t1) / 2 : around;
    const span = (view.t1 - view.t0) * factor;
    const f = (c - view.t0) / (view.t1 - view.t0);
    setView(c - f * span, c - f * span + span);
  }
  function show(t0, t1) {
    // keep [t0, t1] in the window, zooming in on a long call so a moment is readable
    const span = Math.min(duration, Math.max(60, (t1 - t0) * 3));
    if (t0 >= view.t0 && t1 <= view.t1 && view.t1 - view.t0 <= Math.max(span * 2, 300)) return;
    const c = (t0 + t1) / 2;
    setView(c - span / 2, c + span / 2);
  }
  overviewBox.addEventListener("pointerdown", (e) => {
    if (!overview) return;
    const x0 = svgX(overview, e), t = tOfOx(x0);
    const inside = brush.style.display !== "none" && t >= view.t0 && t <= view.t1;
    const start = { t0: view.t0, t1: view.t1 };
    overviewBox.setPointerCapture(e.pointerId);
    const move = (ev) => {
      const x = svgX(overview, ev);
      if (inside) {
        const dt = tOfOx(x) - t;
        setView(start.t0 + dt, start.t1 + dt);
      } else if (Math.abs(x - x0) > 3) {
        const a = tOfOx(Math.min(x, x0)), b = tOfOx(Math.max(x, x0));
        setView(a, b);
      }
    };
    const up = (ev) => {
      overviewBox.removeEventListener("pointermove", move);
      overviewBox.removeEventListener("pointerup", up);
      const x = svgX(overview, ev);
      if (!inside && Math.abs(x - x0) <= 3) {
        // a click on the strip: look around that moment
        const span = Math.min(duration, Math.max(MIN_SPAN, (view.t1 - view.t0) < duration ? view.t1 - view.t0 : duration / 6));
        setView(t - span / 2, t + span / 2);
      }
    };
    overviewBox.addEventListener("pointermove", move);
    overviewBox.addEventListener("pointerup", up);
  });
  document.getElementById("zoom-in").addEventListener("click", () => zoom(0.5));
  document.getElementById("zoom-out").addEventListener("click", () => zoom(2));
  document.getElementById("zoom-all").addEventListener("click", () => setView(0, duration));

  // ---- timeline of the window ---------------------------------------------------------
  function runs(flags) {
    const out = [];
    let start = -1;
    for (let i = 0; i <= flags.length; i++) {
      const on = i < flags.length && flags[i];
      if (on && start < 0) start = i;
      if (!on && start >= 0) { out.push([start, i]); start = -1; }
    }
    return out;
  }
  function mergeRuns(rs, xOf, px) {
    // runs closer than `px` pixels are drawn as one (a 60-minute call stays a few hundred rects)
    const out = [];
    for (const r of rs) {
      const last = out[out.length - 1];
      if (last && xOf(r[0] / rate) - xOf(last[1] / rate) < px) last[1] = r[1];
      else out.push([r[0], r[1]]);
    }
    return out;
  }
  const pitchRange = {};
  for (const sp of SPEAKERS) {
    let lo = Infinity, hi = -Infinity;
    for (const v of D.tracks[sp].pitch_st) if (v !== null) { if (v < lo) lo = v; if (v > hi) hi = v; }
    for (const b of D.tracks[sp].baseline) if (b[2] !== null) { lo = Math.min(lo, b[2]); hi = Math.max(hi, b[2]); }
    if (!isFinite(lo)) { lo = -5; hi = 20; }
    pitchRange[sp] = [Math.floor(lo - 1), Math.ceil(hi + 1)];
  }
  const markers = el("g", { id: "markers" });
  let svg = null, cursor = null, lanes = {}, axisY = 0;
  const tooltip = document.getElementById("tooltip");
  const details = document.getElementById("details");
  let selectedIndex = -1;

  function drawTimeline() {
    const x = (t) => LEFT + ((Math.max(view.t0, Math.min(t, view.t1)) - view.t0) / (view.t1 - view.t0)) * (W - LEFT - RIGHT);
    lanes = {};
    let y = 8;
    for (const sp of SPEAKERS) {
      lanes[sp] = { level: y, pitch: y + LEVEL_H + 4, speech: y + LEVEL_H + 4 + PITCH_H + 4 };
      y = lanes[sp].speech + SPEECH_H + GAP;
    }
    const overY = y;
    axisY = overY + OVER_H + 6;
    const H = axisY + AXIS_H;
    timelineBox.textContent = "";
    svg = el("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "call timeline",
      "data-t0": view.t0, "data-t1": view.t1, "data-left": LEFT, "data-right": RIGHT, "data-width": W }, timelineBox);
    const levelY = (sp, db) => {
      const v = Math.max(LEVEL_MIN, Math.min(LEVEL_MAX, db));
      return lanes[sp].level + LEVEL_H * (1 - (v - LEVEL_MIN) / (LEVEL_MAX - LEVEL_MIN));
    };
    const pitchY = (sp, st) => {
      const [lo, hi] = pitchRange[sp];
      return lanes[sp].pitch + PITCH_H * (1 - (st - lo) / Math.max(hi - lo, 1));
    };
    // time grid and axis
    const span = view.t1 - view.t0;
    const steps = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600];
    const most = narrow ? 5 : 12;
    const step = steps.find((s) => span / s <= most) || 7200;
    const grid = el("g", {}, svg);
    for (let t = Math.ceil(view.t0 / step) * step; t <= view.t1 + 1e-6; t += step) {
      el("line", { class: "grid", x1: x(t), x2: x(t), y1: 4, y2: axisY }, grid);
      const tx = el("text", { x: x(t), y: axisY + 15, "text-anchor": "middle" }, grid);
      tx.textContent = clock(t).replace(/\.0$/, "");
    }
    el("line", { class: "axis", x1: LEFT, x2: W - RIGHT, y1: axisY, y2: axisY }, grid);

    const i0 = Math.max(0, Math.floor(view.t0 * rate)), i1 = Math.min(D.tracks.n, Math.ceil(view.t1 * rate) + 1);
    const perPx = (i1 - i0) / (W - LEFT - RIGHT);
    function pathOf(values, yOf, keep) {
      // at most two points per pixel column (its lowest and highest value): a 60-minute call
      // draws as fast as a 4-minute one
      let d = "", pen = false;
      if (perPx <= 2) {
        for (let i = i0; i < i1; i++) {
          const v = values[i];
          if (v === null || !keep(v)) { pen = false; continue; }
          d += (pen ? "L" : "M") + x((i + 0.5) / rate).toFixed(1) + " " + yOf(v).toFixed(1);
          pen = true;
        }
        return d;
      }
      const cols = W - LEFT - RIGHT;
      for (let c = 0; c < cols; c++) {
        const a = i0 + Math.floor(c * perPx), b = Math.min(i1, i0 + Math.floor((c + 1) * perPx));
        let lo = Infinity, hi = -Infinity;
        for (let i = a; i < b; i++) {
          const v = values[i];
          if (v === null || !keep(v)) continue;
          if (v < lo) lo = v; if (v > hi) hi = v;
        }
        if (lo === Infinity) { pen = false; continue; }
        const px = (LEFT + c + 0.5).toFixed(1);
        d += (pen ? "L" : "M") + px + " " + yOf(hi).toFixed(1) + "L" + px + " " + yOf(lo).toFixed(1);
        pen = true;
      }
      return d;
    }
    for (const sp of SPEAKERS) {
      const T = D.tracks[sp], L = lanes[sp];
      const g = el("g", { class: "lane", "data-speaker": sp }, svg);
      const name = el("text", { class: "lane-name", x: narrow ? LEFT + 4 : 8, y: L.level + 14 }, g);
      name.textContent = sp === "agent" ? "Agent" : "Customer";
      for (const [dbv, txt] of [[-20, narrow ? "-20" : "-20 dB"], [-40, "-40"]]) {
        el("text", { x: LEFT - 4, y: levelY(sp, dbv) + 4, "text-anchor": "end" }, g).textContent = txt;
      }
      el("text", { x: LEFT - 4, y: L.pitch + PITCH_H / 2 + 4, "text-anchor": "end" }, g).textContent = narrow ? "st" : "pitch";
      el("text", { x: LEFT - 4, y: L.speech + 9, "text-anchor": "end" }, g).textContent = narrow ? "" : "speech";
      el("rect", { class: "axis", x: LEFT, y: L.level, width: W - LEFT - RIGHT, height: LEVEL_H, fill: "none" }, g);
      // the usual level up to the raised threshold, as the baseline evolves
      let prev = 0;
      for (const [tEnd, lvl, pst] of T.baseline) {
        if (tEnd >= view.t0 && prev <= view.t1) {
          if (lvl !== null) {
            const top = levelY(sp, lvl + D.raised_level_db), base = levelY(sp, lvl);
            el("rect", { class: "band", x: x(prev), y: top, width: Math.max(0, x(tEnd) - x(prev)), height: Math.max(1, base - top) }, g);
            el("line", { class: "base", x1: x(prev), x2: x(tEnd), y1: base, y2: base }, g);
            el("line", { class: "raised-line", x1: x(prev), x2: x(tEnd), y1: top, y2: top }, g);
          }
          if (pst !== null) {
            const py = pitchY(sp, pst);
            el("line", { class: "pitch-base", x1: x(prev), x2: x(tEnd), y1: py, y2: py }, g);
          }
        }
        prev = tEnd;
      }
      el("path", { class: "level", d: pathOf(T.level_db, (v) => levelY(sp, v), (v) => v > LEVEL_MIN) }, g);
      el("path", { class: "pitch", d: pathOf(T.pitch_st, (v) => pitchY(sp, v), () => true) }, g);
      for (const [a, b] of mergeRuns(runs(T.speech.slice(i0, i1)).map(([a, b]) => [a + i0, b + i0]), x, 1)) {
        el("rect", { class: "speech", x: x(a / rate), y: L.speech, width: Math.max(0.8, x(b / rate) - x(a / rate)), height: SPEECH_H, rx: 2 }, g);
      }
    }
    const both = [];
    for (let i = i0; i < i1; i++) both.push(D.tracks.agent.speech[i] && D.tracks.customer.speech[i]);
    el("text", { x: LEFT - 4, y: overY + 9, "text-anchor": "end" }, svg).textContent = "both";
    for (const [a, b] of mergeRuns(runs(both).map(([a, b]) => [a + i0, b + i0]), x, 1)) {
      el("rect", { class: "overlap", x: x(a / rate), y: overY, width: Math.max(0.8, x(b / rate) - x(a / rate)), height: OVER_H, rx: 2 }, svg);
    }
    drawMarkers(x);
    svg.appendChild(markers);
    cursor = el("line", { id: "cursor", x1: LEFT, x2: LEFT, y1: 2, y2: axisY, visibility: audio ? "visible" : "hidden" }, svg);
    svg.xOf = x;
    if (audio) moveCursor(audio.currentTime);
  }

  function transcriptFor(a) {
    if (a.text) return [{ speaker: a.speaker, start: a.start, text: a.text }];
    return D.transcripts.filter((t) => t.speaker === a.speaker && t.end >= a.start - 1 && t.start <= a.end + 1);
  }
  function drawMarkers(x) {
    markers.textContent = "";
    const placed = {};
    D.alerts.forEach((a, i) => {
      if (!visible(a) || a.end < view.t0 || a.start > view.t1) return;
      const sp = SPEAKERS.includes(a.speaker) ? a.speaker : "customer";
      const L = lanes[sp];
      const cls = a.good ? "good" : "sev-" + a.severity;
      if (a.kind !== "phrase") {
        // the episode, from its start to when the alert became certain
        el("rect", { class: "span " + cls, x: x(a.start), y: L.level, width: Math.max(2, x(a.end) - x(a.start)), height: LEVEL_H }, markers);
      }
      // markers that would touch on the same band stack downwards instead of hiding
      const cx = x(a.start);
      placed[sp] = placed[sp] || [];
      const below = placed[sp].filter((px) => Math.abs(px - cx) < 14).length;
      placed[sp].push(cx);
      const cy = L.level + 9 + 15 * (below % 6);
      const m = el("path", {
        class: "marker " + cls + (a.good ? " sev-" + a.severity : ""),
        d: `M${cx} ${cy + 8}L${cx - 7} ${cy - 5}L${cx + 7} ${cy - 5}Z`,
        "data-index": i, "data-start": a.start, "data-kind": a.kind, "data-severity": a.severity,
        tabindex: 0, role: "button", "aria-label": clock(a.start) + " " + a.words,
      }, markers);
      if (i === selectedIndex) m.classList.add("selected");
      m.addEventListener("mouseenter", (e) => {
        tooltip.hidden = false;
        const ev = Object.values(a.evidence_words || {}).join("; ");
        const said = transcriptFor(a).map((t) => "“" + t.text + "”").join(" ");
        tooltip.textContent = [clock(a.start) + " " + a.severity + ": " + a.message, "Tip: " + a.tip,
          ev, said.length > 240 ? said.slice(0, 240) + "…" : said].filter(Boolean).join("\n");
        const box = timelineBox.getBoundingClientRect();
        tooltip.style.left = Math.max(0, Math.min(e.clientX - box.left + 12, box.width - 390)) + "px";
        tooltip.style.top = e.clientY - box.top + timelineBox.offsetTop + 12 + "px";
      });
      m.addEventListener("mouseleave", () => { tooltip.hidden = true; });
      m.addEventListener("click", (e) => { e.stopPropagation(); selectAlert(i); });
      m.addEventListener("pointerdown", (e) => e.stopPropagation());
      m.addEventListener("keydown", (e) => { if (e.key === "Enter") selectAlert(i); });
    });
  }

  // drag pans the window; a click (no drag) seeks there; ctrl + wheel zooms. The handlers
  // sit on the box, as the drawing inside is redrawn while dragging.
  timelineBox.addEventListener("pointerdown", (e) => {
    if (!svg || e.button !== 0) return;
    const x0 = svgX(svg, e), start = { t0: view.t0, t1: view.t1 };
    const perX = (view.t1 - view.t0) / (W - LEFT - RIGHT);
    let dragged = false;
    timelineBox.setPointerCapture(e.pointerId);
    const move = (ev) => {
      const dx = svgX(svg, ev) - x0;
      if (!dragged && Math.abs(dx) <= 4) return;
      dragged = true;
      setView(start.t0 - dx * perX, start.t1 - dx * perX);
      svg.classList.add("dragging");
    };
    const up = () => {
      timelineBox.removeEventListener("pointermove", move);
      timelineBox.removeEventListener("pointerup", up);
      if (!dragged && audio && x0 >= LEFT && x0 <= W - RIGHT) seek(view.t0 + (x0 - LEFT) * perX);
    };
    timelineBox.addEventListener("pointermove", move);
    timelineBox.addEventListener("pointerup", up);
  });
  timelineBox.addEventListener("wheel", (e) => {
    if (!svg || (!e.ctrlKey && !e.metaKey)) return;
    e.preventDefault();
    const x0 = svgX(svg, e);
    zoom(e.deltaY > 0 ? 1.5 : 1 / 1.5, view.t0 + ((x0 - LEFT) / (W - LEFT - RIGHT)) * (view.t1 - view.t0));
  }, { passive: false });

  function showDetails(i) {
    const a = D.alerts[i];
    details.hidden = false;
    details.textContent = "";
    const head = h("h3", {}, details);
    h("span", { cls: "sev " + sevOf(a), text: a.good ? "good sign" : a.severity }, head);
    head.appendChild(document.createTextNode(" " + clock(a.start) + " · " + a.words + " · " + a.speaker));
    h("div", { text: a.message }, details);
    h("div", { cls: "tip", text: "Tip: " + a.tip }, details);
    const ev = Object.entries(a.evidence || {});
    if (ev.length) {
      const tb = h("table", { cls: "ev" }, details);
      const said = a.evidence_words || {};
      for (const [k, v] of ev) {
        const tr = h("tr", {}, tb);
        h("td", { cls: "words", text: said[k] || label(k) }, tr);
        h("td", { cls: "num", text: label(k) + " " + (typeof v === "object" ? JSON.stringify(v) : String(v)) }, tr);
      }
    }
    const said = transcriptFor(a);
    if (said.length) {
      const q = h("div", { cls: "said" }, details);
      h("div", { cls: "muted", text: "Transcript:" }, q);
      for (const t of said) h("div", { text: "“" + t.text + "”" }, q);
    } else {
      h("div", { cls: "muted", text: "No transcript for this moment." }, details);
    }
    selectedIndex = i;
    for (const m of markers.querySelectorAll(".marker.selected")) m.classList.remove("selected");
    const mk = markers.querySelector(`[data-index="${i}"]`);
    if (mk) mk.classList.add("selected");
    for (const tr of tbody.querySelectorAll("tr.selected")) tr.classList.remove("selected");
    const row = tbody.querySelector(`tr[data-index="${i}"]`);
    if (row) row.classList.add("selected");
  }
  function selectAlert(i) {
    const a = D.alerts[i];
    show(a.start, a.end);
    showDetails(i);
    seek(a.start);
  }

  // playback cursor, and the window follows playback
  function moveCursor(t) {
    nowBox.textContent = clock(t) + " / " + clock(duration);
    if (cursor) {
      const px = t < view.t0 || t > view.t1 ? -10 : svg.xOf(t);
      cursor.setAttribute("x1", px);
      cursor.setAttribute("x2", px);
    }
    highlightTranscript(t);
  }
  if (audio) {
    let raf = 0;
    const follow = () => {
      const t = audio.currentTime;
      if (t > view.t1 && t < duration) setView(t - 0.05 * (view.t1 - view.t0), t + 0.95 * (view.t1 - view.t0));
      moveCursor(t);
      if (!audio.paused) raf = requestAnimationFrame(follow);
    };
    audio.addEventListener("play", () => { cancelAnimationFrame(raf); raf = requestAnimationFrame(follow); });
    audio.addEventListener("timeupdate", () => moveCursor(audio.currentTime));
    audio.addEventListener("seeked", () => moveCursor(audio.currentTime));
  }

  // ---- moments to review --------------------------------------------------------------
  const momentList = document.getElementById("moments");
  if (!D.moments.length) {
    h("li", { cls: "none", text: D.alerts.length ? "Nothing to review: only good signs." : "Nothing to review: no alerts in this call." }, momentList);
  }
  D.moments.forEach((m, n) => {
    const li = h("li", { cls: "sev-" + m.severity, tabindex: 0, "data-start": m.start, "data-index": n }, momentList);
    const top = h("div", {}, li);
    h("span", { cls: "when", text: short(m.start) }, top);
    h("span", { cls: "sev " + m.severity, text: m.severity }, top);
    h("span", { cls: "title", text: " " + m.title }, top);
    const worst = D.alerts[m.worst];
    const why = Object.values(worst.evidence_words || {}).slice(0, 2).join("; ");
    const more = m.alerts.length > 1 ? m.alerts.length + " alerts over " + Math.max(1, Math.round(m.end - m.start)) + " s" : "";
    h("div", { cls: "why", text: [more, why].filter(Boolean).join(" · ") || worst.message }, li);
    const go = () => { show(m.start, m.end); showDetails(m.worst); seek(Math.max(0, m.start - 1)); };
    li.addEventListener("click", go);
    li.addEventListener("keydown", (e) => { if (e.key === "Enter") go(); });
  });

  // ---- alert list ---------------------------------------------------------------------
  const tbody = document.querySelector("#alerts tbody");
  const shownBox = document.getElementById("shown");
  if (!D.alerts.length) h("td", { colspan: 5, cls: "muted", text: "No alerts in this call." }, h("tr", {}, tbody));
  D.alerts.forEach((a, i) => {
    const tr = h("tr", { "data-index": i, "data-kind": a.kind }, tbody);
    h("td", { text: clock(a.start) }, tr);
    h("span", { cls: "sev " + sevOf(a), text: a.good ? "good" : a.severity }, h("td", {}, tr));
    h("td", { text: a.words + (a.late ? " (reported late)" : "") }, tr);
    h("td", { text: a.speaker }, tr);
    h("td", { text: a.message }, tr);
    tr.addEventListener("click", () => selectAlert(i));
  });
  function filterTable() {
    let n = 0;
    for (const tr of tbody.querySelectorAll("tr[data-index]")) {
      const on = visible(D.alerts[+tr.dataset.index]);
      tr.hidden = !on;
      n += on ? 1 : 0;
    }
    shownBox.textContent = D.alerts.length ? n + " of " + D.alerts.length + " shown" : "";
  }

  // ---- summary ------------------------------------------------------------------------
  const S = D.summary;
  const box = document.getElementById("summary");
  function card(title, rows) {
    const c = h("div", { cls: "card" }, box);
    h("h3", { text: title }, c);
    const tb = h("table", {}, c);
    for (const [k, v, cls] of rows) {
      const tr = h("tr", {}, tb);
      h("td", { text: k, cls: cls || "" }, tr);
      h("td", { cls: "num", text: v }, tr);
    }
    return c;
  }
  const talk = S.talk_s || {};
  const pct = (v) => (D.duration_s ? " (" + Math.round((100 * v) / D.duration_s) + "%)" : "");
  card("Talk", [
    ["call length", secs(S.duration_s)],
    ["agent talked", secs(talk.agent) + pct(talk.agent || 0)],
    ["customer talked", secs(talk.customer) + pct(talk.customer || 0)],
    ["both at once", secs(S.overlap_s)],
    ["agent interruptions", S.agent_interruptions ?? "n/a"],
    ["customer interruptions", S.customer_interruptions ?? "n/a"],
    ["agent backchannels", S.agent_backchannels ?? "n/a"],
  ]);
  const el_s = S.elevated_s;
  card("Raised voices", SPEAKERS.flatMap((sp) => [
    [sp + " raised", el_s && el_s[sp] ? secs(el_s[sp].raised) : "n/a"],
    [sp + " yelling", el_s && el_s[sp] ? secs(el_s[sp].yelling) : "n/a"],
  ]));
  card("Alerts", Object.entries(S.counts).map(([k, v]) => [label(k), String(v)]));
  const good = new Set(D.alerts.filter((a) => a.good).map((a) => a.speaker + "." + a.cue));
  good.add("agent.apology"); good.add("agent.empathy");
  const cues = Object.entries(S.cues || {});
  const cueCard = card("Phrase cues", cues.length ? cues.map(([k, v]) =>
    [k.replace(".", ": ").replace(/_/g, " ") + (good.has(k) ? " ✓ good sign" : ""), String(v),
      good.has(k) ? "good" : ""]) : [["none heard", "0"]]);
  if (S.transcription === null || S.transcription === undefined) {
    h("div", { cls: "muted", text: D.transcripts.length ? "" : "Not transcribed." }, cueCard);
  }
  if (S.derived) {
    h("p", { cls: "muted", text: "The log has no call summary (the call was cut short): these " +
      "figures are worked out from the tracks and alerts; n/a where they cannot be." }, box);
  }

  // ---- transcript ---------------------------------------------------------------------
  const list = document.getElementById("transcript");
  const items = [];
  if (!D.transcripts.length) h("li", { cls: "muted", text: "No transcript in this log." }, list);
  const phraseAt = {};
  for (const a of D.alerts) if (a.kind === "phrase") (phraseAt[a.speaker + "@" + a.start.toFixed(1)] ||= []).push(a);
  D.transcripts.forEach((t) => {
    const li = h("li", { "data-start": t.start }, list);
    h("span", { cls: "t", text: clock(t.start) }, li);
    h("span", { cls: "who " + t.speaker, text: t.speaker }, li);
    li.appendChild(document.createTextNode(t.text));
    for (const a of phraseAt[t.speaker + "@" + t.start.toFixed(1)] || []) {
      if (Math.abs(a.start - t.start) < 0.05) h("span", { cls: "cue sev " + sevOf(a), text: a.cue || "cue" }, li);
    }
    li.addEventListener("click", () => { show(t.start, t.end); seek(t.start); });
    items.push([t, li]);
  });
  let playing = null;
  function highlightTranscript(now) {
    // transcripts are sorted by start: binary search for the last one starting before now
    let lo = 0, hi = items.length - 1, hit = null;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (items[mid][0].start <= now) { lo = mid + 1; } else { hi = mid - 1; }
    }
    if (hi >= 0 && now < items[hi][0].end) hit = items[hi][1];
    if (hit === playing) return;
    if (playing) playing.classList.remove("playing");
    if (hit) hit.classList.add("playing");
    playing = hit;
  }

  // ---- layout: the drawing is as wide as its box (a phone too) --------------------------
  function layout() {
    const w = Math.round(timelineBox.clientWidth || 1160);
    narrow = w < 640;
    W = Math.max(320, w);
    LEFT = narrow ? 30 : 92;
    RIGHT = narrow ? 8 : 16;
    drawOverview();
    drawTimeline();
  }
  let lastW = -1;
  window.addEventListener("resize", () => {
    if (Math.round(timelineBox.clientWidth) !== lastW) { lastW = Math.round(timelineBox.clientWidth); layout(); }
  });
  layout();
  lastW = Math.round(timelineBox.clientWidth);
  filterTable();
  // when the page was drawn, and how long its script took (ms): read by the tests
  window.tonewatchReport = { ready: performance.now(), script_ms: performance.now() - began };
})();
