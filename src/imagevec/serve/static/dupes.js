// The duplicates page: `imagevec dupes` groups side by side, the suggested keeper marked with
// the reason it won. Read-only unless the server was started with --trash DIR: then each
// copy can be moved to that folder, after a confirmation. Nothing is ever deleted.
"use strict";

const $ = (id) => document.getElementById(id);
let trashEnabled = false;

function text(tag, className, value) {
  const el = document.createElement(tag);
  if (className) el.className = className;
  el.textContent = value;
  return el;
}

function size(m) {
  const parts = [];
  if (m.width) parts.push(`${m.width} × ${m.height}`);
  if (m.bytes) parts.push(m.bytes > 1e6 ? `${(m.bytes / 1e6).toFixed(1)} MB` : m.bytes >= 1e3 ? `${Math.round(m.bytes / 1e3)} kB` : `${m.bytes} B`);
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
  if (trashEnabled) {
    const move = text("button", "trash", "Move to trash…");
    move.type = "button";
    move.addEventListener("click", () => moveToTrash(hit, keeper));
    li.append(move);
  }
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

async function moveToTrash(hit, keeper) {
  const name = (hit.metadata || {}).filename || hit.id;
  const warning = keeper ? " It is the suggested keeper of its group." : "";
  if (!window.confirm(`Move “${name}” to the trash folder?${warning} The file is moved, not deleted; it leaves the index.`)) return;
  try {
    const response = await fetch("/api/dupes/trash", {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json" }, body: JSON.stringify({ id: hit.id }),
    });
    const body = await response.json();
    if (!response.ok) throw new Error(typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail));
    $("error").hidden = true;
    await load();
    $("status").textContent = `Moved ${name} to the trash folder (${body.moved_to}). ${$("status").textContent}`;
  } catch (error) {
    $("error").hidden = false;
    $("error").textContent = error.message;
  }
}

async function load() {
  const threshold = new URLSearchParams(location.search).get("threshold") || "";
  $("threshold").value = threshold;
  $("status").textContent = "looking for duplicates…";
  try {
    const state = await fetch("/api/dupes/trash", { credentials: "same-origin" });
    trashEnabled = state.ok && (await state.json()).enabled === true;
    $("mode").textContent = trashEnabled
      ? "Each copy can be moved to the server's trash folder (you are asked first); nothing is deleted."
      : "Read-only: this page suggests which copy to keep; nothing is moved or deleted from here. Start the server with --trash DIR to move copies from here, or use imagevec dupes.";
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
