// imagevec search page: plain JavaScript, no build step, same-origin requests only.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { hits: [], current: -1, queryUrl: null };

async function api(path, options = {}) {
  const response = await fetch(path, { credentials: "same-origin", ...options });
  if (!response.ok) {
    let detail = response.statusText;
    try { detail = (await response.json()).detail || detail; } catch (_) { /* not JSON */ }
    throw new Error(typeof detail === "string" ? detail : JSON.stringify(detail));
  }
  return response.json();
}

function params(extra = {}) {
  const query = new URLSearchParams({ k: String(clampK()), ...extra });
  const folder = $("folder").value;
  if (folder) query.set("folder", folder);
  return query;
}

function clampK() {
  const k = Math.round(Number($("k").value) || 24);
  return Math.min(200, Math.max(1, k));
}

async function loadInfo() {
  try {
    const info = await api("/api/info");
    const encoder = info.encoder ? `${info.encoder.model} (dim ${info.encoder.dim})` : "no encoder yet";
    let text = `${info.count} images · ${encoder} · ${info.collection}`;
    if (info.indexing) text += info.indexing.busy ? " · indexing…" : " · watching";
    $("info").textContent = text;
    const advice = info.encoder && info.encoder.text_search;
    $("hint").textContent = advice ? `Text queries: ${advice}` : "";
    $("tips").hidden = !advice;
    const select = $("folder");
    const chosen = select.value;
    select.replaceChildren(new Option("all", ""));
    for (const folder of info.folders) select.add(new Option(folder, folder));
    select.value = info.folders.includes(chosen) ? chosen : "";
    return info;
  } catch (error) {
    $("info").textContent = `info unavailable: ${error.message}`;
    return null;
  }
}

function showError(message) {
  const box = $("error");
  box.hidden = !message;
  box.textContent = message || "";
}

async function run(label, request) {
  showError("");
  $("status").textContent = `searching ${label}…`;
  const start = performance.now();
  try {
    const hits = await request();
    render(hits);
    const ms = Math.round(performance.now() - start);
    $("status").textContent = `${hits.length} results ${label} (${ms} ms)`;
  } catch (error) {
    $("status").textContent = "";
    showError(error.message);
  }
}

function searchText(text) {
  if (!text.trim()) return;
  setQueryImage(null);
  history.replaceState(null, "", `#q=${encodeURIComponent(text)}`);
  run(`for “${text}”`, () => api(`/api/search?${params({ q: text })}`));
}

function searchImage(file) {
  if (!file || !file.type.startsWith("image/")) {
    showError("that is not an image file");
    return;
  }
  setQueryImage(file);
  run(`by image ${file.name || ""}`.trim(), () =>
    api(`/api/search/image?${params()}`, {
      method: "POST",
      headers: { "Content-Type": file.type || "application/octet-stream" },
      body: file,
    }));
}

function searchLike(hit) {
  setQueryImage(null);
  closeDetail();
  run(`like ${hit.metadata.filename || hit.id}`, () =>
    api(`/api/items/${encodeURIComponent(hit.id)}/similar?${params()}`));
}

function setQueryImage(file) {
  if (state.queryUrl) URL.revokeObjectURL(state.queryUrl);
  state.queryUrl = file ? URL.createObjectURL(file) : null;
  $("query-image").hidden = !file;
  if (file) $("query-preview").src = state.queryUrl;
}

function render(hits) {
  state.hits = hits;
  const grid = $("grid");
  const items = hits.map((hit, index) => {
    const li = document.createElement("li");
    li.className = "hit";
    li.dataset.id = hit.id;
    li.dataset.rank = String(hit.rank);
    const open = document.createElement("button");
    open.className = "open";
    open.type = "button";
    const name = hit.metadata.filename || hit.uri.split("/").pop();
    open.setAttribute("aria-label", `#${hit.rank} ${name}, score ${hit.score.toFixed(3)}: open`);
    const img = document.createElement("img");
    img.src = `/api/items/${encodeURIComponent(hit.id)}/thumbnail?size=256`;
    img.alt = name;
    img.decoding = "async";
    img.loading = index < 48 ? "eager" : "lazy";
    open.append(img);
    open.addEventListener("click", () => openDetail(index));
    const caption = document.createElement("div");
    caption.className = "caption";
    const rank = document.createElement("span");
    rank.className = "rank";
    rank.textContent = `#${hit.rank}`;
    const score = document.createElement("span");
    score.className = "score";
    score.textContent = hit.score.toFixed(3);
    score.title = "cosine similarity (higher is better)";
    const like = document.createElement("button");
    like.className = "like";
    like.type = "button";
    like.textContent = "more like this";
    like.addEventListener("click", () => searchLike(hit));
    caption.append(rank, score, like);
    const label = document.createElement("div");
    label.className = "name";
    label.textContent = name;
    label.title = hit.uri;
    li.append(open, caption, label);
    return li;
  });
  grid.replaceChildren(...items);
}

