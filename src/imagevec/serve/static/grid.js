// Justified photo grids: every tile keeps its photo's aspect ratio, rows fill the width.
// The row packing is Flickr's justified-layout (vendored, see static/vendor/); this module
// builds the tiles and positions them (CSSOM styles: allowed by the strict CSP).
"use strict";

const justify = window.require("justified-layout");
const grids = new Set();

export function thumbUrl(id, size = 256) {
  return `/api/items/${encodeURIComponent(id)}/thumbnail?size=${size}`;
}

function rowHeight(width) {
  if (width < 480) return 110;
  if (width < 900) return 160;
  return 200;
}

// A tile for one photo: a button that opens it, the name (for screen readers and hover),
// and for search hits the rank, the score and "more like this".
function tile(item, index, onOpen, onLike, eager) {
  const li = document.createElement("li");
  li.className = "tile";
  li.dataset.id = item.id;
  li.dataset.index = String(index);
  const open = document.createElement("button");
  open.className = "open";
  open.type = "button";
  const label = item.rank ? `#${item.rank} ${item.filename}, score ${item.score.toFixed(3)}`
    : `${item.filename}, ${item.taken ? item.taken.replace("T", " ") : ""}`;
  open.setAttribute("aria-label", `${label}: open`);
  const img = document.createElement("img");
  img.src = thumbUrl(item.id, 384);
  img.alt = item.filename;
  img.decoding = "async";
  img.loading = eager ? "eager" : "lazy";
  open.append(img);
  open.addEventListener("click", () => onOpen(index));
  const name = document.createElement("span");
  name.className = "name";
  name.textContent = item.filename;
  li.append(open, name);
  if (item.rank) {
    const rank = document.createElement("span");
    rank.className = "rank";
    rank.textContent = `#${item.rank}`;
    const score = document.createElement("span");
    score.className = "score";
    score.textContent = item.score.toFixed(3);
    score.title = "cosine similarity (higher is better)";
    const like = document.createElement("button");
    like.className = "like";
    like.type = "button";
    like.textContent = "more like this";
    like.addEventListener("click", () => onLike(item));
    li.append(rank, score, like);
  }
  return li;
}

function layout(list) {
  const items = list._items || [];
  const width = list.clientWidth;
  if (!width || !items.length) {
    list.style.height = "0px";
    return;
  }
  const sizes = items.map((it) => ({ width: it.width || 4, height: it.height || 3 }));
  const target = rowHeight(width);
  const geometry = justify(sizes, {
    containerWidth: width,
    containerPadding: 0,
    boxSpacing: 4,
    targetRowHeight: target,
    maxNumRows: Number.POSITIVE_INFINITY,
    widowLayoutStyle: "left",
  });
  [...list.children].forEach((li, i) => {
    const box = geometry.boxes[i];
    if (!box) return;
    li.style.left = `${box.left}px`;
    li.style.top = `${box.top}px`;
    li.style.width = `${box.width}px`;
    li.style.height = `${box.height}px`;
  });
  list.style.height = `${Math.ceil(geometry.containerHeight)}px`;
}

// Fill (or extend) a justified grid <ol> with items; offset = their index in the viewer list.
export function fillGrid(list, items, offset, handlers, { append = false, eager = false } = {}) {
  if (!append || !list._items) {
    list.replaceChildren();
    list._items = [];
  }
  const start = list._items.length;
  list._items.push(...items);
  list.append(...items.map((item, i) =>
    tile(item, offset + i, handlers.open, handlers.like, eager || start + i < 24)));
  grids.add(list);
  layout(list);
}

export function newGrid(label) {
  const list = document.createElement("ol");
  list.className = "jgrid";
  if (label) list.setAttribute("aria-label", label);
  return list;
}

export function relayoutAll() {
  for (const list of [...grids]) {
    if (!list.isConnected) grids.delete(list);
    else layout(list);
  }
}

let pending = 0;
window.addEventListener("resize", () => {
  cancelAnimationFrame(pending);
  pending = requestAnimationFrame(relayoutAll);
});

// A <details> opening (weaker matches) gives its grid a width: lay it out then.
document.addEventListener("toggle", () => relayoutAll(), true);
