// The duplicates page: `imagevec dupes` groups side by side, the suggested keeper marked with
// the reason it won. Read-only: nothing here moves or deletes a file.
"use strict";

const $ = (id) => document.getElementById(id);

function text(tag, className, value) {
  const el = document.createElement(tag);
  if (className) el.className = className;
  el.textContent = value;
  return el;
}

function size(m) {
  const parts = [];
  if (m.width) parts.push(`${m.width} × ${m.height}`);
  if (m.bytes) parts.push(m.bytes > 1e6 ? `${(m.bytes / 1e6).toFixed(1)} MB` : `${Math.round(m.bytes / 1e3)} kB`);
  if (m.format) parts.push(m.format);
  return parts.join(" · ");
}

function member(hit, keeper) {
  const li = document.createElement("li");
  li.className = keeper ? "member keeper" : "member";
  const m = hit.metadata || {};
  const link = document.createElement("a");
  link.href = `/?photo=${encodeURIComponent(hit.id)}`;
  const img = document.createElement("img");
  img.src = `/api/items/${encodeURIComponent(hit.id)}/thumbnail?size=256`;
  img.alt = m.filename || hit.id;
  img.loading = "lazy";
  link.append(img);
  li.append(link,
    text("span", "badge", keeper ? "keep" : `similarity ${hit.score.toFixed(3)}`),
    text("div", "file", m.filename || hit.id),
    text("div", "meta", hit.folder || ""),
    text("div", "meta", size(m)));
  if (m.taken) li.append(text("div", "meta", `taken ${m.taken.replace("T", " ")}`));
  return li;
}

function plural(n, one, many = `${one}s`) {
  return `${n} ${n === 1 ? one : many}`;
}

function render(groups) {
  const boxes = groups.map((group, i) => {
    const box = document.createElement("section");
    box.className = "dupe-group";
    const title = text("h2", "", `Group ${i + 1}: ${group.size} photos `);
    title.append(text("span", "reason", `— keep ${group.members[0].metadata.filename}: ${group.reason}`));
    const list = document.createElement("ol");
    list.className = "members";
    list.append(...group.members.map((hit, j) => member(hit, j === 0)));
    box.append(title, list);
    return box;
  });
  $("groups").replaceChildren(...boxes);
  const copies = groups.reduce((n, g) => n + g.size - 1, 0);
  $("status").textContent = groups.length
    ? `${plural(groups.length, "group")} of near-identical photos (${plural(copies, "copy", "copies")} beside their keeper)`
    : "No duplicates found.";
}

async function load() {
  const threshold = new URLSearchParams(location.search).get("threshold") || "";
  $("threshold").value = threshold;
  $("status").textContent = "looking for duplicates…";
  try {
    const response = await fetch(`/api/dupes${threshold ? `?threshold=${encodeURIComponent(threshold)}` : ""}`,
      { credentials: "same-origin" });
    const body = await response.json();
    if (!response.ok) throw new Error(typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail));
    $("error").hidden = true;
    render(body);
  } catch (error) {
    $("status").textContent = "";
    $("error").hidden = false;
    $("error").textContent = error.message;
  }
}

$("options").addEventListener("submit", (event) => {
  event.preventDefault();
  const value = $("threshold").value;
  history.pushState(null, "", value ? `/dupes?threshold=${encodeURIComponent(value)}` : "/dupes");
  load();
});
window.addEventListener("popstate", load);
load();
