// The Restore tab: restores in progress, a new restore (catalogs, names, advanced options,
// intent upload, stage-one acknowledgement), and the restore followed to completion with the
// stage-two acknowledgement shown only when the recovery clusters are ready.

import { get, post, call, followRestore } from "./api.js";
import { $, h, announce, showProblem, when, badge, busy, debounce } from "./ui.js";

const MOVING = ["recovery_requested", "provisioning", "cutover"];
const SETTLED = ["completed", "failed", "abandoned"];
const AUTO_REFRESH_MS = 15000;

let live = { admin: "cnpg-admin", tenant: "cnpg-tenant" }; // the live cluster names
let rows = []; // catalog rows shown
let versions = new Map(); // backup name -> BackupVersion
let selected = { admin: null, tenant: null };
let active = null; // the restore followed
let stream = null; // AbortController of the event stream
let timer = null;
let catalogSeq = 0;

const mode = () => document.querySelector('input[name="mode"]:checked').value;
const planesInMode = () => (mode() === "full" ? ["admin", "tenant"] : [$("plane").value]);
const words = (s) => (s || "").replaceAll("_", " ");

function phaseKind(p) {
  if (p === "completed" || p === "ready_for_promotion_checks") return "ok";
  if (p === "failed") return "bad";
  if (p === "abandoned") return "";
  return "busy";
}

// ------------------------------------------------------------------ new restore

function showMode() {
  const m = mode();
  for (const el of document.querySelectorAll("#restore-form [data-mode]")) el.hidden = el.dataset.mode !== m;
  namesHint();
}

function namesHint() {
  const el = $("names-hint");
  const liveNames = [live.admin, live.tenant];
  let created;
  if (mode() === "full") {
    const base = $("base-name").value.trim();
    created = base ? [`${base}-admin`, `${base}-tenant`] : [];
  } else {
    const n = $("recovery-name").value.trim();
    created = n ? [n] : [];
  }
  el.replaceChildren();
  if (!created.length) {
    el.className = "hint bad";
    el.textContent = mode() === "full" ? "Give a base name." : "Give a temporary cluster name.";
    return;
  }
  const clash = created.filter((n) => liveNames.includes(n));
  if (clash.length) {
    el.className = "hint bad";
    el.textContent = `${clash.join(", ")} is a live cluster: the temporary name must differ from ${liveNames.join(" and ")}.`;
    return;
  }
  el.className = "hint";
  el.append("Stage one creates ", ...created.flatMap((n, i) => [i ? " and " : "", h("code", { class: "derived-name", text: n })]),
    `; the live clusters ${liveNames.join(" and ")} are untouched until Apply.`);
}

function rowTime(r) {
  return r.endedAt || r.startedAt || "";
}

function catalogTable(plane, list) {
  const name = `pick-${plane}`;
  const body = list.length ? list.map((r) => {
    const id = `${name}-${r.name}`;
    const input = h("input", { type: "radio", name, id, value: r.name, checked: selected[plane] === r.name,
      onchange: () => { selected[plane] = r.name; afterSelection(); } });
    return h("tr", { class: selected[plane] === r.name ? "selected" : "", "data-backup": r.name, "data-set": r.backupSetId || "" },
      h("td", {}, input),
      h("td", { class: "name" }, h("label", { for: id, text: r.name })),
      h("td", { class: "when", text: when(rowTime(r)) }),
      h("td", { text: r.appVersion || "unknown" }),
      h("td", { class: "name", text: r.backupSetId || "—" }),
      h("td", {}, h("span", { class: `badge ${r.storage === "present" ? "ok" : r.storage === "missing" ? "bad" : ""}`, text: r.storage })),
      h("td", {}, r.namedRestoreReady ? h("span", { class: "badge ok", text: "ready" })
        : h("span", {}, h("span", { class: "badge warn", text: words(r.phase) || "not ready" }), h("div", { class: "muted", text: (r.notReadyReasons || []).join("; ") }))));
  }) : [h("tr", {}, h("td", { colspan: "7", class: "empty", text: "No backups of this plane yet: run a backup on the Backup tab." }))];
  return h("div", { class: "card catalog", id: `catalog-${plane}` },
    h("table", { class: "data" },
      h("caption", { text: `${plane === "admin" ? "Admin" : "Tenant"} backups (${live[plane]}), newest first` }),
      h("thead", {}, h("tr", {}, ...["Pick", "Backup", "Time", "App version", "Backup set", "Storage", "Named restore"].map((t) => h("th", { scope: "col", text: t })))),
      h("tbody", {}, ...body)));
}

