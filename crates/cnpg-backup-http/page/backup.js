// The Backup tab: object storage, reconcile and preflight badges, backup automation settings.

import { get, post, put } from "./api.js";
import { $, h, announce, showProblem, when, badge, busy, debounce } from "./ui.js";

let stored = null; // the ConfigShow last read or saved

const PRESETS = ["hourly", "every_n_hours", "daily", "weekly", "custom"];
const RETENTION_PRESETS = ["7d", "14d", "30d", "8w", "3m"];

function num(id) {
  const v = $(id).value.trim();
  return v === "" ? undefined : Number(v);
}

/** The schedule the form describes, as the settings document spells it. */
function scheduleFromForm() {
  const preset = $("preset").value;
  switch (preset) {
    case "hourly": return { preset, minute: num("minute") };
    case "every_n_hours": return { preset, every: num("every"), minute: num("minute") };
    case "daily": return { preset, hour: num("hour"), minute: num("minute") };
    case "weekly": return { preset, weekday: $("weekday").value, hour: num("hour"), minute: num("minute") };
    default: return { preset: "custom", cron: $("cron").value.trim() };
  }
}

function retentionFromForm() {
  const p = $("retention-preset").value;
  return p === "custom" ? $("retention").value.trim() : p;
}

function showPresetFields() {
  const preset = $("preset").value;
  for (const el of document.querySelectorAll("#settings-form [data-for]")) {
    el.hidden = !el.dataset.for.split(" ").includes(preset);
  }
}

function fillForm(show) {
  const a = show.settings.automation;
  $("enabled").checked = !!a.enabled;
  const s = a.schedule || { preset: "daily", hour: 2, minute: 0 };
  $("preset").value = PRESETS.includes(s.preset) ? s.preset : "custom";
  if (s.every !== undefined) $("every").value = s.every;
  if (s.hour !== undefined) $("hour").value = s.hour;
  if (s.minute !== undefined) $("minute").value = s.minute;
  if (s.weekday) $("weekday").value = s.weekday;
  $("cron").value = s.cron || show.cron || "";
  if (RETENTION_PRESETS.includes(a.retention)) {
    $("retention-preset").value = a.retention;
    $("retention").value = "";
  } else {
    $("retention-preset").value = "custom";
    $("retention").value = a.retention || "";
  }
  const scope = a.scope || "both";
  for (const r of document.querySelectorAll('input[name="scope"]')) r.checked = r.value === scope;
  $("immediate").checked = !!a.immediate;
  $("suspend").checked = !!a.suspend;
  const ca = show.settings.target.endpointCa;
  $("ca-name").value = ca ? ca.name : "";
  $("ca-key").value = ca ? ca.key : "";
  showPresetFields();
  showRetentionCustom();
}

function renderStorage(show) {
  const t = show.settings.target;
  const rows = [
    ["Provider", t.provider],
    ["Bucket", t.bucket],
    ["Prefix", t.prefix || "(none)"],
    ["Endpoint", t.endpoint || "(provider default)"],
    ["Region", t.region || "—"],
    ["Credentials", t.credentials ? t.credentials.kind : "—"],
    ["Endpoint CA", t.endpointCa ? `${t.endpointCa.name} / ${t.endpointCa.key}` : "(system roots)"],
    ["Used for backups", t.useForBackups === false ? "no" : "yes"],
    ["Destination path", show.destinationPath],
  ];
  $("storage-summary").replaceChildren(...rows.flatMap(([k, v]) => [h("dt", { text: k }), h("dd", { text: v })]));
}

