// imagevec photos: the library newest first, filters, search (text, image, like), viewer.
// Plain ES modules, no build step, same-origin requests only. State lives in the address:
// /?q=…|like=…&since=&until=&camera=&lens=&format=&folder=&group=&view=folders&photo=<id>
"use strict";

import { fillGrid, newGrid, thumbUrl } from "/static/grid.js";
import { closeViewer, currentPhotoId, formatDate, openViewer, viewerOpen } from "/static/viewer.js";

const $ = (id) => document.getElementById(id);
const FILTERS = ["since", "until", "camera", "lens", "format", "folder"];
const LABELS = { since: "from", until: "to", camera: "camera", lens: "lens", format: "format", folder: "folder" };
const PAGE = 48;  // fewer thumbnails asked at once: the next page comes sooner
const K = 48;
const state = {
  url: {},            // what the address says (parsed)
  items: [],          // what the viewer walks through, in grid order
  cursor: null, loading: false, done: false, generation: 0,
  image: null,        // {file, url}: the picture of an image search (not in the address)
  facets: null,
};

async function api(path, options = {}) {
  const response = await fetch(path, { credentials: "same-origin", ...options });
  if (!response.ok) {
    let detail = response.statusText;
    try { detail = (await response.json()).detail || detail; } catch (_) { /* not JSON */ }
    throw new Error(typeof detail === "string" ? detail : JSON.stringify(detail));
  }
  return response.json();
}