function renderCatalogs() {
  const planes = planesInMode();
  $("catalogs").replaceChildren(...planes.map((p) => catalogTable(p, rows.filter((r) => r.plane === p))));
}

/** Selects the newest ready backup of each plane (in full mode, a pair from one set). */
function defaultSelection() {
  const ready = (p) => rows.filter((r) => r.plane === p && r.namedRestoreReady);
  for (const p of ["admin", "tenant"]) {
    if (!rows.some((r) => r.plane === p && r.name === selected[p])) selected[p] = null;
  }
  if (mode() === "full") {
    if (!selected.admin || !selected.tenant) {
      for (const a of ready("admin")) {
        const t = ready("tenant").find((r) => r.backupSetId && r.backupSetId === a.backupSetId);
        if (t) { selected.admin = a.name; selected.tenant = t.name; break; }
      }
    }
  } else {
    const p = $("plane").value;
    if (!selected[p] && ready(p)[0]) selected[p] = ready(p)[0].name;
  }
}

async function loadCatalogs() {
  const seq = ++catalogSeq;
  const planeParam = mode() === "full" ? "both" : $("plane").value;
  $("catalogs").replaceChildren(h("p", { class: "muted", text: "Loading the catalog…" }));
  try {
    const [cat, ver] = await Promise.all([get(`catalog?plane=${planeParam}`), get("versions")]);
    if (seq !== catalogSeq) return;
    rows = cat.slice().sort((a, b) => rowTime(b).localeCompare(rowTime(a)));
    versions = new Map(ver.backups.map((b) => [b.name, b]));
    versions.running = ver.running;
    versions.policy = ver.defaultPolicy;
    showProblem($("restore-problem"), null);
  } catch (e) {
    if (seq !== catalogSeq) return;
    rows = [];
    showProblem($("restore-problem"), e);
  }
  defaultSelection();
  renderCatalogs();
  afterSelection();
}

function chosen(plane) {
  const manual = $(`manual-${plane}`).value.trim();
  return manual || selected[plane];
}

function afterSelection() {
  for (const tr of document.querySelectorAll("#catalogs tr[data-backup]")) {
    const plane = tr.closest(".catalog").id.replace("catalog-", "");
    tr.classList.toggle("selected", selected[plane] === tr.dataset.backup);
  }
  // Set mismatch: full mode, two rows from different backup sets.
  const warn = $("set-warning");
  warn.hidden = true;
  if (mode() === "full" && selected.admin && selected.tenant && !$("manual-admin").value.trim() && !$("manual-tenant").value.trim()) {
    const set = (p) => (rows.find((r) => r.plane === p && r.name === selected[p]) || {}).backupSetId;
    const a = set("admin");
    const t = set("tenant");
    if (a !== t || !a) {
      warn.textContent = `The selected backups are not from the same backup set (admin: ${a || "none"}, tenant: ${t || "none"}). Restoring them together mixes two moments; pick a pair with the same set id, or accept the mismatch under Advanced.`;
      warn.hidden = false;
    }
  }
  // Version hints, before submitting.
  const hints = [];
  if (versions.running !== undefined) hints.push(h("li", { text: `Running app version: ${versions.running || "unknown"} (default policy ${words(versions.policy)}).` }));
  for (const p of planesInMode()) {
    const name = chosen(p);
    if (!name) { hints.push(h("li", { text: `${p}: pick a backup.` })); continue; }
    const v = versions.get(name);
    if (!v) { hints.push(h("li", { text: `${p}: ${name}: no version information.` })); continue; }
    const text = `${p}: ${name} was taken at app version ${v.appVersion || "unknown"} (drift: ${words(v.drift)}). ` +
      (v.refusal ? `Refused by the default policy: ${v.refusal}` : `Allowed by: ${v.allowedBy.map(words).join(", ") || "no policy"}.`);
    hints.push(h("li", { class: v.refusal ? "hint bad" : "", text }));
  }
  $("version-hints").replaceChildren(...hints);
}