function renderStatus(st) {
  const r = st.reconcile;
  const rk = { ok: ["ok", "ok"], error: ["error", "bad"], not_run_yet: ["not run yet", ""] }[r.state] || [r.state, "warn"];
  badge($("reconcile-badge"), rk[0], rk[1]);
  $("reconcile-time").textContent = when(r.lastReconcile);
  $("reconcile-error").textContent = r.error || "";
  $("reconcile-error").hidden = !r.error;
  const planeErrors = (r.planes || []).filter((p) => p.error).map((p) => `${p.plane} (${p.cluster}): ${p.error}`);
  $("reconcile-warnings").replaceChildren(...[...planeErrors, ...(r.warnings || [])].map((w) => h("li", { text: w })));
  const p = st.preflight;
  const pk = { ok: ["ok", "ok"], failed: ["failed", "bad"], not_run: ["not run", ""] }[p.state] || [p.state, "warn"];
  badge($("preflight-badge"), pk[0], pk[1]);
  $("preflight-time").textContent = when(p.ranAt);
  const steps = p.steps || [];
  $("preflight-steps").replaceChildren(...(steps.length ? steps.map((s) => h("tr", {},
    h("td", { text: s.check }),
    h("td", {}, h("span", { class: `badge ${s.verdict === "passed" ? "ok" : s.verdict === "failed" ? "bad" : ""}`, text: s.verdict })),
    h("td", { class: "detail", text: s.detail }),
    h("td", { text: String(s.duration) }))) : [h("tr", {}, h("td", { colspan: "4", class: "empty", text: "No preflight yet: Check bucket runs one." }))]));
  if (p.state === "failed") $("preflight-details").open = true;
  const planes = st.backups || [];
  $("plane-backups").replaceChildren(...(planes.length ? planes.map((b) => h("tr", {},
    h("td", { text: `${b.plane} (${b.cluster})` }),
    h("td", {}, h("span", { class: `badge ${b.health === "ok" ? "ok" : b.health === "failing" || b.health === "overdue" ? "bad" : ""}`, text: b.health.replaceAll("_", " ") }),
      b.inProgress ? h("div", { class: "muted", text: `running: ${b.inProgress}` }) : null,
      b.lastFailure ? h("div", { class: "muted", text: `last failure: ${b.lastFailure.name}${b.lastFailure.reason ? ` (${b.lastFailure.reason})` : ""}` }) : null),
    h("td", { text: b.lastCompleted ? `${b.lastCompleted.name} · ${when(b.lastCompleted.at)}` : "—" }),
    h("td", { text: when(b.nextRun) }),
    h("td", { text: b.schedule.replaceAll("_", " ") }))) : [h("tr", {}, h("td", { colspan: "5", class: "empty", text: "No settings saved yet." }))]));
}

function updateButtons() {
  const a = stored && stored.settings.automation;
  const usable = !!(a && a.enabled && stored.settings.target.useForBackups !== false);
  $("backup-now").disabled = !usable;
  $("backup-now").title = usable ? "" : "Enable and save backup automation first";
}

export async function refreshStatus() {
  try {
    const st = await get("status");
    renderStatus(st);
    return st;
  } catch (e) {
    showProblem($("backup-problem"), e);
    return null;
  }
}

let watching = null;
/** After Run backup now: reads the status every 2 s (at most 5 minutes) until no plane has a backup running. */
function watchBackups() {
  clearInterval(watching);
  let left = 150;
  watching = setInterval(async () => {
    const st = await refreshStatus();
    if (--left <= 0 || !st || !(st.backups || []).some((b) => b.inProgress)) {
      clearInterval(watching);
      watching = null;
      if (st) announce("Backups finished: see Backups per plane.");
    }
  }, 2000);
}

// ------------------------------------------------------------------ schedule preview

let previewSeq = 0;
async function preview() {
  const seq = ++previewSeq;
  const s = scheduleFromForm();
  const q = new URLSearchParams();
  if (s.preset === "custom") {
    if (!s.cron) {
      setCronHint(null, "Type a six-field cron expression, seconds first.");
      $("schedule-preview").replaceChildren();
      return;
    }
    q.set("cron", s.cron);
  } else {
    q.set("preset", s.preset);
    for (const k of ["every", "hour", "minute", "weekday"]) if (s[k] !== undefined && !Number.isNaN(s[k])) q.set(k, s[k]);
  }
  q.set("count", "5");
  try {
    const p = await get(`schedule/preview?${q}`);
    if (seq !== previewSeq) return;
    if (s.preset !== "custom") $("cron").value = p.cron;
    setCronHint(null, null);
    $("schedule-preview").replaceChildren(
      h("p", {}, "CloudNativePG schedule ", h("code", { id: "preview-cron", text: p.cron }), p.description ? ` — ${p.description}` : ""),
      h("p", { class: "note", text: "Next runs (UTC):" }),
      h("ol", { class: "preview-list", id: "preview-next" }, ...p.next.map((t) => h("li", { text: when(t) }))),
      ...(p.warnings || []).map((w) => h("p", { class: "warning", text: w })));
  } catch (e) {
    if (seq !== previewSeq) return;
    $("schedule-preview").replaceChildren();
    setCronHint(e, null);
  }
}