// ------------------------------------------------------------------ the address
function readUrl() {
  const p = new URLSearchParams(location.search);
  const hash = location.hash.match(/^#q=(.+)$/);  // old links: #q=
  const url = { q: p.get("q") || (hash ? decodeURIComponent(hash[1]) : ""), like: p.get("like") || "",
    photo: p.get("photo") || "", view: p.get("view") || "", group: p.get("group") || "day" };
  for (const key of FILTERS) url[key] = p.get(key) || "";
  return url;
}

function writeUrl(url, push = true) {
  const p = new URLSearchParams();
  for (const key of ["q", "like", ...FILTERS, "view", "photo"]) if (url[key]) p.set(key, url[key]);
  if (url.group && url.group !== "day") p.set("group", url.group);
  const text = p.toString();
  const target = text ? `/?${text}` : "/";
  if (target === location.pathname + location.search) return;
  if (push) history.pushState(null, "", target);
  else history.replaceState(null, "", target);
}

function navigate(change, push = true) {
  const url = { ...state.url, ...change };
  if (!("photo" in change)) url.photo = "";
  writeUrl(url, push);
  apply(url);
}

function filterParams(url = state.url) {
  const p = new URLSearchParams();
  for (const key of FILTERS) if (url[key]) p.set(key, url[key]);
  return p;
}

// ------------------------------------------------------------------ what the page shows
function showError(message) {
  $("error").hidden = !message;
  $("error").textContent = message || "";
}

function sameQuery(a, b) {
  return ["q", "like", "view", "group", ...FILTERS].every((k) => (a[k] || "") === (b[k] || ""));
}

async function apply(url) {
  const previous = state.url;
  state.url = url;
  $("q").value = url.q;
  $("f-group").value = url.group;
  for (const key of FILTERS) if ($(`f-${key}`)) $(`f-${key}`).value = url[key];
  renderChips(url);
  const changed = !sameQuery(previous, url) || state.items.length === 0;
  if (changed) {
    if (!url.like && !state.image) setReference(null);  // filters keep an image query
    if (url.q || url.like || state.image) await runSearch(url);
    else if (url.view === "folders") showFolders();
    else await startBrowse();
    loadFacets();
  }
  syncViewer(url.photo);
}

function showOnly(which) {
  $("grid").hidden = which !== "grid";
  $("library").hidden = which !== "library";
  $("folders").hidden = which !== "folders";
  $("nav-library").classList.toggle("current", which === "library");
  $("nav-folders").classList.toggle("current", which === "folders");
}

// ------------------------------------------------------------------ browsing
async function startBrowse() {
  state.generation += 1;
  state.items = [];
  state.cursor = null;
  state.done = false;
  showOnly("library");
  $("library").replaceChildren();
  $("grid").replaceChildren();
  await loadPage();
}

function groupTitle(key) {
  const text = key.length === 7
    ? new Date(`${key}-01T00:00:00Z`).toLocaleDateString(undefined, { year: "numeric", month: "long", timeZone: "UTC" })
    : formatDate(key);
  return `${text}`;
}

async function loadPage() {
  if (state.loading || state.done) return;
  state.loading = true;
  const generation = state.generation;
  const p = filterParams();
  p.set("limit", String(PAGE));
  p.set("group", state.url.group || "day");
  if (state.cursor) p.set("cursor", state.cursor);
  const started = performance.now();
  try {
    const page = await api(`/api/browse?${p}`);
    if (generation !== state.generation) return;
    appendGroups(page.items);
    state.cursor = page.next;
    state.done = !page.next;
    const ms = Math.round(performance.now() - started);
    const filtered = FILTERS.some((k) => state.url[k]);
    $("status").textContent = state.items.length
      ? `${filtered ? "Matching photos" : "All photos"}, newest first (${state.items.length} shown, ${ms} ms)`
      : "No photos match these filters.";
    showError("");
  } catch (error) {
    showError(error.message);
    state.done = true;
  } finally {
    state.loading = false;
  }
  if (!state.done && nearBottom()) loadPage();
}

function appendGroups(items) {
  const library = $("library");
  let offset = state.items.length;
  state.items.push(...items);
  let i = 0;
  while (i < items.length) {
    const key = items[i].group;
    let j = i;
    while (j < items.length && items[j].group === key) j += 1;
    const chunk = items.slice(i, j);
    let section = library.lastElementChild;
    if (!section || section.dataset.group !== key) {
      section = document.createElement("section");
      section.className = "group";
      section.dataset.group = key;
      const h = document.createElement("h2");
      section.append(h, newGrid(key));
      library.append(section);
    }
    const grid = section.querySelector("ol");
    fillGrid(grid, chunk, offset, handlers, { append: true });
    section.querySelector("h2").textContent = groupTitle(key);
    offset += chunk.length;
    i = j;
  }
}

function nearBottom() {
  return $("more").getBoundingClientRect().top < window.innerHeight + 1200;
}

// ------------------------------------------------------------------ folders
function showFolders() {
  showOnly("folders");
  $("status").textContent = "Folders";
  const box = $("folders");
  const render = () => {
    const list = document.createElement("ul");
    list.className = "folder-cards";
    for (const f of state.facets ? state.facets.folders : []) {
      const li = document.createElement("li");
      const a = document.createElement("a");
      a.href = `/?folder=${encodeURIComponent(f.value)}`;
      const cover = document.createElement("img");
      cover.src = thumbUrl(f.cover, 256);
      cover.alt = "";
      cover.loading = "lazy";
      const name = document.createElement("span");
      name.className = "folder-name";
      name.textContent = f.value;
      a.append(cover, name);
      a.addEventListener("click", (event) => {
        event.preventDefault();
        navigate({ folder: f.value, view: "" });
      });
      const count = document.createElement("span");
      count.className = "count";
      count.textContent = String(f.count);
      a.append(count);
      li.append(a);
      list.append(li);
    }
    box.replaceChildren(list);
  };
  if (state.facets) render();
  else loadFacets().then(render);
}

// ------------------------------------------------------------------ facets and chips
async function loadFacets() {
  try {
    state.facets = await api(`/api/facets?${filterParams()}`);
  } catch (error) {
    return;
  }
  const fill = (id, values) => {
    const select = $(id);
    const chosen = state.url[id.slice(2)] || "";
    select.replaceChildren(new Option("any", ""));
    for (const { value, count } of values) select.add(new Option(`${value} (${count})`, value));
    if (chosen && ![...select.options].some((o) => o.value === chosen)) select.add(new Option(chosen, chosen));
    select.value = chosen;
  };
  fill("f-camera", state.facets.cameras);
  fill("f-lens", state.facets.lenses);
  fill("f-format", state.facets.formats);
  fill("f-folder", state.facets.folders);
}

function renderChips(url) {
  const chips = FILTERS.filter((key) => url[key]).map((key) => {
    const chip = document.createElement("button");
    chip.type = "button";
    chip.className = "chip";
    chip.dataset.key = key;
    chip.textContent = `${LABELS[key]}: ${url[key]}`;
    chip.setAttribute("aria-label", `Remove the ${LABELS[key]} filter ${url[key]}`);
    const x = document.createElement("span");
    x.textContent = "✕";
    x.setAttribute("aria-hidden", "true");
    chip.append(x);
    chip.addEventListener("click", () => navigate({ [key]: "" }));
    return chip;
  });
  $("chips").replaceChildren(...chips);
}

// ------------------------------------------------------------------ search
function searchBody(url) {
  const body = { k: K };
  for (const key of ["since", "until", "camera", "lens", "folder"]) if (url[key]) body[key] = url[key];
  if (url.format) body.where = { format: url.format };  // no format filter in PhotoFilter yet
  return body;
}

function readAsDataUrl(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(new Error("the file cannot be read"));
    reader.readAsDataURL(file);
  });
}

