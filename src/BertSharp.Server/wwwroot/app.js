"use strict";
// The page for bertsharp serve: classify a text, list its WordPiece tokens, and draw the attention
// of a chosen layer and head. Plain DOM, no build step; it only talks to the server that served it.

const $ = (id) => document.getElementById(id);
const KEY = "bertsharp-api-key";
const SPECIAL = new Set(["[CLS]", "[SEP]", "[PAD]", "[MASK]", "[UNK]"]);
const state = { info: null, data: null, focus: -1, pinned: -1, weights: null };

function headers() {
  const h = { "Content-Type": "application/json" };
  const key = sessionStorage.getItem(KEY);
  if (key) h["X-API-Key"] = key;
  return h;
}

async function api(path, body) {
  const init = body === undefined ? { headers: headers() } : { method: "POST", headers: headers(), body: JSON.stringify(body) };
  const response = await fetch(path, init);
  let json = null;
  try { json = await response.json(); } catch { /* not JSON: reported below */ }
  if (!response.ok) {
    if (response.status === 401) $("key-row").hidden = false;
    throw new Error(json && json.error ? json.error.message : `HTTP ${response.status}`);
  }
  return json;
}

function status(message, isError) {
  const el = $("status");
  el.textContent = message || "";
  el.classList.toggle("error", !!isError);
}

async function loadModel() {
  try {
    const info = await api("v1/model");
    state.info = info;
    const c = info.config;
    const qa = info.architecture === "BertForQuestionAnswering";
    // A masked language model answers fill-mask, a question-answering model the question form, instead of classify.
    const masked = /MaskedLM|PreTraining/.test(info.architecture || "");
    $("form").closest("section").hidden = qa || masked;
    $("qa-card").hidden = !qa;
    $("fill-card").hidden = !masked;
    $("model").textContent = `${info.model} · ${qa ? "question answering" : masked ? "fill-mask" : (info.labels || []).join(" / ")} · ${c.num_hidden_layers} layers × ${c.num_attention_heads} heads, ` +
      `${c.hidden_size} wide · ${(info.parameters / 1e6).toFixed(1)}M parameters · ${info.runtime} runtime`;
  } catch (e) {
    $("model").textContent = e.message;
  }
}

// Asks /v1/qa and shows the text with the answer's [start, end) span marked.
async function answer(event) {
  event.preventDefault();
  const question = $("qa-question").value;
  const context = $("qa-context").value;
  $("qa-ask").disabled = true;
  $("qa-status").textContent = "answering…";
  $("qa-status").classList.remove("error");
  document.body.dataset.state = "busy";
  try {
    const result = await api("v1/qa", { question, context });
    const a = result.answers[0];
    $("qa-answer").textContent = a.answer ? `${a.answer} (score ${a.score.toFixed(3)}, characters ${a.start}–${a.end})` : "no answer found";
    const view = $("qa-highlight");
    view.replaceChildren(document.createTextNode(context.slice(0, a.start)));
    const mark = document.createElement("mark");
    mark.textContent = context.slice(a.start, a.end);
    view.append(mark, document.createTextNode(context.slice(a.end)));
    $("qa-answer").hidden = view.hidden = false;
    $("qa-status").textContent = "";
    document.body.dataset.state = "done";
  } catch (e) {
    $("qa-status").textContent = e.message;
    $("qa-status").classList.add("error");
    document.body.dataset.state = "error";
  } finally {
    $("qa-ask").disabled = false;
  }
}

async function classify(event) {
  event.preventDefault();
  const text = $("text").value;
  const pair = $("pair").value.trim();
  const body = pair ? { text, text_pair: pair } : { text };
  document.body.dataset.state = "busy";
  $("classify").disabled = true;
  status("classifying…");
  try {
    if (!state.info) await loadModel();
    const managed = !state.info || state.info.runtime === "managed";
    const ner = state.info && state.info.architecture === "BertForTokenClassification";
    const [classified, view] = await Promise.all([
      ner ? api("v1/ner", { text }) : api("v1/classify", body),
      managed ? api("v1/attention", body) : api("v1/tokenize", body),
    ]);
    const tokens = managed ? view : view.encodings[0];
    state.data = { prediction: classified.predictions[0], text, ner, tokens: tokens.tokens, ids: tokens.ids, attentions: managed ? view.attentions : null };
    state.focus = state.pinned = -1;
    render();
    status(managed && view.truncated ? `attention shown for the first ${view.tokens.length} tokens` : "");
    document.body.dataset.state = "done";
  } catch (e) {
    status(e.message, true);
    document.body.dataset.state = "error";
  } finally {
    $("classify").disabled = false;
  }
}

