// gradschool serve: the three pages. No framework, no network beyond this server.
"use strict";

const $ = (id) => document.getElementById(id);
const el = (tag, cls, text) => {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
};

async function api(path, body) {
  const init = body === undefined ? {} : { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) };
  const r = await fetch(path, init);
  const data = await r.json().catch(() => ({ error: `HTTP ${r.status}` }));
  if (!r.ok) throw new Error(data.error || `HTTP ${r.status}`);
  return data;
}

// ---- pages --------------------------------------------------------------------------------
const page = { "/": "chat", "/playground": "playground", "/runs": "runs" }[location.pathname] || "chat";
$(page).hidden = false;
document.querySelectorAll("nav a").forEach((a) => a.classList.toggle("active", a.dataset.page === page));
api("/api/status").then((s) => {
  const m = s.model;
  if (m === null) {
    $("model-info").textContent = "no model (start serve with --model-dir DIR): the runs page only";
    return;
  }
  $("model-info").textContent = `${m.dir}: ${m.n_layer} layers × ${m.n_embd} wide, ${(m.parameters / 1e6).toFixed(2)}M parameters, ` +
    `${m.n_positions} positions` + (s.hotels === null ? ", no hotel database" : `, ${s.hotels} hotels`);
}).catch(() => {});

// ---- the assistant ------------------------------------------------------------------------
let history = [];

function showTurn(t) {
  const box = el("div", `turn ${t.role}`);
  box.dataset.role = t.role;
  box.append(el("div", "role", t.role));
  if (t.role === "search") {
    box.append(el("pre", "json", JSON.stringify(t.arguments)));
  } else if (t.role === "return") {
    const d = el("details");
    d.append(el("summary", "", `${t.records.length} record${t.records.length === 1 ? "" : "s"}`));
    d.append(el("pre", "json", JSON.stringify(t.records, null, 1)));
    box.append(d);
  } else {
    box.append(el("div", "text", t.content));
  }
  $("chat-log").append(box);
  box.scrollIntoView({ block: "end" });
}

function showError(message) {
  const box = el("div", "turn error");
  box.append(el("div", "role", "not sent"), el("div", "text", message));
  $("chat-log").append(box);
}

$("chat-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const message = $("chat-input").value.trim();
  if (!message) return;
  $("chat-send").disabled = true;
  try {
    const a = await api("/api/chat", { history, message });
    showTurn({ role: "user", content: message });
    a.turns.forEach(showTurn);
    history = a.history;
    $("chat-input").value = "";
  } catch (e) {
    showError(e.message); // the conversation goes on: history is unchanged
  } finally {
    $("chat-send").disabled = false;
    $("chat-input").focus();
  }
});
$("chat-reset").addEventListener("click", () => {
  history = [];
  $("chat-log").replaceChildren();
});

// ---- the playground -----------------------------------------------------------------------
let tokenizeTimer = null;
function showPieces() {
  clearTimeout(tokenizeTimer);
  tokenizeTimer = setTimeout(async () => {
    try {
      const { tokens } = await api("/api/tokenize", { text: $("prompt").value });
      $("pieces").replaceChildren(...tokens.map((t) => {
        // the token's text when it is whole characters, else its bytes in GPT-2's alphabet
        const whole = t.text !== "" && !t.text.includes("\uFFFD");
        const p = el("span", whole ? "piece" : "piece bytes", whole ? t.text : t.piece);
        p.title = `id ${t.id}, piece ${t.piece}`;
        p.append(el("small", "", String(t.id)));
        return p;
      }));
    } catch (e) {
      $("pieces").textContent = e.message;
    }
  }, 150);
}
$("prompt").addEventListener("input", showPieces);
if (page === "playground") showPieces();

let generation = null; // the AbortController of the generation running, if any
$("gen-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  if (generation) return;
  const num = (id) => Number($(id).value);
  const body = { prompt: $("prompt").value, temperature: num("temperature"), top_k: num("top_k"), top_p: num("top_p"),
    max_tokens: num("max_tokens"), seed: num("seed") };
  const out = $("gen-output");
  const added = el("span", "new");
  out.replaceChildren(document.createTextNode(body.prompt), added);
  $("gen-stats").textContent = "waiting for the model…";
  generation = new AbortController();
  $("gen-go").disabled = true;
  $("gen-stop").disabled = false;
  let tokens = 0;
  try {
    const r = await fetch("/api/generate", { method: "POST", headers: { "content-type": "application/json" },
      body: JSON.stringify(body), signal: generation.signal });
    if (!r.ok) throw new Error((await r.json().catch(() => ({}))).error || `HTTP ${r.status}`);
    const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += value;
      let cut;
      while ((cut = buf.indexOf("\n\n")) >= 0) {
        const block = buf.slice(0, cut);
        buf = buf.slice(cut + 2);
        const data = block.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trim()).join("\n");
        if (!data) continue; // keep-alive
        const e = JSON.parse(data);
        if (e.event === "token") {
          tokens += 1;
          added.textContent += e.text;
          $("gen-stats").textContent = `${tokens} tokens…`;
        } else if (e.event === "done") {
          $("gen-stats").textContent = `${e.new_tokens} new tokens in ${e.seconds.toFixed(2)} s: ` +
            `${e.tokens_per_second.toFixed(1)} tokens/s (stopped: ${e.stopped.replace("_", " ")})`;
        } else if (e.event === "error") {
          throw new Error(e.message);
        }
      }
    }
  } catch (e) {
    $("gen-stats").textContent = e.name === "AbortError" ? `stopped after ${tokens} tokens` : e.message;
  } finally {
    generation = null;
    $("gen-go").disabled = false;
    $("gen-stop").disabled = true;
  }
});
$("gen-stop").addEventListener("click", () => generation && generation.abort());