async function runSearch(url) {
  state.generation += 1;
  const generation = state.generation;
  showOnly("grid");
  showError("");
  const body = searchBody(url);
  let label;
  let calibration;
  if (url.like) {
    body.like = url.like;
    label = `like ${$("reference-text").dataset.name || "this photo"}`;
    calibration = `/api/calibration?like=${encodeURIComponent(url.like)}`;
    setReference({ id: url.like });
    if (!$("reference-text").dataset.name) {  // a shared link: name the reference photo
      api(`/api/items/${encodeURIComponent(url.like)}`).then((record) => {
        if (state.url.like !== url.like) return;
        setReference({ id: url.like, filename: record.metadata.filename || "" });
      }).catch(() => {});
    }
  } else if (url.q) {
    body.text = url.q;
    label = `for “${url.q}”`;
    calibration = `/api/calibration?q=${encodeURIComponent(url.q)}`;
  } else {
    label = `by image ${state.image.file.name || ""}`.trim();
    calibration = "/api/calibration";
  }
  $("status").textContent = `searching ${label}…`;
  const started = performance.now();
  try {
    if (state.image && !url.q && !url.like) body.image = await readAsDataUrl(state.image.file);
    const [hits, calib] = await Promise.all([
      api("/api/search", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) }),
      api(calibration).catch(() => ({ threshold: null })),
    ]);
    if (generation !== state.generation) return;
    renderHits(hits, calib);
    const ms = Math.round(performance.now() - started);
    $("status").textContent = `${hits.length} results ${label} (${ms} ms)`;
  } catch (error) {
    if (generation !== state.generation) return;
    $("status").textContent = "";
    $("grid").replaceChildren();
    state.items = [];
    if (state.image) setReference(null);  // a failed upload leaves nothing behind
    showError(error.message);
  }
}

function asItem(hit) {
  const m = hit.metadata || {};
  return { id: hit.id, filename: m.filename || hit.uri.split("/").pop(), width: m.width, height: m.height,
    taken: m.taken, camera: m.camera, score: hit.score, rank: hit.rank, metadata: m };
}

function renderHits(hits, calibration) {
  const items = hits.map(asItem);
  const threshold = calibration && typeof calibration.threshold === "number" ? calibration.threshold : null;
  const good = threshold === null ? items : items.filter((it) => it.score >= threshold);
  const weak = threshold === null ? [] : items.filter((it) => it.score < threshold);
  state.items = [...good, ...weak];
  const parts = [];
  if (good.length) {
    const grid = newGrid("good matches");
    grid.id = "good";
    parts.push(grid);
  } else if (weak.length) {
    const note = document.createElement("p");
    note.className = "no-good";
    note.textContent = "No strong matches. These are the closest photos:";
    parts.push(note);
  }
  let weakGrid = null;
  if (weak.length) {
    const details = document.createElement("details");
    details.id = "weaker";
    details.open = good.length === 0;
    const summary = document.createElement("summary");
    summary.textContent = `${weak.length} weaker matches`;
    summary.title = `score below ${threshold}: not clearly better than what this query scores against a typical photo here`;
    weakGrid = newGrid("weaker matches");
    details.append(summary, weakGrid);
    parts.push(details);
  }
  $("grid").replaceChildren(...parts);
  if (good.length) fillGrid(parts[0], good, 0, handlers, { eager: true });
  if (weakGrid) fillGrid(weakGrid, weak, good.length, handlers, { eager: true });
}

function setReference(ref) {
  if (state.image && (!ref || ref.id)) {
    URL.revokeObjectURL(state.image.url);
    state.image = null;
  }
  const box = $("reference");
  box.hidden = !ref;
  if (!ref) {
    $("reference-text").dataset.name = "";
    return;
  }
  const img = $("reference-image");
  if (ref.file) {
    img.src = state.image.url;
    $("reference-text").textContent = `Searching by this image: ${ref.file.name || "pasted image"}`;
  } else {
    img.src = thumbUrl(ref.id, 128);
    const name = ref.filename || $("reference-text").dataset.name || "";
    $("reference-text").dataset.name = name;
    $("reference-text").textContent = `More like ${name || "this photo"}`;
  }
}

