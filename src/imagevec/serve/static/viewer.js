// The photo viewer: PhotoSwipe (vendored) for zoom, pan, swipe and keys; our info panel
// (date taken, camera, lens, exposure, size, place) and actions (more like this, download).
"use strict";

import PhotoSwipe from "/static/vendor/photoswipe-5.4.4/photoswipe.esm.min.js";
import { thumbUrl } from "/static/grid.js";

const VIEW_SIZE = 2048;
let pswp = null;

function fit(item) {
  const w = item.width || 1600;
  const h = item.height || 1200;
  const scale = Math.min(1, VIEW_SIZE / Math.max(w, h));
  return { width: Math.round(w * scale), height: Math.round(h * scale) };
}

function slide(item) {
  const size = fit(item);
  return {
    src: `/api/items/${encodeURIComponent(item.id)}/image?max_size=${VIEW_SIZE}`,
    msrc: thumbUrl(item.id, 384),
    alt: item.filename,
    id: item.id,
    item,
    ...size,
  };
}

function row(table, label, value, href) {
  if (value === undefined || value === null || value === "") return;
  const tr = document.createElement("tr");
  const th = document.createElement("th");
  th.textContent = label;
  const td = document.createElement("td");
  if (href) {
    const a = document.createElement("a");
    a.href = href;
    a.target = "_blank";
    a.rel = "noopener noreferrer";
    a.textContent = value;
    td.append(a);
  } else {
    td.textContent = value;
  }
  tr.append(th, td);
  table.append(tr);
}

export function formatDate(iso) {
  if (!iso) return "";
  const [day, time] = iso.split("T");
  const date = new Date(`${day}T00:00:00Z`);
  const text = date.toLocaleDateString(undefined, {
    weekday: "short", year: "numeric", month: "long", day: "numeric", timeZone: "UTC",
  });
  return time ? `${text}, ${time.slice(0, 5)}` : text;
}

function exposure(m) {
  const parts = [];
  if (m.exposure_time) parts.push(`${m.exposure_time} s`);
  if (m.f_number) parts.push(`f/${m.f_number}`);
  if (m.iso) parts.push(`ISO ${m.iso}`);
  if (m.focal_length) parts.push(`${m.focal_length} mm`);
  return parts.join(" · ");
}

function bytes(n) {
  if (!n) return "";
  if (n < 1e3) return `${n} B`;
  return n > 1e6 ? `${(n / 1e6).toFixed(1)} MB` : `${Math.round(n / 1e3)} kB`;
}

async function fillInfo(panel, item) {
  const table = document.createElement("table");
  panel.replaceChildren(table);
  let m = item.metadata;
  if (!m) {
    try {
      const response = await fetch(`/api/items/${encodeURIComponent(item.id)}`,
        { credentials: "same-origin" });
      m = response.ok ? (await response.json()).metadata : {};
    } catch (_) { m = {}; }
  }
  if (!panel.isConnected || panel.dataset.id !== item.id) return;
  const title = document.createElement("h2");
  title.textContent = m.filename || item.filename;
  panel.prepend(title);
  row(table, "Taken", m.taken ? formatDate(m.taken) : `${formatDate(item.taken)} (file date)`);
  row(table, "Camera", m.camera);
  row(table, "Lens", m.lens);
  row(table, "Exposure", exposure(m));
  const size = m.width ? `${m.width} × ${m.height}` : "";
  row(table, "Size", [size, bytes(m.bytes), m.format].filter(Boolean).join(" · "));
  if (item.folder) row(table, "Folder", item.folder);
  if (typeof m.gps_lat === "number" && typeof m.gps_lon === "number") {
    const lat = m.gps_lat.toFixed(5);
    const lon = m.gps_lon.toFixed(5);
    row(table, "Place", `${lat}, ${lon}`,
      `https://www.openstreetmap.org/?mlat=${lat}&mlon=${lon}#map=15/${lat}/${lon}`);
  }
  if (item.score !== undefined) row(table, "Score", `${item.score.toFixed(3)} (#${item.rank})`);
}

// Open the viewer on items[index]. hooks: change(item), close(), like(item).
export function openViewer(items, index, hooks) {
  if (pswp) pswp.destroy();
  const viewer = new PhotoSwipe({
    dataSource: items.map(slide),
    index,
    bgOpacity: 1,
    loop: false,
    showHideAnimationType: "fade",
    padding: { top: 44, bottom: 8, left: 0, right: 0 },
    arrowPrevTitle: "Previous (←)",
    arrowNextTitle: "Next (→)",
  });
  viewer.on("uiRegister", () => {
    viewer.ui.registerElement({
      name: "like", order: 8, isButton: true, title: "More like this",
      html: '<span class="long">More like this</span><span class="short">Similar</span>',
      className: "pswp-text-button",
      onClick: () => hooks.like(viewer.currSlide.data.item),
    });
    viewer.ui.registerElement({
      name: "download", order: 8, isButton: true, tagName: "a", title: "Download the original",
      html: "Download", className: "pswp-text-button",
      onInit: (el, p) => {
        el.setAttribute("download", "");
        const update = () => { el.href = `/api/items/${encodeURIComponent(p.currSlide.data.id)}/original`; };
        p.on("change", update);
      },
    });
    viewer.ui.registerElement({
      name: "info-toggle", order: 9, isButton: true, title: "Details", html: "Info",
      className: "pswp-text-button",
      onClick: () => document.body.classList.toggle("viewer-info-hidden"),
    });
    viewer.ui.registerElement({
      name: "info", order: 10, appendTo: "root", className: "viewer-info",
      onInit: (el, p) => {
        el.setAttribute("aria-live", "polite");
        const update = () => {
          const item = p.currSlide.data.item;
          el.dataset.id = item.id;
          fillInfo(el, item);
          hooks.change(item);
        };
        p.on("change", update);
      },
    });
  });
  // keys and gestures work once the opening animation is over: say so (tests wait on it)
  viewer.on("openingAnimationEnd", () => { document.body.dataset.viewer = "open"; });
  viewer.on("close", () => {
    delete document.body.dataset.viewer;
    pswp = null;
    hooks.close();
  });
  viewer.init();
  pswp = viewer;
  return viewer;
}

export function closeViewer() {
  if (pswp) pswp.close();
}

export function viewerOpen() {
  return pswp !== null;
}

export function currentPhotoId() {
  return pswp && pswp.currSlide ? pswp.currSlide.data.id : null;
}