function pitrHint() {
  const v = $("pitr").value.trim();
  const el = $("pitr-hint");
  if (!v) { el.textContent = ""; el.className = "hint"; return; }
  const ok = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(v) && !Number.isNaN(Date.parse(v));
  el.className = ok ? "hint ok" : "hint bad";
  el.textContent = ok ? `= ${when(v)}` : "not RFC 3339 with an offset, e.g. 2026-11-26T02:00:00Z";
}

function requestFromForm() {
  const m = mode() === "full"
    ? { kind: "full", baseName: $("base-name").value.trim() }
    : { kind: "single", plane: $("plane").value, recoveryName: $("recovery-name").value.trim() };
  const sources = {};
  const pitr = $("pitr").value.trim();
  for (const p of planesInMode()) {
    const manual = $(`manual-${p}`).value.trim();
    if (pitr) sources[p] = { kind: "point_in_time", targetTime: pitr, pinnedBackup: manual || null };
    else sources[p] = { kind: "backup", backup: chosen(p) || "" };
  }
  return {
    mode: m,
    sources,
    versionPolicy: $("version-policy").value,
    afterSuccess: $("keep-recovery").checked ? "keep" : "cleanup",
    overrides: { acceptSetMismatch: $("accept-mismatch").checked, acceptUnknownVersion: $("accept-unknown").checked },
  };
}

const ackOne = () => $("ack-one-text").textContent.trim();
const ackTwo = () => $("ack-two-text").textContent.trim();

async function plan() {
  showProblem($("restore-problem"), null);
  await busy($("plan"), async () => {
    try {
      const p = await post("restores/plan", { request: requestFromForm() });
      $("plan-view").replaceChildren(h("div", { class: "card" },
        h("h3", { text: "Plan (nothing changed yet)" }),
        h("dl", { class: "kv" },
          h("dt", { text: "Stage one creates" }), h("dd", { text: p.creates.join(", ") }),
          h("dt", { text: "Stage two deletes" }), h("dd", { text: p.deletesLive.join(", ") }),
          h("dt", { text: "…and recreates" }), h("dd", { text: p.recreates.join(", ") }),
          h("dt", { text: "Afterwards removes" }), h("dd", { text: p.cleanup.join(", ") || "nothing (kept)" }),
          h("dt", { text: "Overrides" }), h("dd", { text: p.overrides.join("; ") || "none" })),
        h("ul", {}, ...p.planes.map((pl) => h("li", { text: `${pl.plane}: ${pl.recoveryCluster} from ${pl.baseBackup} (${pl.target.kind === "point_in_time" ? `to ${when(pl.target.targetTime)}` : "end of backup"}), drift ${words(pl.drift)}` })))));
    } catch (e) {
      $("plan-view").replaceChildren();
      showProblem($("restore-problem"), e);
    }
  });
}

async function create(ev) {
  ev.preventDefault();
  if (!$("ack-one").checked) return;
  showProblem($("restore-problem"), null);
  await busy($("create"), async () => {
    try {
      const r = await post("restores", { request: requestFromForm(), acknowledgement: ackOne() });
      afterCreate(r);
    } catch (e) {
      showProblem($("restore-problem"), e);
    }
  });
  $("create").disabled = !$("ack-one").checked;
}

async function createFromIntent() {
  const file = $("intent-file").files[0];
  if (!file) return;
  showProblem($("restore-problem"), null);
  await busy($("intent-create"), async () => {
    try {
      const form = new FormData();
      form.append("intent", file, file.name);
      if ($("ack-one").checked) form.append("acknowledgement", ackOne());
      afterCreate(await call("POST", "restores/intent", form));
    } catch (e) {
      showProblem($("restore-problem"), e);
    }
  });
}

function afterCreate(r) {
  $("ack-one").checked = false;
  $("create").disabled = true;
  $("plan-view").replaceChildren();
  announce(`Restore ${r.id} created: ${words(r.phase)}`);
  open(r.id, r);
  loadList();
}