function searchImage(file) {
  if (!file || !file.type.startsWith("image/")) {
    showError("that is not an image file");
    return;
  }
  leaveViewer();
  if (state.image) URL.revokeObjectURL(state.image.url);
  state.image = { file, url: URL.createObjectURL(file) };
  setReference({ file });
  const url = { ...state.url, q: "", like: "", photo: "", view: "" };
  writeUrl(url, true);
  state.url = url;
  $("q").value = "";
  runSearch(url).then(loadFacets);
}

function searchLike(item) {
  leaveViewer();
  $("reference-text").dataset.name = item.filename;
  setReference({ id: item.id, filename: item.filename });
  $("q").value = "";
  navigate({ like: item.id, q: "", view: "" });
}

const handlers = {
  open: (index) => {
    openAt(index);
  },
  like: (item) => searchLike(item),
};

// ------------------------------------------------------------------ the viewer
let pushNext = false;   // the next photo change adds a history entry (opened by a click)
let pushedEntry = false;  // the open viewer has its own history entry: closing goes back

function openAt(index) {
  if (!state.items[index]) return;
  pushNext = true;
  openViewer(state.items, index, viewerHooks);
}

const viewerHooks = {
  change: (item) => {
    state.url = { ...state.url, photo: item.id };
    writeUrl(state.url, pushNext);
    if (pushNext) pushedEntry = true;
    pushNext = false;
  },
  close: () => {
    const id = state.url.photo;
    state.url = { ...state.url, photo: "" };
    if (pushedEntry) {
      pushedEntry = false;
      history.back();
    } else {
      writeUrl(state.url, false);
    }
    const tile = id && document.querySelector(`li.tile[data-id="${CSS.escape(id)}"] .open`);
    if (tile) tile.focus({ preventScroll: true });
  },
  like: (item) => searchLike(item),
};

function leaveViewer() {
  pushedEntry = false;
  closeViewer();
}

async function syncViewer(photo) {
  if (!photo) {
    if (viewerOpen()) leaveViewer();
    return;
  }
  if (currentPhotoId() === photo) return;
  const index = state.items.findIndex((it) => it.id === photo);
  if (index >= 0) {
    openViewer(state.items, index, viewerHooks);
    return;
  }
  try {  // a shared link to a photo that is not on this page: show it alone
    const record = await api(`/api/items/${encodeURIComponent(photo)}`);
    openViewer([asItem({ ...record, score: undefined, rank: undefined })], 0, viewerHooks);
  } catch (error) {
    showError(`photo not found: ${error.message}`);
  }
}

// ------------------------------------------------------------------ start
async function loadInfo() {
  try {
    const info = await api("/api/info");
    const encoder = info.encoder ? `${info.encoder.model} encoder` : "no encoder yet";
    let text = `${info.count} photos · ${encoder} · collection ${info.collection}`;
    if (info.indexing) text += info.indexing.busy ? " · indexing…" : " · watching";
    $("info").textContent = text;
    return info;
  } catch (error) {
    $("info").textContent = `info unavailable: ${error.message}`;
    return null;
  }
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
    const text = $("q").value.trim();
    setReference(null);
    navigate({ q: text, like: "", view: "" });
  });
  $("file").addEventListener("change", (event) => {
    searchImage(event.target.files[0]);
    event.target.value = "";
  });
  $("reference-clear").addEventListener("click", () => {
    setReference(null);
    navigate({ like: "", q: "" });
  });
  for (const key of FILTERS) {
    $(`f-${key}`).addEventListener("change", (event) => navigate({ [key]: event.target.value }));
  }
  $("f-group").addEventListener("change", (event) => navigate({ group: event.target.value }));
  for (const id of ["nav-library", "nav-folders"]) {
    $(id).addEventListener("click", (event) => {
      event.preventDefault();
      setReference(null);
      const folders = id === "nav-folders";
      navigate(folders ? { view: "folders", q: "", like: "" } : { view: "", q: "", like: "", ...Object.fromEntries(FILTERS.map((k) => [k, ""])) });
    });
  }
  window.addEventListener("popstate", () => apply(readUrl()));
  new IntersectionObserver((entries) => {
    if (entries.some((e) => e.isIntersecting) && !$("library").hidden) loadPage();
  }, { rootMargin: "1200px 0px" }).observe($("more"));
  document.addEventListener("keydown", (event) => {
    if (event.key === "/" && document.activeElement !== $("q") && !viewerOpen()) {
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
  const url = readUrl();
  if (location.hash) writeUrl(url, false);  // #q= links become ?q=
  loadInfo().then((info) => { if (info && info.indexing) setInterval(loadInfo, 5000); });
  await apply(url);
}

start();