function render() {
  if (state.data.ner) renderEntities(state.data.text, state.data.prediction.entities);
  else renderBars(state.data.prediction);
  renderTokens(state.data.tokens, state.data.ids);
  const attentions = state.data.attentions;
  $("attention-card").hidden = !attentions;
  $("no-attention").hidden = !!attentions;
  if (attentions) renderAttention(attentions);
}

function renderBars(prediction) {
  const bars = $("bars");
  bars.replaceChildren();
  for (const [label, p] of Object.entries(prediction.scores)) {
    const name = el("div", "bar-label", label);
    const track = el("div", "bar-track");
    const fill = el("div", label === prediction.label ? "bar-fill top" : "bar-fill");
    fill.style.width = `${(p * 100).toFixed(1)}%`;
    track.append(fill);
    bars.append(name, track, el("div", "bar-value", `${(p * 100).toFixed(1)}%`));
  }
  $("prediction-card").hidden = false;
}

// The text with each entity marked by its type; offsets index the text as sent (UTF-16, as JavaScript strings).
function renderEntities(text, entities) {
  const box = $("entities");
  box.replaceChildren();
  let at = 0;
  for (const e of entities) {
    box.append(text.slice(at, e.start));
    const mark = el("mark", null, text.slice(e.start, e.end));
    mark.title = `${e.entity_group} ${(e.score * 100).toFixed(1)}%`;
    mark.dataset.type = e.entity_group;
    mark.append(el("span", "type", e.entity_group));
    box.append(mark);
    at = e.end;
  }
  box.append(text.slice(at));
  if (entities.length === 0) box.append(el("span", "muted", " (no entities found)"));
  $("entities-card").hidden = false;
  $("prediction-card").hidden = true;
}

function renderTokens(tokens, ids) {
  const box = $("tokens");
  box.replaceChildren();
  tokens.forEach((token, i) => {
    const chip = el("div", SPECIAL.has(token) ? "token special" : "token");
    chip.dataset.index = i;
    chip.title = `token ${i}: ${token} (id ${ids[i]})`;
    chip.append(el("span", "text", token), el("span", "id", String(ids[i])));
    chip.addEventListener("mouseenter", () => setFocus(i));
    chip.addEventListener("mouseleave", () => setFocus(state.pinned));
    chip.addEventListener("click", () => { state.pinned = state.pinned === i ? -1 : i; setFocus(state.pinned === -1 ? i : state.pinned); });
    box.append(chip);
  });
  $("tokens-card").hidden = false;
}

function renderAttention(attentions) {
  const layers = attentions.length, heads = attentions[0].length;
  fillSelect($("layer"), Array.from({ length: layers }, (_, l) => [String(l), `${l + 1} of ${layers}`]), String(layers - 1));
  fillSelect($("head"), [["mean", "mean of all"], ...Array.from({ length: heads }, (_, h) => [String(h), `${h + 1} of ${heads}`])], "0");

  const tokens = state.data.tokens, T = tokens.length;
  const matrix = $("matrix");
  const cell = Math.max(10, Math.min(26, Math.floor(620 / T)));
  matrix.style.setProperty("--cell", `${cell}px`);
  matrix.style.gridTemplateColumns = `auto repeat(${T}, ${cell}px)`;
  matrix.replaceChildren(el("div"));
  tokens.forEach((t, j) => { const c = el("div", "col", t); c.dataset.col = j; matrix.append(c); });
  for (let i = 0; i < T; i++) {
    const label = el("div", "row", tokens[i]);
    label.dataset.row = i;
    label.addEventListener("mouseenter", () => setFocus(i));
    label.addEventListener("mouseleave", () => setFocus(state.pinned));
    matrix.append(label);
    for (let j = 0; j < T; j++) {
      const c = el("div", "cell");
      c.dataset.row = i;
      c.dataset.col = j;
      c.append(el("div", "fill"));
      matrix.append(c);
    }
  }
  drawWeights();
}