// ------------------------------------------------------------------ restores

async function loadList() {
  try {
    const all = await get("restores");
    $("restore-list").replaceChildren(...(all.length ? all.map((r) => h("tr", { "data-restore": r.id },
      h("td", { class: "name", text: r.id }),
      h("td", {}, h("span", { class: `badge ${phaseKind(r.phase)}`, text: words(r.phase) })),
      h("td", { class: "name", text: r.planes.map((p) => `${p.recoveryCluster} → ${p.live}`).join(", ") }),
      h("td", { text: when(r.updatedAt) }),
      h("td", {}, h("button", { type: "button", class: "open-restore", onclick: () => open(r.id) },
        SETTLED.includes(r.phase) ? "View" : "Resume", h("span", { class: "visually-hidden", text: ` restore ${r.id}` }))))) :
      [h("tr", {}, h("td", { colspan: "5", class: "empty", text: "No restores yet." }))]));
    return all;
  } catch (e) {
    showProblem($("restore-problem"), e);
    return [];
  }
}

function stopFollowing() {
  if (stream) stream.abort();
  stream = null;
  $("stream-state").textContent = "";
}

function setUrl(id) {
  const u = new URL(location.href);
  u.searchParams.set("tab", "restore");
  if (id) u.searchParams.set("restore", id);
  else u.searchParams.delete("restore");
  history.replaceState(history.state, "", u.pathname + u.search);
}

function render(r) {
  const previous = active && active.id === r.id ? active.phase : null;
  active = r;
  $("active-restore").hidden = false;
  $("restore-form").hidden = !SETTLED.includes(r.phase);
  $("active-id").textContent = r.id;
  badge($("active-phase"), words(r.phase), phaseKind(r.phase));
  $("active-updated").textContent = `updated ${when(r.updatedAt)}`;
  $("active-planes").replaceChildren(...r.planes.map((p) => h("tr", {},
    h("td", { text: p.plane }),
    h("td", { class: "name", text: p.recoveryCluster }),
    h("td", {}, h("span", { class: `badge ${p.recoveryReady ? "ok" : "busy"}`, text: p.recoveryReady ? "ready" : "not yet" })),
    h("td", { class: "name", text: `${p.live}${p.liveReady ? " (ready)" : ""}` }),
    h("td", { text: words(p.cutoverStep) || "—" }),
    h("td", { text: p.detail || "" }))));
  const err = r.failure ? `${r.failure.reason} (in ${words(r.failure.inPhase)}${r.failure.retryable ? "; retryable" : ""})` : r.lastError;
  $("active-error").textContent = err || "";
  $("active-error").hidden = !err;
  const ready = r.phase === "ready_for_promotion_checks";
  $("stage-two").hidden = !ready;
  if (ready) $("stage-two-live").textContent = r.planes.map((p) => p.live).join(" and ");
  if (!ready) $("ack-two").checked = false;
  $("apply").disabled = !(ready && $("ack-two").checked);
  $("follow-actions").hidden = SETTLED.includes(r.phase);
  $("retry").hidden = !(r.phase === "failed" && r.failure && r.failure.retryable);
  $("cleanup").hidden = !(r.phase === "completed" && r.audit.some((a) => a.kind === "kept" || /kept/i.test(a.text)));
  $("abandon-early").hidden = !["recovery_requested", "provisioning"].includes(r.phase);
  $("active-audit").replaceChildren(...r.audit.map((a) => h("li", { text: `${when(a.at)} ${words(a.kind)}${a.actor ? ` by ${a.actor}` : ""}: ${a.text}` })));
  if (previous !== r.phase) {
    announce(`Restore ${r.id}: ${words(r.phase)}`);
    if (previous) loadList();
    if (ready) $("stage-two-title").scrollIntoView({ block: "nearest" });
  }
  if (SETTLED.includes(r.phase)) {
    stopFollowing();
    setAuto(false);
  }
}

