// The table view of jupyter_mltrack: one page of rows sent by the kernel, which
// sorts and pages. Clicking a header sets `_sort`, clicking a row or its box sets
// `_selected`, the pager sets `_page`; the kernel answers with new `_rows`.

const NUMERIC = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;

function fmtNumber(v) {
  if (v === null || v === undefined) return "";
  if (typeof v === "string") return v;
  if (typeof v === "boolean") return String(v);
  if (!isFinite(v)) return Number.isNaN(v) ? "NaN" : v > 0 ? "∞" : "-∞";
  const a = Math.abs(v);
  if (Number.isInteger(v) && a < 1e15) return v.toLocaleString("en-US");
  if (a >= 1e4 && a < 1e15) return Math.round(v).toLocaleString("en-US");
  if (a >= 1e-3) return String(Number(v.toPrecision(4)));
  return v.toExponential(3);
}

function fmtDuration(s) {
  if (s === null || s === undefined) return "";
  s = Math.max(0, s);
  if (s < 10) return s.toFixed(1) + "s";
  if (s < 60) return Math.round(s) + "s";
  let m = Math.floor(Math.round(s) / 60);
  const sec = Math.round(s) % 60;
  if (m < 60) return `${m}m ${String(sec).padStart(2, "0")}s`;
  let h = Math.floor(m / 60);
  m = m % 60;
  if (h < 48) return `${h}h ${String(m).padStart(2, "0")}m`;
  return `${Math.floor(h / 24)}d ${String(h % 24).padStart(2, "0")}h`;
}