// ---- runs ---------------------------------------------------------------------------------
const COLOURS = ["#2f6fb3", "#d1603d", "#3c9a5f", "#8a5cc2", "#c79a1e", "#1f9aa8", "#b8467c", "#6b7785"];
const NOT_CHARTED = new Set(["epoch", "step", "train_seconds"]);
const selected = new Set();
const seen = {}; // name -> {modified, metrics}
let listing = [];
let dirty = false; // the ticked runs changed

function colour(name) {
  return COLOURS[listing.findIndex((r) => r.name === name) % COLOURS.length];
}

function chart(metric, series) {
  const W = 420, H = 220, L = 48, R = 18, T = 10, B = 28;
  const pts = series.flatMap((s) => s.points);
  const xs = pts.map((p) => p[0]), ys = pts.map((p) => p[1]);
  let [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  if (x1 === x0) x1 = x0 + 1;
  if (y1 === y0) { y0 -= 0.5; y1 += 0.5; }
  const sx = (x) => L + (x - x0) / (x1 - x0) * (W - L - R);
  const sy = (y) => H - B - (y - y0) / (y1 - y0) * (H - T - B);
  const NS = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("class", "chart");
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.dataset.metric = metric;
  const add = (tag, attrs, text) => {
    const e = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    svg.append(e);
    return e;
  };
  add("line", { class: "axis", x1: L, y1: H - B, x2: W - R, y2: H - B });
  add("line", { class: "axis", x1: L, y1: T, x2: L, y2: H - B });
  const fmt = (v) => (Math.abs(v) >= 1000 || (Math.abs(v) < 0.01 && v !== 0) ? v.toExponential(1) : +v.toPrecision(3));
  for (let i = 0; i <= 4; i++) {
    const y = y0 + (y1 - y0) * i / 4;
    add("text", { x: L - 4, y: sy(y) + 3, "text-anchor": "end" }, fmt(y));
    const x = x0 + (x1 - x0) * i / 4;
    add("text", { x: sx(x), y: H - B + 14, "text-anchor": "middle" }, Math.round(x));
  }
  add("text", { x: W - R, y: H - 2, "text-anchor": "end" }, "step");
  for (const s of series) {
    const line = add("polyline", { points: s.points.map((p) => `${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join(" "), stroke: colour(s.run) });
    line.dataset.run = s.run;
    line.dataset.points = s.points.length;
  }
  return svg;
}

function drawRuns() {
  const metrics = new Map();
  for (const name of selected) {
    const m = seen[name] && seen[name].metrics;
    if (!m) continue;
    const step = m.columns.indexOf("step");
    m.columns.forEach((c, j) => {
      if (NOT_CHARTED.has(c)) return;
      const points = m.rows.map((r, i) => [step >= 0 && r[step] !== null ? r[step] : i + 1, r[j]]).filter((p) => p[1] !== null);
      if (!points.length) return;
      if (!metrics.has(c)) metrics.set(c, []);
      metrics.get(c).push({ run: name, points });
    });
  }
  const boxes = [...metrics.entries()].map(([metric, series]) => {
    const box = el("div", "chart-box");
    box.append(el("h3", "", metric), chart(metric, series));
    const legend = el("div", "legend");
    series.forEach((s) => {
      const item = el("span");
      const swatch = el("i");
      swatch.style.background = colour(s.run);
      item.append(swatch, s.run);
      legend.append(item);
    });
    box.append(legend);
    return box;
  });
  $("charts").replaceChildren(...boxes);
  $("run-details").replaceChildren(...listing.filter((r) => selected.has(r.name)).map((r) => {
    const card = el("div", "run-card");
    card.append(el("h3", "", r.name), el("div", "muted", `${r.rows} rows: ${r.columns.join(", ")}`));
    if (r.settings) card.append(el("pre", "settings", r.settings));
    if (r.eval) card.append(el("pre", "eval", JSON.stringify(r.eval)));
    if (r.loss_png) {
      const img = el("img");
      img.alt = `${r.name}/loss.png`;
      img.src = `/api/runs/loss.png?name=${encodeURIComponent(r.name)}&t=${r.modified}`;
      card.append(img);
    }
    return card;
  }));
}

async function refreshRuns() {
  try {
    const first = listing.length === 0;
    listing = await api("/api/runs");
    if (first) listing.slice(0, 6).forEach((r) => selected.add(r.name));
    $("run-list").replaceChildren(...(listing.length ? listing.map((r) => {
      const label = el("label");
      const box = el("input");
      box.type = "checkbox";
      box.checked = selected.has(r.name);
      box.dataset.run = r.name;
      box.addEventListener("change", () => {
        if (box.checked) selected.add(r.name); else selected.delete(r.name);
        dirty = true;
        refreshRuns();
      });
      label.append(box, ` ${r.name} (${r.rows})`);
      return label;
    }) : [el("span", "muted", "no metrics.csv under the runs folder yet")]));
    let changed = false;
    for (const r of listing) {
      if (!selected.has(r.name) || (seen[r.name] && seen[r.name].modified === r.modified && seen[r.name].metrics)) continue;
      seen[r.name] = { modified: r.modified, metrics: await api(`/api/runs/metrics?name=${encodeURIComponent(r.name)}`) };
      changed = true;
    }
    if (changed || first || dirty) {
      dirty = false;
      drawRuns();
    }
  } catch (e) {
    $("run-list").textContent = e.message;
  }
}
if (page === "runs") {
  refreshRuns();
  setInterval(refreshRuns, 2000);
}