// The chosen layer and head as T×T rows (or their mean over heads).
function currentWeights() {
  const layer = state.data.attentions[Number($("layer").value)];
  const head = $("head").value;
  if (head !== "mean") return layer[Number(head)];
  const T = layer[0].length;
  return Array.from({ length: T }, (_, i) => Array.from({ length: T }, (_, j) => layer.reduce((s, h) => s + h[i][j], 0) / layer.length));
}

// Shade ∝ √weight: a uniform row over ten tokens (0.1 each) still shows, and a peak stands out.
const shade = (w) => Math.sqrt(Math.max(0, Math.min(1, w)));

function drawWeights() {
  const w = state.weights = currentWeights();
  const tokens = state.data.tokens;
  for (const c of $("matrix").querySelectorAll(".cell")) {
    const i = Number(c.dataset.row), j = Number(c.dataset.col);
    c.firstChild.style.opacity = shade(w[i][j]).toFixed(3);
    c.title = `${tokens[i]} → ${tokens[j]}: ${w[i][j].toFixed(3)}`;
  }
  setFocus(state.focus);
}

function setFocus(i) {
  state.focus = i;
  const chips = $("tokens").children;
  const w = state.weights;
  const row = i >= 0 && w ? w[i] : null;
  for (const chip of chips) {
    const j = Number(chip.dataset.index);
    const v = row ? shade(row[j]) : 0;
    chip.style.setProperty("--w", (0.85 * v).toFixed(3));
    chip.classList.toggle("hot", v > 0.55);
    chip.classList.toggle("focus", j === i);
    chip.classList.toggle("pinned", j === state.pinned);
    chip.title = row ? `${state.data.tokens[i]} → ${state.data.tokens[j]}: ${row[j].toFixed(3)} (id ${state.data.ids[j]})` : `token ${j}: ${state.data.tokens[j]} (id ${state.data.ids[j]})`;
  }
  for (const c of $("matrix").querySelectorAll(".focus, .focus-row")) c.classList.remove("focus", "focus-row");
  if (row) {
    for (const c of $("matrix").querySelectorAll(`[data-row="${i}"]`)) c.classList.add(c.classList.contains("cell") ? "focus-row" : "focus");
    let top = 0;
    row.forEach((v, j) => { if (j !== i && (top === i || v > row[top])) top = j; });
    $("focus").textContent = `“${state.data.tokens[i]}” attends most to “${state.data.tokens[top]}” (${row[top].toFixed(2)})`;
  } else {
    $("focus").textContent = state.weights ? "hover a token" : "";
  }
}

function fillSelect(select, options, value) {
  select.replaceChildren(...options.map(([v, text]) => { const o = el("option", null, text); o.value = v; return o; }));
  select.value = value;
}

function el(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

// Fill-mask: per [MASK], the five most probable tokens as bars.
async function fillMask(event) {
  event.preventDefault();
  $("fill").disabled = true;
  $("fill-status").textContent = "filling…";
  $("fill-status").classList.remove("error");
  try {
    const result = await api("v1/fill-mask", { text: $("fill-text").value, top_k: 5 });
    const groups = result.results[0].masks.map((candidates, m) => {
      const bars = el("div", "bars");
      for (const c of candidates) {
        const track = el("div", "bar-track");
        const fill = el("div", c === candidates[0] ? "bar-fill top" : "bar-fill");
        fill.style.width = `${(c.score * 100).toFixed(1)}%`;
        track.append(fill);
        bars.append(el("div", "bar-label", c.token_str), track, el("div", "bar-value", `${(c.score * 100).toFixed(1)}%`));
      }
      const group = el("div", "fill-mask");
      group.append(el("h3", null, `[MASK] ${m + 1}`), bars);
      return group;
    });
    $("fill-results").replaceChildren(...groups);
    $("fill-status").textContent = "";
  } catch (e) {
    $("fill-status").textContent = e.message;
    $("fill-status").classList.add("error");
  } finally {
    $("fill").disabled = false;
  }
}

$("fill-form").addEventListener("submit", fillMask);
$("form").addEventListener("submit", classify);
$("qa-form").addEventListener("submit", answer);
$("layer").addEventListener("change", drawWeights);
$("head").addEventListener("change", drawWeights);
$("text").addEventListener("keydown", (e) => { if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) $("form").requestSubmit(); });
$("api-key").addEventListener("change", (e) => { sessionStorage.setItem(KEY, e.target.value); loadModel(); });
loadModel();