function fmtTime(ms) {
  if (ms === null || ms === undefined) return "";
  const d = new Date(ms);
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ` +
    `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

function fmtSize(b) {
  if (b === null || b === undefined) return "";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (b >= 1024 && i < units.length - 1) { b /= 1024; i++; }
  return (i === 0 ? b : b.toFixed(1)) + " " + units[i];
}

const FOLDER = '<svg width="14" height="14" viewBox="0 0 16 16" class="mlt-icon">' +
  '<path fill="currentColor" d="M1.75 2.5h4.2l1.5 1.5h6.8c.41 0 .75.34.75.75v8.5c0 ' +
  '.41-.34.75-.75.75H1.75a.75.75 0 0 1-.75-.75v-10c0-.41.34-.75.75-.75Z"/></svg>';
const FILE = '<svg width="14" height="14" viewBox="0 0 16 16" class="mlt-icon">' +
  '<path fill="none" stroke="currentColor" stroke-width="1.3" d="M3.5 1.5h6l3 3v10h-9z' +
  'M9.5 1.5v3h3"/></svg>';

function cell(td, kind, v) {
  if (v === null || v === undefined) { td.classList.add("mlt-empty"); return; }
  switch (kind) {
    case "number":
      td.classList.add("mlt-num");
      td.textContent = fmtNumber(v);
      td.title = String(v);
      break;
    case "status": {
      const b = document.createElement("span");
      b.className = "mlt-badge" + (v === "RUNNING" ? " mlt-live" : "");
      // Colors come from the stylesheet's .mlt-badge-<STATUS> rules (light and dark).
      b.classList.add("mlt-badge-" + String(v).replace(/[^A-Za-z0-9]/g, "_"));
      const dot = document.createElement("span");
      dot.className = "mlt-dot";
      b.append(dot, document.createTextNode(v));
      td.appendChild(b);
      break;
    }
    case "duration":
      td.classList.add("mlt-num");
      td.textContent = fmtDuration(v);
      break;
    case "time":
      td.textContent = fmtTime(v);
      td.classList.add("mlt-nowrap");
      break;
    case "size":
      td.classList.add("mlt-num");
      td.textContent = fmtSize(v);
      break;
    case "path": {
      const dir = String(v).endsWith("/");
      td.innerHTML = dir ? FOLDER : FILE;
      td.appendChild(document.createTextNode(" " + v));
      td.classList.add(dir ? "mlt-dir" : "mlt-file");
      break;
    }
    default: {
      const s = String(v);
      td.textContent = s;
      td.title = s;
      if (NUMERIC.test(s)) td.classList.add("mlt-num");
    }
  }
}

function render({ model, el }) {
  el.classList.add("mlt", "mlt-grid");
  const scroller = document.createElement("div");
  scroller.className = "mlt-grid-scroll";
  const table = document.createElement("table");
  table.className = "mlt-grid-table";
  scroller.appendChild(table);
  const footer = document.createElement("div");
  footer.className = "mlt-grid-footer";
  el.append(scroller, footer);

  const send = (name, value) => { model.set(name, value); model.save_changes(); };

  // Offsets of the sticky columns: each one sits right of the previous. Measured again
  // whenever the table changes size: drawn while hidden (a closed tab, an output not yet
  // attached) every width reads 0, and the Run column would sit over the box column,
  // leaving a gap where scrolled cells showed through.
  // Scrolling sideways snaps to column starts just right of the frozen columns, so no
  // sliver of a half-scrolled column shows beside the Run column.
  function placeSticky() {
    let frozen = 0;
    for (const tr of table.querySelectorAll("tr")) {
      let left = 0;
      for (const c of tr.querySelectorAll(".mlt-sticky")) {
        c.style.left = left + "px";
        left += c.getBoundingClientRect().width;
      }
      frozen = Math.max(frozen, left);
    }
    scroller.style.scrollPaddingLeft = frozen + "px";
  }
  const resized = typeof ResizeObserver === "undefined" ? null
    : new ResizeObserver(() => placeSticky());
  if (resized) resized.observe(table);

  function toggle(id) {
    const mode = model.get("_selection");
    if (mode === "none") return;
    let selected = model.get("_selected").slice();
    const i = selected.indexOf(id);
    if (mode === "single") {
      selected = [id];
    } else if (i >= 0) {
      selected.splice(i, 1);
    } else {
      const max = model.get("_max_selected");
      if (max > 0 && selected.length >= max) selected.shift();
      selected.push(id);
    }
    send("_selected", selected);
  }

  function draw() {
    const cols = model.get("_columns");
    const rows = model.get("_rows");
    const ids = model.get("_row_ids");
    const selected = new Set(model.get("_selected"));
    const sort = model.get("_sort") || {};
    const mode = model.get("_selection");
    const sticky = model.get("_sticky");
    scroller.style.maxHeight = model.get("_max_height") + "px";
    table.replaceChildren();

    const thead = document.createElement("thead");
    const hasGroups = cols.some((c) => c.group);
    const boxCol = mode === "multi";
    if (hasGroups) {
      const gr = document.createElement("tr");
      gr.className = "mlt-grid-groups";
      if (boxCol) gr.appendChild(document.createElement("th")).className = "mlt-sticky mlt-box";
      let i = 0;
      while (i < cols.length) {
        // Frozen columns get a cell each, so no band cell both sticks and spans.
        let j = i + 1;
        if (i >= sticky) while (j < cols.length && cols[j].group === cols[i].group) j++;
        const th = document.createElement("th");
        th.colSpan = j - i;
        const label = document.createElement("span");
        label.className = "mlt-group-label";
        label.textContent = cols[i].group || "";
        th.appendChild(label);
        if (cols[i].group) th.className = "mlt-group mlt-group-" + cols[i].group.toLowerCase();
        if (i < sticky) th.classList.add("mlt-sticky");
        gr.appendChild(th);
        i = j;
      }
      thead.appendChild(gr);
    }
    const hr = document.createElement("tr");
    if (boxCol) {
      const th = document.createElement("th");
      th.className = "mlt-sticky mlt-box";
      const box = document.createElement("input");
      box.type = "checkbox";
      box.title = "Select the rows of this page";
      box.checked = ids.length > 0 && ids.every((id) => selected.has(id));
      box.addEventListener("click", (e) => {
        e.stopPropagation();
        let next = model.get("_selected").slice();
        if (box.checked) {
          for (const id of ids) if (!next.includes(id)) next.push(id);
          const max = model.get("_max_selected");
          if (max > 0 && next.length > max) next = next.slice(next.length - max);
        } else {
          next = next.filter((id) => !ids.includes(id));
        }
        send("_selected", next);
      });
      th.appendChild(box);
      hr.appendChild(th);
    }
    cols.forEach((c, i) => {
      const th = document.createElement("th");
      th.dataset.key = c.key;
      th.className = "mlt-sortable" + (i < sticky ? " mlt-sticky" : "");
      if (c.kind === "number" || c.kind === "duration" || c.kind === "size") th.classList.add("mlt-num");
      const label = document.createElement("span");
      label.textContent = c.label;
      th.title = `${c.key} (click to sort)`;
      th.appendChild(label);
      if (sort.key === c.key) {
        const arrow = document.createElement("span");
        arrow.className = "mlt-sort";
        arrow.textContent = sort.ascending ? " ▲" : " ▼";
        th.appendChild(arrow);
        th.classList.add("mlt-sorted");
      }
      th.addEventListener("click", () => {
        const current = model.get("_sort") || {};
        send("_sort", { key: c.key, ascending: current.key === c.key ? !current.ascending : true });
      });
      hr.appendChild(th);
    });
    thead.appendChild(hr);
    table.appendChild(thead);

    const tbody = document.createElement("tbody");
    rows.forEach((row, r) => {
      const id = ids[r];
      const tr = document.createElement("tr");
      tr.dataset.id = id;
      if (selected.has(id)) tr.classList.add("mlt-selected");
      if (mode !== "none") tr.classList.add("mlt-clickable");
      if (boxCol) {
        const td = document.createElement("td");
        td.className = "mlt-sticky mlt-box";
        const box = document.createElement("input");
        box.type = "checkbox";
        box.checked = selected.has(id);
        box.setAttribute("aria-label", "select row");
        box.addEventListener("click", (e) => { e.stopPropagation(); toggle(id); });
        td.appendChild(box);
        tr.appendChild(td);
      }
      cols.forEach((c, i) => {
        const td = document.createElement("td");
        if (i < sticky) td.classList.add("mlt-sticky");
        if (c.kind === "name") {
          td.classList.add("mlt-name");
          td.textContent = row[i] === null ? "" : String(row[i]);
          td.title = id;
        } else {
          cell(td, c.kind, row[i]);
        }
        tr.appendChild(td);
      });
      tr.addEventListener("click", () => toggle(id));
      tbody.appendChild(tr);
    });
    table.appendChild(tbody);
    requestAnimationFrame(placeSticky);

    footer.replaceChildren();
    const total = model.get("_total");
    const size = model.get("_page_size");
    const page = model.get("_page");
    const pages = Math.max(1, Math.ceil(total / size));
    const info = document.createElement("span");
    info.className = "mlt-muted";
    if (total === 0) {
      info.textContent = model.get("_empty");
      info.classList.add("mlt-grid-empty");
    } else {
      const a = page * size + 1;
      const b = Math.min(total, (page + 1) * size);
      info.textContent = `${a.toLocaleString("en-US")}–${b.toLocaleString("en-US")} of ` +
        `${total.toLocaleString("en-US")}` + (model.get("_more") ? "+ · loading more…" : "");
    }
    footer.appendChild(info);
    if (pages > 1) {
      const nav = document.createElement("span");
      nav.className = "mlt-pager";
      const button = (text, target, title) => {
        const b = document.createElement("button");
        b.textContent = text;
        b.title = title;
        b.disabled = target < 0 || target >= pages || target === page;
        b.addEventListener("click", () => send("_page", target));
        return b;
      };
      const where = document.createElement("span");
      where.textContent = `Page ${page + 1} of ${pages.toLocaleString("en-US")}`;
      nav.append(button("«", 0, "First page"), button("‹", page - 1, "Previous page"), where,
        button("›", page + 1, "Next page"), button("»", pages - 1, "Last page"));
      footer.appendChild(nav);
    }
    if (mode === "multi" && selected.size > 0) {
      const sel = document.createElement("span");
      sel.className = "mlt-grid-selection";
      sel.textContent = `${selected.size} selected`;
      const clear = document.createElement("button");
      clear.className = "mlt-link";
      clear.textContent = "clear";
      clear.addEventListener("click", () => send("_selected", []));
      sel.appendChild(clear);
      footer.appendChild(sel);
    }
  }

  let pending = false;
  const schedule = () => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => { pending = false; draw(); });
  };
  draw();
  const traits = ["_columns", "_rows", "_row_ids", "_selected", "_sort", "_page", "_page_size",
    "_total", "_more", "_selection", "_max_selected", "_empty", "_max_height", "_sticky"];
  for (const t of traits) model.on("change:" + t, schedule);
  return () => {
    for (const t of traits) model.off("change:" + t, schedule);
    if (resized) resized.disconnect();
  };
}

export default { render };
