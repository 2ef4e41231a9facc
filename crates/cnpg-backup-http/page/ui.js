// Small DOM helpers shared by both tabs. Text is always set as text, never as HTML.

export const $ = (id) => document.getElementById(id);

/** Creates an element with properties/attributes and children (strings become text). */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "text") el.textContent = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k in el && typeof v !== "string") el[k] = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** Says `text` to screen readers (and nothing on screen). */
export function announce(text) {
  const el = $("announce");
  el.textContent = "";
  setTimeout(() => { el.textContent = text; }, 20);
}

/** Shows an API problem (or any error) in `el`; hides it when `err` is null. */
export function showProblem(el, err) {
  el.replaceChildren();
  if (!err) {
    el.hidden = true;
    return;
  }
  const p = err.problem || { title: "error", detail: String(err.message || err) };
  const head = p.status ? `${p.title || "error"} (${p.status})` : (p.title || "error");
  el.append(h("div", { class: "title", text: head }), h("div", { text: p.detail || "" }));
  if (p.field) el.append(h("div", {}, "Field: ", h("code", { text: p.field })));
  for (const c of p.causes || []) el.append(h("div", { class: "muted", text: `caused by: ${c}` }));
  if (p.hint) el.append(h("div", { class: "muted", text: `Hint: ${p.hint}` }));
  el.hidden = false;
}

/** An RFC 3339 time as `2026-11-26 02:30:00 UTC`, or a dash. */
export function when(t) {
  if (!t) return "—";
  const d = new Date(t);
  if (Number.isNaN(d.getTime())) return t;
  return d.toISOString().replace("T", " ").replace(/\.\d+Z$|Z$/, " UTC");
}

/** A badge element's text and colour. */
export function badge(el, text, kind) {
  el.textContent = text;
  el.className = `badge ${kind || ""}`.trim();
}

/** Runs `f` with `button` disabled (and busy for assistive technology) meanwhile. */
export async function busy(button, f) {
  const was = button.disabled;
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  try {
    return await f();
  } finally {
    button.removeAttribute("aria-busy");
    button.disabled = was;
  }
}

/** Debounces `f` by `ms`. */
export function debounce(f, ms) {
  let t;
  return (...args) => {
    clearTimeout(t);
    t = setTimeout(() => f(...args), ms);
  };
}

/** Labels every cell of the data tables with its column's header (narrow layouts show it). */
export function labelTableCells() {
  const label = () => {
    for (const table of document.querySelectorAll("table.data")) {
      const heads = [...table.querySelectorAll("thead th")].map((th) => th.textContent.trim());
      for (const tr of table.querySelectorAll("tbody tr")) {
        [...tr.children].forEach((td, i) => {
          if (heads[i] !== undefined && td.dataset.label !== heads[i]) td.dataset.label = heads[i];
        });
      }
    }
  };
  new MutationObserver(label).observe(document.body, { childList: true, subtree: true });
  label();
}
