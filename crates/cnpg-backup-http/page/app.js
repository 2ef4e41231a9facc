// The Backup & Restore page: sign-in, the two tabs, and nothing else. It uses only the HTTP API
// of cnpg-backup (see api.js), so any control plane that serves the API can serve this page.

import { get, token, setToken, takeTokenFromFragment, whenUnauthorized } from "./api.js";
import { $, showProblem, labelTableCells } from "./ui.js";
import * as backup from "./backup.js";
import * as restore from "./restore.js";

const TABS = ["backup", "restore"];
const loaded = new Set();

function currentTab() {
  const t = new URLSearchParams(location.search).get("tab");
  return TABS.includes(t) ? t : "backup";
}

function showTab(name, { push = false, focus = false } = {}) {
  for (const t of TABS) {
    const tab = $(`tab-${t}`);
    const on = t === name;
    tab.setAttribute("aria-selected", String(on));
    tab.tabIndex = on ? 0 : -1;
    $(`panel-${t}`).hidden = !on;
    if (on && focus) tab.focus();
  }
  document.title = `${name === "restore" ? "Restore" : "Backup"} · Backup & Restore · cnpg-backup`;
  if (push) {
    const u = new URL(location.href);
    if (name === "backup") u.searchParams.delete("tab");
    else u.searchParams.set("tab", name);
    if (name !== "restore") u.searchParams.delete("restore");
    history.pushState(null, "", u.pathname + u.search);
  }
  if (!loaded.has(name)) {
    loaded.add(name);
    // A User Timing mark when the tab shows its data (scripts/bench-page.sh reads it).
    (name === "restore" ? restore : backup).load().then(() => performance.mark(`${name}-tab-loaded`));
  } else if (name === "backup") {
    backup.refreshStatus();
  }
}

function signedOut(problem) {
  setToken(null);
  loaded.clear();
  $("app").hidden = true;
  $("sign-out").hidden = true;
  $("sign-in").hidden = false;
  const err = $("sign-in-error");
  if (problem) {
    err.textContent = `${problem.detail || "the token was refused"}`;
    err.hidden = false;
  } else {
    err.hidden = true;
  }
  $("token-input").focus();
}

async function signedIn() {
  try {
    await get("status");
  } catch (e) {
    if (e.status === 401) return; // whenUnauthorized showed the form
    showProblem($("page-error"), e);
  }
  $("sign-in").hidden = true;
  $("app").hidden = false;
  $("sign-out").hidden = false;
  showTab(currentTab());
}

function init() {
  labelTableCells();
  backup.init();
  restore.init();
  whenUnauthorized(signedOut);
  for (const t of TABS) $(`tab-${t}`).addEventListener("click", () => showTab(t, { push: true }));
  $("app").querySelector('[role="tablist"]').addEventListener("keydown", (ev) => {
    if (!["ArrowLeft", "ArrowRight", "Home", "End"].includes(ev.key)) return;
    ev.preventDefault();
    const i = TABS.indexOf(currentTab());
    const next = ev.key === "Home" ? 0 : ev.key === "End" ? TABS.length - 1 : (i + (ev.key === "ArrowRight" ? 1 : TABS.length - 1)) % TABS.length;
    showTab(TABS[next], { push: true, focus: true });
  });
  window.addEventListener("popstate", () => showTab(currentTab()));
  $("sign-in-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const t = $("token-input").value.trim();
    if (!t) return;
    setToken(t);
    $("token-input").value = "";
    signedIn();
  });
  $("sign-out").addEventListener("click", () => signedOut(null));
  // The sign-in link opened in a tab that already shows the page changes only the fragment.
  window.addEventListener("hashchange", () => {
    if (takeTokenFromFragment()) signedIn();
  });
  takeTokenFromFragment();
  if (token()) signedIn();
  else signedOut(null);
}

init();