/** Shows a schedule refusal; a five-field cron gets "did you mean" with the six-field fix. */
function setCronHint(err, text) {
  const el = $("cron-hint");
  el.replaceChildren();
  el.className = "hint";
  if (text) el.textContent = text;
  if (!err) return;
  el.className = "hint bad";
  const detail = (err.problem && err.problem.detail) || err.message;
  const fix = /use `([^`]+)`/.exec(detail);
  if (fix) {
    el.append(h("strong", { text: "Did you mean " }), h("code", { id: "did-you-mean", text: fix[1] }), h("strong", { text: "? " }),
      h("button", { type: "button", id: "use-fix", onclick: () => { $("cron").value = fix[1]; $("preset").value = "custom"; showPresetFields(); preview(); $("cron").focus(); } }, "Use it"),
      h("div", { text: detail }));
  } else {
    el.append(h("span", { text: detail }));
  }
}

// ------------------------------------------------------------------ retention

function showRetentionCustom() {
  const custom = $("retention-preset").value === "custom";
  document.querySelector("[data-retention-custom]").hidden = !custom;
  checkRetention();
}

let retentionSeq = 0;
async function checkRetention() {
  const seq = ++retentionSeq;
  const el = $("retention-hint");
  const v = retentionFromForm();
  if (!v) {
    el.className = "hint";
    el.textContent = "Type a count and a unit: d (days), w (weeks) or m (months), e.g. 30d.";
    return;
  }
  try {
    const r = await get(`retention/check?${new URLSearchParams({ value: v })}`);
    if (seq !== retentionSeq) return;
    el.className = "hint ok";
    el.textContent = `Barman keeps: ${r.barman}`;
  } catch (e) {
    if (seq !== retentionSeq) return;
    el.className = "hint bad";
    el.textContent = (e.problem && e.problem.detail) || e.message;
  }
}

// ------------------------------------------------------------------ actions

function settingsFromForm() {
  const s = structuredClone(stored.settings);
  const a = s.automation;
  a.enabled = $("enabled").checked;
  a.schedule = scheduleFromForm();
  a.retention = retentionFromForm();
  a.scope = document.querySelector('input[name="scope"]:checked').value;
  a.immediate = $("immediate").checked;
  a.suspend = $("suspend").checked;
  const name = $("ca-name").value.trim();
  const key = $("ca-key").value.trim();
  s.target.endpointCa = name || key ? { name, key } : null;
  return s;
}

// Runs one button's action: clears the last problem, marks the button busy, then shows and
// announces the text `work` returns, or the API's problem.
async function act(button, work) {
  const result = $("backup-result");
  showProblem($("backup-problem"), null);
  await busy($(button), async () => {
    try {
      const text = await work();
      result.textContent = text;
      announce(text);
    } catch (e) {
      result.textContent = "";
      showProblem($("backup-problem"), e);
    }
  });
}

async function save(ev) {
  ev.preventDefault();
  if (!stored) {
    showProblem($("backup-problem"), null);
    return;
  }
  await act("save", async () => {
    stored = await put("settings", settingsFromForm());
    fillForm(stored);
    renderStorage(stored);
    const r = await post("reconcile");
    return r.state === "ok" ? `Saved (${stored.cron}, ${stored.retention}); reconcile ok.` : `Saved; reconcile ${r.state}: ${r.error || ""}`;
  });
  updateButtons();
  await refreshStatus();
  preview();
}

async function backupNow() {
  await act("backup-now", async () => {
    const made = await post("backups");
    return `Backup started: ${made.map((b) => `${b.name} (${b.plane})`).join(", ")}; set ${made[0] ? made[0].backupSetId : "—"}.`;
  });
  updateButtons();
  await refreshStatus();
  watchBackups();
}

async function checkBucket() {
  await act("check-bucket", async () => {
    const p = await post("preflight");
    $("preflight-details").open = true;
    return p.state === "ok" ? `Bucket check passed (${p.steps.length} steps).` : `Bucket check ${p.state}: see the steps.`;
  });
  await refreshStatus();
}

export async function load() {
  showProblem($("backup-problem"), null);
  try {
    stored = await get("settings");
    fillForm(stored);
    renderStorage(stored);
  } catch (e) {
    stored = null;
    $("storage-summary").replaceChildren(h("dt", { text: "Target" }), h("dd", { text: "no settings saved yet" }));
    showProblem($("backup-problem"), e);
  }
  $("save").disabled = !stored;
  updateButtons();
  await refreshStatus();
  if (stored) await preview();
}

export function init() {
  const later = debounce(preview, 250);
  $("preset").addEventListener("change", () => { showPresetFields(); preview(); });
  for (const id of ["every", "hour", "minute", "weekday"]) $(id).addEventListener("input", later);
  $("weekday").addEventListener("change", later);
  $("cron").addEventListener("input", () => {
    if ($("preset").value !== "custom") {
      $("preset").value = "custom";
      showPresetFields();
    }
    later();
  });
  $("retention-preset").addEventListener("change", showRetentionCustom);
  $("retention").addEventListener("input", debounce(checkRetention, 200));
  $("settings-form").addEventListener("submit", save);
  $("backup-now").addEventListener("click", backupNow);
  $("check-bucket").addEventListener("click", checkBucket);
}