async function follow(id) {
  stopFollowing();
  const ctl = new AbortController();
  stream = ctl;
  $("stream-state").textContent = "Following live events…";
  try {
    await followRestore(id, render, ctl.signal);
    if (stream === ctl) $("stream-state").textContent = "Up to date: nothing more happens until you act.";
  } catch (e) {
    if (ctl.signal.aborted) return;
    $("stream-state").textContent = "Event stream interrupted: use Check readiness now or Auto-refresh.";
    showProblem($("active-problem"), e);
  } finally {
    if (stream === ctl) stream = null;
  }
  loadList();
}

async function open(id, view) {
  showProblem($("active-problem"), null);
  if (!active || active.id !== id) { stopFollowing(); setAuto(false); }
  try {
    const r = view || await get(`restores/${encodeURIComponent(id)}`);
    render(r);
    setUrl(r.id);
    if (MOVING.includes(r.phase)) follow(r.id);
    $("active-title").focus();
  } catch (e) {
    showProblem($("restore-problem"), e);
  }
}

async function step(button, path, body) {
  showProblem($("active-problem"), null);
  if (!active) return null;
  return busy(button, async () => {
    try {
      const r = await post(`restores/${encodeURIComponent(active.id)}/${path}`, body);
      render(r);
      if (MOVING.includes(r.phase) && !stream) follow(r.id);
      loadList();
      return r;
    } catch (e) {
      showProblem($("active-problem"), e);
      return null;
    }
  });
}

function setAuto(on) {
  $("auto-refresh").checked = on;
  clearInterval(timer);
  timer = null;
  if (on) timer = setInterval(() => { if (active && !SETTLED.includes(active.phase)) step($("refresh-now"), "refresh"); }, AUTO_REFRESH_MS);
}

function closeActive() {
  stopFollowing();
  setAuto(false);
  active = null;
  $("active-restore").hidden = true;
  $("restore-form").hidden = false;
  setUrl(null);
  loadCatalogs();
}

export async function load() {
  try {
    const s = await get("settings");
    live = s.settings.clusters || live;
  } catch (_) { /* the defaults stay; the Backup tab shows why */ }
  namesHint();
  const all = await loadList();
  const wanted = new URLSearchParams(location.search).get("restore");
  if (wanted && all.some((r) => r.id === wanted)) await open(wanted);
  await loadCatalogs();
}

export function init() {
  for (const r of document.querySelectorAll('input[name="mode"]')) r.addEventListener("change", () => { showMode(); loadCatalogs(); });
  $("plane").addEventListener("change", loadCatalogs);
  $("recovery-name").addEventListener("input", namesHint);
  $("base-name").addEventListener("input", namesHint);
  for (const id of ["manual-admin", "manual-tenant"]) $(id).addEventListener("input", debounce(afterSelection, 150));
  $("pitr").addEventListener("input", pitrHint);
  $("ack-one").addEventListener("change", () => { $("create").disabled = !$("ack-one").checked; });
  $("intent-file").addEventListener("change", () => { $("intent-create").disabled = !$("intent-file").files.length; });
  $("intent-create").addEventListener("click", createFromIntent);
  $("plan").addEventListener("click", plan);
  $("restore-form").addEventListener("submit", create);
  $("refresh-now").addEventListener("click", () => step($("refresh-now"), "refresh"));
  $("auto-refresh").addEventListener("change", () => setAuto($("auto-refresh").checked));
  $("ack-two").addEventListener("change", () => { $("apply").disabled = !(active && active.phase === "ready_for_promotion_checks" && $("ack-two").checked); });
  $("apply").addEventListener("click", async () => {
    if (!$("ack-two").checked) return;
    const r = await step($("apply"), "apply", { acknowledgement: ackTwo() });
    if (r && MOVING.includes(r.phase)) follow(r.id);
  });
  $("abandon").addEventListener("click", () => step($("abandon"), "abandon"));
  $("abandon-early").addEventListener("click", () => step($("abandon-early"), "abandon"));
  $("retry").addEventListener("click", () => step($("retry"), "retry"));
  $("cleanup").addEventListener("click", () => step($("cleanup"), "cleanup"));
  $("close-restore").addEventListener("click", closeActive);
  $("active-title").setAttribute("tabindex", "-1");
  showMode();
}