function openDetail(index) {
  const hit = state.hits[index];
  if (!hit) return;
  state.current = index;
  $("detail-title").textContent = `#${hit.rank} · ${hit.uri}`;
  $("detail-score").textContent = `score ${hit.score.toFixed(3)}`;
  const img = $("detail-image");
  img.src = `/api/items/${encodeURIComponent(hit.id)}/image?max_size=1600`;
  img.alt = hit.metadata.filename || hit.id;
  const rows = Object.entries(hit.metadata).map(([key, value]) => {
    const tr = document.createElement("tr");
    const th = document.createElement("th");
    th.textContent = key;
    const td = document.createElement("td");
    td.textContent = String(value);
    tr.append(th, td);
    return tr;
  });
  $("detail-meta").replaceChildren(...rows);
  const dialog = $("detail");
  if (!dialog.open) dialog.showModal();
  $("detail-like").focus();
}

function closeDetail() {
  const dialog = $("detail");
  if (dialog.open) dialog.close();
}

function firstImage(items) {
  for (const item of items || []) {
    if (item.kind === "file" && item.type.startsWith("image/")) return item.getAsFile();
  }
  return null;
}

function wire() {
  $("search").addEventListener("submit", (event) => {
    event.preventDefault();
    searchText($("q").value);
  });
  $("file").addEventListener("change", (event) => {
    searchImage(event.target.files[0]);
    event.target.value = "";
  });
  $("folder").addEventListener("change", () => $("q").value.trim() && searchText($("q").value));
  $("detail-like").addEventListener("click", () => searchLike(state.hits[state.current]));
  $("detail").addEventListener("close", () => {
    const card = document.querySelector(`#grid li[data-rank="${state.current + 1}"] .open`);
    if (card) card.focus();
  });
  document.addEventListener("keydown", (event) => {
    const dialog = $("detail");
    if (dialog.open && (event.key === "ArrowRight" || event.key === "ArrowLeft")) {
      event.preventDefault();
      const step = event.key === "ArrowRight" ? 1 : -1;
      const next = Math.min(state.hits.length - 1, Math.max(0, state.current + step));
      openDetail(next);
    } else if (event.key === "/" && document.activeElement !== $("q") && !dialog.open) {
      event.preventDefault();
      $("q").focus();
      $("q").select();
    }
  });
  document.addEventListener("paste", (event) => {
    const file = firstImage(event.clipboardData && event.clipboardData.items);
    if (file) {
      event.preventDefault();
      searchImage(file);
    }
  });
  let depth = 0;
  document.addEventListener("dragenter", (event) => {
    if ([...(event.dataTransfer?.types || [])].includes("Files")) {
      depth += 1;
      $("drop").hidden = false;
    }
  });
  document.addEventListener("dragleave", () => {
    depth = Math.max(0, depth - 1);
    if (!depth) $("drop").hidden = true;
  });
  document.addEventListener("dragover", (event) => event.preventDefault());
  document.addEventListener("drop", (event) => {
    event.preventDefault();
    depth = 0;
    $("drop").hidden = true;
    const file = event.dataTransfer?.files?.[0];
    if (file) searchImage(file);
  });
}

async function start() {
  wire();
  const info = await loadInfo();
  if (info && info.indexing) setInterval(loadInfo, 5000);
  const match = location.hash.match(/^#q=(.+)$/);
  if (match) {
    $("q").value = decodeURIComponent(match[1]);
    searchText($("q").value);
  }
}

start();
