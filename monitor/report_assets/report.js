// tonewatch call report: draws the timeline (SVG), the alert list, the summary and the
// transcript from the JSON in #call-data, and ties them to the embedded audio player.
// No libraries and no network: everything the page needs is in the page.
"use strict";
(function () {
  const D = JSON.parse(document.getElementById("call-data").textContent);
  const audio = document.getElementById("player");
  const SVGNS = "http://www.w3.org/2000/svg";
  const SPEAKERS = ["agent", "customer"];
  const W = 1160, LEFT = 92, RIGHT = 16;
  const LEVEL_H = 96, PITCH_H = 54, SPEECH_H = 10, GAP = 14, AXIS_H = 22, OVER_H = 10;
  const LEVEL_MIN = -60, LEVEL_MAX = -6;
  const duration = Math.max(D.duration_s || 0, (D.tracks.n || 0) / (D.tracks.rate_hz || 10), 1);
  const x = (t) => LEFT + (Math.max(0, Math.min(t, duration)) / duration) * (W - LEFT - RIGHT);
  const tOfX = (px) => ((px - LEFT) / (W - LEFT - RIGHT)) * duration;

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
  function secs(v) { return v === null || v === undefined ? "n/a" : Number(v).toFixed(1) + " s"; }
  const label = (kind) => kind.replace(/_/g, " ");

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
  function seek(t) {
    if (!audio) return;
    audio.currentTime = Math.max(0, t);
    moveCursor(audio.currentTime);
  }

  // ---- timeline -----------------------------------------------------------------------
  const lanes = {};
  let y = 8;
  for (const sp of SPEAKERS) {
    lanes[sp] = { level: y, pitch: y + LEVEL_H + 4, speech: y + LEVEL_H + 4 + PITCH_H + 4 };
    y = lanes[sp].speech + SPEECH_H + GAP;
  }
  const overY = y;
  const axisY = overY + OVER_H + 6;
  const H = axisY + AXIS_H;
  const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "call timeline" });
  document.getElementById("timeline").appendChild(svg);

  const levelY = (sp, db) => {
    const v = Math.max(LEVEL_MIN, Math.min(LEVEL_MAX, db));
    return lanes[sp].level + LEVEL_H * (1 - (v - LEVEL_MIN) / (LEVEL_MAX - LEVEL_MIN));
  };
  const pitchRange = {};
  for (const sp of SPEAKERS) {
    const vals = D.tracks[sp].pitch_st.filter((v) => v !== null);
    const base = D.tracks[sp].baseline.map((b) => b[2]).filter((v) => v !== null);
    const all = vals.concat(base);
    const lo = all.length ? Math.min(...all) : -5, hi = all.length ? Math.max(...all) : 20;
    pitchRange[sp] = [Math.floor(lo - 1), Math.ceil(hi + 1)];
  }
  const pitchY = (sp, st) => {
    const [lo, hi] = pitchRange[sp];
    return lanes[sp].pitch + PITCH_H * (1 - (st - lo) / Math.max(hi - lo, 1));
  };

  // time grid and axis
  const steps = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800];
  const step = steps.find((s) => duration / s <= 14) || 3600;
  const grid = el("g", {}, svg);
  for (let t = 0; t <= duration + 1e-6; t += step) {
    el("line", { class: "grid", x1: x(t), x2: x(t), y1: 4, y2: axisY }, grid);
    const tx = el("text", { x: x(t), y: axisY + 15, "text-anchor": "middle" }, grid);
    tx.textContent = clock(t).replace(/\.0$/, "");
  }
  el("line", { class: "axis", x1: LEFT, x2: W - RIGHT, y1: axisY, y2: axisY }, grid);

  function pathOf(values, yOf, keep) {
    const rate = D.tracks.rate_hz;
    let d = "", pen = false;
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (v === null || !keep(v, i)) { pen = false; continue; }
      const px = x((i + 0.5) / rate).toFixed(1), py = yOf(v).toFixed(1);
      d += (pen ? "L" : "M") + px + " " + py;
      pen = true;
    }
    return d;
  }
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
  const rate = D.tracks.rate_hz;
  for (const sp of SPEAKERS) {
    const T = D.tracks[sp], L = lanes[sp];
    const g = el("g", { class: "lane", "data-speaker": sp }, svg);
    const name = el("text", { class: "lane-name", x: 8, y: L.level + 16 }, g);
    name.textContent = sp === "agent" ? "Agent" : "Customer";
    for (const [dbv, txt] of [[-20, "-20 dB"], [-40, "-40"]]) {
      el("text", { x: LEFT - 6, y: levelY(sp, dbv) + 4, "text-anchor": "end" }, g).textContent = txt;
    }
    el("text", { x: LEFT - 6, y: L.pitch + PITCH_H / 2 + 4, "text-anchor": "end" }, g).textContent =
      "pitch";
    el("text", { x: LEFT - 6, y: L.speech + 9, "text-anchor": "end" }, g).textContent = "speech";
    el("rect", { class: "axis", x: LEFT, y: L.level, width: W - LEFT - RIGHT, height: LEVEL_H,
      fill: "none" }, g);
    // baseline band: from the baseline to the raised threshold, as the baseline evolves
    let prev = 0;
    for (const [tEnd, lvl, pst] of T.baseline) {
      if (lvl !== null) {
        const top = levelY(sp, lvl + D.raised_level_db), base = levelY(sp, lvl);
        el("rect", { class: "band", x: x(prev), y: top, width: Math.max(0, x(tEnd) - x(prev)),
          height: Math.max(1, base - top) }, g);
        el("line", { class: "base", x1: x(prev), x2: x(tEnd), y1: base, y2: base }, g);
        el("line", { class: "raised-line", x1: x(prev), x2: x(tEnd), y1: top, y2: top }, g);
      }
      if (pst !== null) {
        const py = pitchY(sp, pst);
        el("line", { class: "pitch-base", x1: x(prev), x2: x(tEnd), y1: py, y2: py }, g);
      }
      prev = tEnd;
    }
    el("path", { class: "level", d: pathOf(T.level_db, (v) => levelY(sp, v), (v) => v > LEVEL_MIN) }, g);
    el("path", { class: "pitch", d: pathOf(T.pitch_st, (v) => pitchY(sp, v), () => true) }, g);
    for (const [a, b] of runs(T.speech)) {
      el("rect", { class: "speech", x: x(a / rate), y: L.speech, width: Math.max(0.8, x(b / rate) - x(a / rate)),
        height: SPEECH_H, rx: 2 }, g);
    }
  }
  // overlap: both speaking
  const both = D.tracks.agent.speech.map((v, i) => v && D.tracks.customer.speech[i]);
  el("text", { x: LEFT - 6, y: overY + 9, "text-anchor": "end" }, svg).textContent = "both";
  for (const [a, b] of runs(both)) {
    el("rect", { class: "overlap", x: x(a / rate), y: overY, width: Math.max(0.8, x(b / rate) - x(a / rate)),
      height: OVER_H, rx: 2 }, svg);
  }

  // alert markers
  const markers = el("g", { id: "markers" }, svg);
  const tooltip = document.getElementById("tooltip");
  const details = document.getElementById("details");
  let selected = null;
  function transcriptFor(a) {
    if (a.text) return [{ speaker: a.speaker, start: a.start, text: a.text }];
    return D.transcripts.filter(
      (t) => t.speaker === a.speaker && t.end >= a.start - 1 && t.start <= a.end + 1
    );
  }
  function showDetails(i) {
    const a = D.alerts[i];
    details.hidden = false;
    details.textContent = "";
    const head = h("h3", {}, details);
    h("span", { cls: "sev " + a.severity, text: a.severity }, head);
    head.appendChild(document.createTextNode(" " + clock(a.start) + " · " + label(a.kind) +
      (a.cue ? " (" + a.cue + ")" : "") + " · " + a.speaker));
    h("div", { text: a.message }, details);
    h("div", { cls: "tip", text: "Tip: " + a.tip }, details);
    const ev = Object.entries(a.evidence || {});
    if (ev.length) {
      const tb = h("table", { cls: "evidence" }, details);
      for (const [k, v] of ev) {
        const tr = h("tr", {}, tb);
        h("td", { cls: "muted", text: label(k) }, tr);
        h("td", { text: typeof v === "object" ? JSON.stringify(v) : String(v) }, tr);
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
    if (selected) selected.classList.remove("selected");
    selected = markers.querySelector(`[data-index="${i}"]`);
    if (selected) selected.classList.add("selected");
  }
  function selectAlert(i) {
    showDetails(i);
    seek(D.alerts[i].start);
  }
  const placed = {};
  D.alerts.forEach((a, i) => {
    const sp = SPEAKERS.includes(a.speaker) ? a.speaker : "customer";
    const L = lanes[sp];
    if (a.kind !== "phrase") {
      // the episode, from its start to when the alert became certain
      el("rect", { class: "span sev-" + a.severity, x: x(a.start), y: L.level,
        width: Math.max(2, x(a.end) - x(a.start)), height: LEVEL_H }, markers);
    }
    // markers that would touch on the same band stack downwards instead of hiding
    const cx = x(a.start);
    placed[sp] = placed[sp] || [];
    const below = placed[sp].filter((px) => Math.abs(px - cx) < 14).length;
    placed[sp].push(cx);
    const cy = L.level + 9 + 15 * (below % 6);
    const m = el("path", {
      class: "marker sev-" + a.severity,
      d: `M${cx} ${cy + 8}L${cx - 7} ${cy - 5}L${cx + 7} ${cy - 5}Z`,
      "data-index": i, "data-start": a.start, "data-kind": a.kind, "data-severity": a.severity,
      tabindex: 0,
    }, markers);
    m.addEventListener("mouseenter", (e) => {
      tooltip.hidden = false;
      const ev = Object.entries(a.evidence || {}).filter(([, v]) => typeof v !== "object")
        .map(([k, v]) => label(k) + " " + v).join(", ");
      const said = transcriptFor(a).map((t) => "“" + t.text + "”").join(" ");
      tooltip.textContent = [clock(a.start) + " " + a.severity + ": " + a.message, "Tip: " + a.tip,
        ev, said.length > 240 ? said.slice(0, 240) + "…" : said].filter(Boolean).join("\n");
      const box = document.getElementById("timeline").getBoundingClientRect();
      tooltip.style.left = Math.max(0, Math.min(e.clientX - box.left + 12, box.width - 390)) + "px";
      tooltip.style.top = e.clientY - box.top + document.getElementById("timeline").offsetTop + 12 + "px";
    });
    m.addEventListener("mouseleave", () => { tooltip.hidden = true; });
    m.addEventListener("click", (e) => { e.stopPropagation(); selectAlert(i); });
    m.addEventListener("keydown", (e) => { if (e.key === "Enter") selectAlert(i); });
  });

  // playback cursor; clicking the timeline elsewhere seeks there
  const cursor = el("line", { id: "cursor", x1: LEFT, x2: LEFT, y1: 2, y2: axisY,
    visibility: audio ? "visible" : "hidden" }, svg);
  function moveCursor(t) {
    cursor.setAttribute("x1", x(t));
    cursor.setAttribute("x2", x(t));
    highlightTranscript(t);
  }
  svg.addEventListener("click", (e) => {
    if (!audio) return;
    const p = svg.createSVGPoint();
    p.x = e.clientX; p.y = e.clientY;
    const local = p.matrixTransform(svg.getScreenCTM().inverse());
    if (local.x >= LEFT && local.x <= W - RIGHT) seek(tOfX(local.x));
  });
  if (audio) {
    let raf = 0;
    const follow = () => { moveCursor(audio.currentTime); if (!audio.paused) raf = requestAnimationFrame(follow); };
    audio.addEventListener("play", () => { cancelAnimationFrame(raf); raf = requestAnimationFrame(follow); });
    audio.addEventListener("timeupdate", () => moveCursor(audio.currentTime));
    audio.addEventListener("seeked", () => moveCursor(audio.currentTime));
  }

  // ---- alert list ---------------------------------------------------------------------
  const tbody = document.querySelector("#alerts tbody");
  if (!D.alerts.length) h("td", { colspan: 5, cls: "muted", text: "No alerts in this call." }, h("tr", {}, tbody));
  D.alerts.forEach((a, i) => {
    const tr = h("tr", { "data-index": i }, tbody);
    h("td", { text: clock(a.start) }, tr);
    h("span", { cls: "sev " + a.severity, text: a.severity }, h("td", {}, tr));
    h("td", { text: label(a.kind) + (a.cue ? " · " + a.cue : "") }, tr);
    h("td", { text: a.speaker }, tr);
    h("td", { text: a.message }, tr);
    tr.addEventListener("click", () => selectAlert(i));
  });

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
    [sp + " raised", el_s ? secs(el_s[sp].raised) : "n/a"],
    [sp + " yelling", el_s ? secs(el_s[sp].yelling) : "n/a"],
  ]));
  card("Alerts", Object.entries(S.counts).map(([k, v]) => [label(k), String(v)]));
  const good = new Set(D.alerts.filter((a) => a.evidence && a.evidence.good_sign)
    .map((a) => a.speaker + "." + a.cue));
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
  D.transcripts.forEach((t) => {
    const li = h("li", { "data-start": t.start }, list);
    h("span", { cls: "t", text: clock(t.start) }, li);
    h("span", { cls: "who " + t.speaker, text: t.speaker }, li);
    li.appendChild(document.createTextNode(t.text));
    D.alerts.filter((a) => a.kind === "phrase" && a.speaker === t.speaker &&
      Math.abs(a.start - t.start) < 0.05).forEach((a) => {
      h("span", { cls: "cue sev " + a.severity, text: a.cue || "cue" }, li);
    });
    li.addEventListener("click", () => seek(t.start));
    items.push([t, li]);
  });
  let playing = null;
  function highlightTranscript(now) {
    let hit = null;
    for (const [t, li] of items) if (t.start <= now && now < t.end) hit = li;
    if (hit === playing) return;
    if (playing) playing.classList.remove("playing");
    if (hit) hit.classList.add("playing");
    playing = hit;
  }
})();
