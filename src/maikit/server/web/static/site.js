// Progressive additions: local times, live status of running submissions, upload size check.
// Every page works without this file.
"use strict";

function localTimes(root) {
  for (const t of root.querySelectorAll("time[data-local]")) {
    const d = new Date(t.getAttribute("datetime"));
    const span = t.nextElementSibling;
    if (!isNaN(d) && span && span.classList.contains("local")) {
      span.textContent = "your time: " + d.toLocaleString(undefined, {dateStyle: "medium", timeStyle: "short"});
    }
  }
}

function cellText(row, field, text) {
  const cell = row.querySelector('[data-field="' + field + '"]');
  if (cell && cell.textContent !== text) cell.textContent = text;
}

function fmt(v, digits) { return v === null || v === undefined ? "—" : Number(v).toFixed(digits); }

// "Your submissions": poll while any row is still running; the rows update in place.
function pollList(table) {
  const url = table.dataset.poll;
  const tick = async () => {
    let active = false;
    try {
      const r = await fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}});
      if (!r.ok) return;
      const data = await r.json();
      for (const s of data.rows) {
        const row = table.querySelector('tr[data-id="' + s.id + '"]');
        // a new row, or one just done (its reason and actions change): the page again
        if (!row || (row.classList.contains("active") && !s.active)) { location.reload(); return; }
        const st = row.querySelector('[data-field="status"]');
        if (st.textContent.trim() !== s.status) {
          st.innerHTML = "";
          const span = document.createElement("span");
          span.className = "st st-" + s.status.toLowerCase();
          span.textContent = s.status;
          st.appendChild(span);
        }
        cellText(row, "stage", s.stage || "—");
        cellText(row, "queue", s.queue_position === null ? "—" :
          s.queue_position + " ahead" + (s.wait_s === null ? "" : ", about " + Math.round(s.wait_s) + " s"));
        cellText(row, "score", fmt(s.score, 2));
        cellText(row, "runtime_ms", fmt(s.runtime_ms, 1));
        row.classList.toggle("active", s.active);
        active = active || s.active;
      }
    } finally {
      if (active || table.querySelector("tr.active")) setTimeout(tick, 1500);
    }
  };
  if (table.querySelector("tr.active")) setTimeout(tick, 1000);
}

// A submission's page: reload when its status or stage changes, until it is done.
function watchOne(el) {
  const tick = async () => {
    try {
      const r = await fetch(el.dataset.watch, {credentials: "same-origin"});
      if (r.ok) {
        const s = await r.json();
        if (s.status !== el.dataset.status || (s.stage || "") !== el.dataset.stage) { location.reload(); return; }
      }
    } catch (e) { /* the server may restart; try again */ }
    setTimeout(tick, 1500);
  };
  setTimeout(tick, 1500);
}

// Submit: say at once when a chosen file is over the cap (the server checks too).
function sizeCheck(form) {
  const cap = Number(form.dataset.capBytes);
  const hint = form.querySelector("#size-hint");
  form.addEventListener("change", () => {
    const big = [...form.querySelectorAll('input[type="file"]')].flatMap(i => [...i.files]).filter(f => f.size > cap);
    hint.textContent = big.length ? big.map(f => f.name + " is " + (f.size / 1e6).toFixed(1) + " MB, over the cap").join("; ") : "";
  });
}

document.addEventListener("DOMContentLoaded", () => {
  localTimes(document);
  const list = document.querySelector("table[data-poll]");
  if (list) pollList(list);
  const one = document.querySelector("[data-watch]");
  if (one) watchOne(one);
  const form = document.querySelector("#submit-form");
  if (form) sizeCheck(form);
});
