// The OnAir window: Studio (preview, meter, sources, Go Live, a card per
// destination), Destinations (profiles with presets; keys go to the OS
// credential store and never come back), Settings. Talks to Rust only
// through the generated, typed commands.
import { Channel } from "@tauri-apps/api/core";
import {
  commands,
  type AppError,
  type CheckReport,
  type DestinationUpdate_Deserialize as DestinationUpdate,
  type LiveUpdate_Deserialize as LiveUpdate,
  type Platform_Serialize as Platform,
  type PreviewUpdate,
  type ProfileView,
  type Settings_Serialize as Settings,
  type Sources,
} from "./bindings";
import {
  cardState,
  checkFacts,
  congestionTone,
  formatBitrate,
  formatLatency,
  formatUptime,
  fromBase64,
  i420ToRgba,
  latencyHelp,
  meterFill,
  pushHistory,
  recordingText,
  secondsText,
  serverUrlProblem,
} from "./format";

/** The element with this id; a missing one (a renamed id) throws at once,
 * so the page fails to start in the tests instead of on a creator's click. */
const $ = <T extends HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`the page has no element #${id}`);
  return el as T;
};

let platforms: Platform[] = [];
let profiles: ProfileView[] = [];
let settings: Settings | null = null;
let live = false;
let recording = false;
let editing: string | null = null;
const history = new Map<string, number[]>();

// ---------- navigation ----------
const views = ["studio", "destinations", "settings"] as const;
type View = (typeof views)[number];

function show(view: View) {
  for (const v of views) {
    const tab = $<HTMLButtonElement>(`tab-${v}`);
    const panel = $<HTMLElement>(`view-${v}`);
    const on = v === view;
    tab.setAttribute("aria-selected", String(on));
    tab.tabIndex = on ? 0 : -1;
    panel.hidden = !on;
  }
}

for (const v of views) {
  $<HTMLButtonElement>(`tab-${v}`).addEventListener("click", () => show(v));
}
$<HTMLElement>("goto-destinations").addEventListener("click", () => show("destinations"));
document.querySelector(".tabs")?.addEventListener("keydown", (e) => {
  const ev = e as KeyboardEvent;
  if (ev.key !== "ArrowRight" && ev.key !== "ArrowLeft") return;
  const cur = views.findIndex((v) => $(`tab-${v}`).getAttribute("aria-selected") === "true");
  const next = views[(cur + (ev.key === "ArrowRight" ? 1 : views.length - 1)) % views.length];
  show(next);
  $<HTMLButtonElement>(`tab-${next}`).focus();
});

// ---------- notices ----------
function notice(text: string) {
  $("notice-text").textContent = text;
  $("notice").hidden = false;
}
$("notice-close").addEventListener("click", () => ($("notice").hidden = true));

function errText(e: AppError): string {
  return e.message;
}

// ---------- platform icon ----------
const platformColours: Record<string, string> = {
  check: "#2f9e6e",
  twitch: "#9146ff",
  youtube: "#ff0033",
  facebook: "#1877f2",
  kick: "#53fc18",
  linkedin: "#0a66c2",
  custom: "#5b6472",
};

function platformName(id: string): string {
  if (id === "check") return "Stream check";
  return platforms.find((p) => p.id === id)?.name ?? id;
}

/** The built-in stream check, shown as a destination card. */
const CHECK_ID = "check";

function icon(el: HTMLElement, platform: string) {
  el.textContent = platformName(platform).slice(0, 1);
  el.style.background = platformColours[platform] ?? platformColours.custom;
}

// ---------- Studio ----------
const cards = $<HTMLDivElement>("cards");
const goLive = $<HTMLButtonElement>("go-live");
const studioError = $<HTMLDivElement>("studio-error");

function renderCards() {
  const checkOn = settings?.stream_check ?? true;
  const enabled: { id: string; name: string; platform: string; detail: string }[] = profiles
    .filter((p) => p.enabled)
    .map((p) => {
      const problems = p.problems.filter((x) => x.severity === "error");
      return {
        id: p.id,
        name: p.name,
        platform: p.platform,
        detail: !p.has_key ? "No stream key set" : problems.map((x) => x.message).join(" "),
      };
    });
  if (checkOn) {
    enabled.push({
      id: CHECK_ID,
      name: "Stream check",
      platform: "check",
      detail: "A test server inside OnAir: it reports what a platform receives.",
    });
  }
  $("no-destinations").hidden = profiles.length > 0;
  const tpl = $<HTMLTemplateElement>("card-template");
  const want = new Set(live ? Array.from(cards.children).map((c) => (c as HTMLElement).dataset.id ?? "") : enabled.map((p) => p.id));
  for (const child of Array.from(cards.children)) {
    if (!want.has((child as HTMLElement).dataset.id ?? "")) child.remove();
  }
  for (const p of enabled) {
    if (cards.querySelector(`[data-id="${p.id}"]`) || live) continue;
    const node = tpl.content.firstElementChild!.cloneNode(true) as HTMLElement;
    node.dataset.id = p.id;
    node.querySelector(".card-name")!.textContent = p.name;
    icon(node.querySelector<HTMLElement>(".platform-icon")!, p.platform);
    const toggle = node.querySelector<HTMLInputElement>(".card-toggle")!;
    toggle.checked = true;
    toggle.disabled = true;
    toggle.setAttribute("aria-label", `${p.name} on or off while live`);
    toggle.addEventListener("change", async () => {
      toggle.disabled = true;
      const r = await commands.setDestinationLive(p.id, toggle.checked);
      toggle.disabled = false;
      if (r.status === "error") {
        toggle.checked = !toggle.checked;
        studioError.textContent = errText(r.error);
      }
    });
    const st = node.querySelector<HTMLElement>(".card-state")!;
    st.textContent = "Ready";
    st.dataset.tone = "idle";
    node.querySelector(".card-detail")!.textContent = p.detail;
    cards.appendChild(node);
  }
  const platformsOn = enabled.filter((p) => p.id !== CHECK_ID).length;
  $("summary").textContent = platformsOn
    ? `Goes live to ${platformsOn} destination${platformsOn > 1 ? "s" : ""}${checkOn ? " and the stream check" : ""}.`
    : checkOn
      ? "Goes live to the stream check only: no account needed."
      : "Turn on a destination or the stream check to go live.";
}

function renderCheck(r: CheckReport) {
  $("check-panel").hidden = false;
  $("studio-bottom").classList.add("with-check");
  const states: Record<string, string> = { waiting: "Waiting for the stream…", receiving: "Receiving", ended: "Ended" };
  $("check-state").textContent = `${states[r.state] ?? r.state} · ${secondsText(r.duration_s)} received`;
  // Rows are made once and updated in place (no flicker, stable nodes).
  const facts = checkFacts(r);
  const dl = $("check-facts");
  if (dl.children.length !== facts.length) {
    dl.replaceChildren(
      ...facts.map(([k]) => {
        const d = document.createElement("div");
        const dt = document.createElement("dt");
        dt.textContent = k;
        const dd = document.createElement("dd");
        dd.dataset.fact = k;
        d.append(dt, dd);
        return d;
      }),
    );
  }
  facts.forEach(([, v], i) => {
    const dd = dl.children[i].querySelector("dd")!;
    if (dd.textContent !== v) dd.textContent = v;
  });
  // Lists are rebuilt only when they change.
  const changed = (el: HTMLElement, value: unknown) => {
    const key = JSON.stringify(value);
    if (el.dataset.key === key) return false;
    el.dataset.key = key;
    return true;
  };
  if (changed($("check-problems"), r.problems)) $("check-problems").replaceChildren(
    ...r.problems.map((p) => {
      const li = document.createElement("li");
      li.textContent = p;
      li.dataset.severity = "warning";
      return li;
    }),
  );
  if (changed($("check-verdicts"), r.verdicts)) $("check-verdicts").replaceChildren(
    ...r.verdicts.map((v) => {
      const li = document.createElement("li");
      li.dataset.platform = v.platform;
      const mark = document.createElement("span");
      mark.className = "verdict";
      mark.dataset.pass = String(v.pass);
      mark.textContent = v.pass ? "Pass" : "Fail";
      const name = document.createElement("span");
      name.textContent = v.name;
      const why = document.createElement("span");
      why.className = "why";
      why.textContent = v.problems.map((p) => p.message).join(" ");
      li.append(mark, name, why);
      return li;
    }),
  );
}

function drawGraph(canvas: HTMLCanvasElement, values: number[], tone: string) {
  const ctx = canvas.getContext("2d");
  if (!ctx) return;
  const w = canvas.width;
  const h = canvas.height;
  ctx.clearRect(0, 0, w, h);
  const max = Math.max(1000, ...values) * 1.15;
  ctx.strokeStyle = tone === "bad" ? "#ff6b6b" : tone === "warn" ? "#f5a524" : "#3dd68c";
  ctx.fillStyle = "rgba(61, 214, 140, 0.12)";
  ctx.lineWidth = 2;
  ctx.beginPath();
  const step = w / 59;
  values.forEach((v, i) => {
    const x = w - (values.length - 1 - i) * step;
    const y = h - (v / max) * (h - 4) - 2;
    if (i === 0) ctx.moveTo(x, y);
    else ctx.lineTo(x, y);
  });
  ctx.stroke();
}

function updateCard(d: DestinationUpdate) {
  const node = cards.querySelector<HTMLElement>(`[data-id="${d.id}"]`);
  if (!node) return;
  const s = d.stats;
  const st = cardState(s, d.on);
  const stateEl = node.querySelector<HTMLElement>(".card-state")!;
  stateEl.textContent = st.text;
  stateEl.dataset.tone = st.tone;
  node.dataset.state = d.on ? s.state : "off";
  node.querySelector<HTMLInputElement>(".card-toggle")!.checked = d.on;
  node.querySelector(".f-bitrate")!.textContent = d.on ? formatBitrate(s.bitrate_kbps) : "—";
  const lat = node.querySelector<HTMLElement>(".f-latency")!;
  lat.textContent = d.on ? formatLatency(s.latency_ms, s.latency_source) : "—";
  lat.title = latencyHelp(s.latency_source);
  const bar = node.querySelector<HTMLElement>(".f-congestion .bar")!;
  const congestion = s.congestion ?? 0;
  bar.dataset.tone = congestionTone(congestion);
  (bar.firstElementChild as HTMLElement).style.width = `${Math.round(Math.min(1, congestion) * 100)}%`;
  bar.title = `${Math.round(congestion * 100)}% of the drop threshold queued (${s.queue_ms} ms)`;
  node.querySelector(".f-dropped")!.textContent = String(s.dropped_frames);
  node.querySelector(".f-reconnects")!.textContent = String(s.reconnects);
  node.querySelector(".f-uptime")!.textContent = formatUptime(s.uptime_s);
  node.querySelector(".card-detail")!.textContent = st.detail;
  const h = pushHistory(history.get(d.id) ?? [], d.on ? (s.bitrate_kbps ?? 0) : 0);
  history.set(d.id, h);
  drawGraph(node.querySelector<HTMLCanvasElement>(".graph")!, h, st.tone);
}

function onUpdate(u: LiveUpdate) {
  for (const d of u.destinations) updateCard(d);
  if (u.check) renderCheck(u.check);
  setRecording(u.recording != null);
  if (u.recording) {
    const r = u.recording;
    $("rec-status").textContent = r.error ? `Recording stopped: ${r.error}` : `● REC ${recordingText(r.duration_ms, r.bytes)} → ${r.path}`;
  }
  const peak = u.audio_peak_dbfs ?? null;
  const rms = u.audio_rms_dbfs ?? null;
  $("meter-peak").style.width = `${Math.round(meterFill(peak) * 100)}%`;
  $("meter-rms").style.width = `${Math.round(meterFill(rms) * 100)}%`;
  $("meter").setAttribute("aria-valuenow", String(Math.round(peak ?? -60)));
  $("meter-db").textContent = peak == null ? "—" : `${Math.round(peak)} dB`;
  const w: string[] = [];
  if (u.encoder_overloaded) w.push("Encoder overloaded: frames are being skipped. Lower the resolution or frame rate.");
  if (u.camera_lost) w.push("Camera lost: showing a slate; it resumes when the camera is back.");
  if (u.mic_lost) w.push("Microphone lost: sending silence.");
  $("warnings").textContent = w.join(" ");
  $("warnings").hidden = w.length === 0;
}

const preview = $<HTMLCanvasElement>("preview");
let previewImage: ImageData | null = null;

function onPreview(p: PreviewUpdate) {
  if (preview.width !== p.width || preview.height !== p.height || !previewImage) {
    preview.width = p.width;
    preview.height = p.height;
    previewImage = new ImageData(p.width, p.height);
  }
  i420ToRgba(fromBase64(p.i420), p.width, p.height, previewImage.data);
  preview.getContext("2d")?.putImageData(previewImage, 0, 0);
  $("preview-idle").hidden = true;
}

function setLive(on: boolean) {
  live = on;
  goLive.textContent = on ? "End Stream" : "Go Live";
  goLive.classList.toggle("live", on);
  goLive.setAttribute("aria-pressed", String(on));
  $("on-air").textContent = on ? "● On air" : "Off air";
  $("on-air").classList.toggle("live", on);
  for (const id of ["video-source", "audio-source"]) $<HTMLSelectElement>(id).disabled = on || recording;
  for (const t of cards.querySelectorAll<HTMLInputElement>(".card-toggle")) t.disabled = !on;
  if (!on && !recording) {
    $("preview-idle").hidden = false;
    $("warnings").textContent = "";
  }
}

const recordButton = $<HTMLButtonElement>("record");

function setRecording(on: boolean) {
  if (on === recording) return;
  recording = on;
  recordButton.classList.toggle("recording", on);
  recordButton.setAttribute("aria-pressed", String(on));
  $("record-label").textContent = on ? "Stop recording" : "Record";
  for (const id of ["video-source", "audio-source"]) $<HTMLSelectElement>(id).disabled = on || live;
  if (!on && !live) $("preview-idle").hidden = false;
}

function feeds(): [Channel<LiveUpdate>, Channel<PreviewUpdate>] {
  const updates = new Channel<LiveUpdate>();
  updates.onmessage = onUpdate;
  const frames = new Channel<PreviewUpdate>();
  frames.onmessage = onPreview;
  return [updates, frames];
}

recordButton.addEventListener("click", async () => {
  studioError.textContent = "";
  recordButton.disabled = true;
  if (recording) {
    const r = await commands.stopRecording();
    recordButton.disabled = false;
    if (r.status === "error") {
      studioError.textContent = errText(r.error);
      return;
    }
    setRecording(false);
    const s = r.data;
    $("rec-status").textContent = s.error
      ? `Recording ended early: ${s.error}. Saved up to there: ${s.path}`
      : `Saved ${recordingText(s.duration_ms, s.bytes)} → ${s.path}`;
    return;
  }
  const [updates, frames] = feeds();
  $("rec-status").textContent = "Starting the recording…";
  const r = await commands.startRecording(updates, frames);
  recordButton.disabled = false;
  if (r.status === "error") {
    $("rec-status").textContent = "";
    studioError.textContent = errText(r.error);
    return;
  }
  setRecording(true);
  $("rec-status").textContent = `● REC starting → ${r.data}`;
});

$("save-report").addEventListener("click", async () => {
  const r = await commands.saveCheckReport();
  $("check-saved").textContent = r.status === "error" ? errText(r.error) : `Saved to ${r.data}`;
});

goLive.addEventListener("click", async () => {
  studioError.textContent = "";
  goLive.disabled = true;
  if (live) {
    const r = await commands.endStream();
    if (r.status === "error") studioError.textContent = errText(r.error);
    else if (r.data) renderCheck(r.data);
    setLive(false);
    for (const c of cards.querySelectorAll<HTMLElement>(".card")) {
      const st = c.querySelector<HTMLElement>(".card-state")!;
      st.textContent = "Ended";
      st.dataset.tone = "idle";
      c.dataset.state = "stopped";
    }
    goLive.disabled = false;
    renderCards();
    return;
  }
  history.clear();
  cards.replaceChildren();
  renderCards();
  for (const c of cards.querySelectorAll<HTMLElement>(".card-state")) {
    c.textContent = "Connecting";
    c.dataset.tone = "warn";
  }
  const [updates, frames] = feeds();
  $("check-saved").textContent = "";
  const r = await commands.startStream(updates, frames);
  goLive.disabled = false;
  if (r.status === "error") {
    studioError.textContent = errText(r.error);
    cards.replaceChildren();
    renderCards();
    return;
  }
  setLive(true);
});

async function loadSources() {
  const s: Sources = await commands.listSources();
  const fill = (el: HTMLSelectElement, opts: { value: string; label: string }[], value: string) => {
    el.replaceChildren(...opts.map((o) => new Option(o.label, o.value, false, o.value === value)));
    if (!opts.some((o) => o.value === value)) el.add(new Option(`${value} (not found)`, value, false, true));
  };
  fill($<HTMLSelectElement>("video-source"), s.video, settings?.video_source ?? "test");
  fill($<HTMLSelectElement>("audio-source"), s.audio, settings?.audio_source ?? "tone");
}

async function saveSources() {
  if (!settings) return;
  const next = {
    ...settings,
    video_source: $<HTMLSelectElement>("video-source").value,
    audio_source: $<HTMLSelectElement>("audio-source").value,
  };
  const r = await commands.saveSettings(next);
  if (r.status === "error") studioError.textContent = errText(r.error);
  else settings = r.data;
}
$("video-source").addEventListener("change", saveSources);
$("audio-source").addEventListener("change", saveSources);

// ---------- Destinations ----------
const platformSel = $<HTMLSelectElement>("platform");
const serverPick = $<HTMLSelectElement>("server-pick");
const serverUrl = $<HTMLInputElement>("server-url");
const streamKey = $<HTMLInputElement>("stream-key");
const profileName = $<HTMLInputElement>("profile-name");
const profileEnabled = $<HTMLInputElement>("profile-enabled");

function fillServers(platformId: string, current?: string) {
  const p = platforms.find((x) => x.id === platformId);
  const servers = p?.servers ?? [];
  $("server-pick-label").hidden = servers.length === 0;
  serverPick.replaceChildren(...servers.map((s) => new Option(s.name, s.url)));
  serverPick.add(new Option("Other (type the URL)", ""));
  if (current !== undefined) {
    serverPick.value = servers.some((s) => s.url === current) ? current : "";
  } else if (servers.length) {
    serverPick.value = servers[0].url;
    serverUrl.value = servers[0].url;
  } else {
    serverPick.value = "";
  }
  $("key-hint").textContent = p ? `Where to find the key: ${p.key_hint}` : "";
}

platformSel.addEventListener("change", () => {
  fillServers(platformSel.value);
  if (!editing && (profileName.value === "" || platforms.some((p) => p.name === profileName.value))) {
    profileName.value = platformName(platformSel.value);
  }
});
serverPick.addEventListener("change", () => {
  if (serverPick.value) serverUrl.value = serverPick.value;
  else serverUrl.focus();
});

function editProfile(p: ProfileView | null) {
  editing = p?.id ?? null;
  $("form-title").textContent = p ? `Edit ${p.name}` : "Add destination";
  platformSel.value = p?.platform ?? platforms[0]?.id ?? "custom";
  profileName.value = p?.name ?? platformName(platformSel.value);
  if (p) {
    serverUrl.value = p.server_url;
    fillServers(p.platform, p.server_url);
  } else {
    serverUrl.value = "";
    fillServers(platformSel.value);
  }
  streamKey.value = "";
  $("key-state").textContent = p ? (p.has_key ? "(a key is stored — type to replace it)" : "(no key stored yet)") : "";
  streamKey.placeholder = p?.has_key ? "•••••••• stored in the system keyring" : "paste the key";
  profileEnabled.checked = p?.enabled ?? true;
  $("delete-profile").hidden = !p;
  $("profile-error").textContent = "";
  $("profile-message").textContent = "";
  $("profile-problems").replaceChildren(
    ...(p?.problems ?? []).map((x) => {
      const li = document.createElement("li");
      li.textContent = x.message;
      li.dataset.severity = x.severity;
      return li;
    }),
  );
  for (const li of $("profile-list").children) {
    (li as HTMLElement).classList.toggle("selected", (li as HTMLElement).dataset.id === editing);
  }
}

function renderProfiles() {
  const list = $("profile-list");
  list.replaceChildren(
    ...profiles.map((p) => {
      const li = document.createElement("li");
      li.dataset.id = p.id;
      const b = document.createElement("button");
      b.className = "profile-item";
      const ic = document.createElement("span");
      ic.className = "platform-icon";
      icon(ic, p.platform);
      const name = document.createElement("span");
      name.className = "profile-name";
      name.textContent = p.name;
      const meta = document.createElement("span");
      meta.className = "profile-meta";
      meta.textContent = `${platformName(p.platform)} · ${p.has_key ? "key set" : "no key"}${p.enabled ? "" : " · off"}`;
      b.append(ic, name, meta);
      b.addEventListener("click", () => editProfile(p));
      li.appendChild(b);
      return li;
    }),
  );
  renderCards();
}

async function reloadProfiles() {
  profiles = await commands.listProfiles();
  renderProfiles();
}

$("new-profile").addEventListener("click", () => {
  editProfile(null);
  platformSel.focus();
});

$<HTMLFormElement>("profile-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  $("profile-error").textContent = "";
  $("profile-message").textContent = "";
  const problem = serverUrlProblem(serverUrl.value);
  if (problem) {
    $("profile-error").textContent = problem;
    serverUrl.focus();
    return;
  }
  const r = await commands.saveProfile({
    id: editing,
    name: profileName.value,
    platform: platformSel.value,
    server_url: serverUrl.value,
    enabled: profileEnabled.checked,
    stream_key: streamKey.value.trim() === "" ? null : streamKey.value,
  });
  streamKey.value = "";
  if (r.status === "error") {
    $("profile-error").textContent = errText(r.error);
    return;
  }
  await reloadProfiles();
  const saved = profiles.find((p) => p.id === r.data.profile.id) ?? null;
  editProfile(saved);
  $("profile-message").textContent = r.data.key_moved_from_url
    ? "Saved. The stream key you pasted into the URL was moved to the key store."
    : "Saved.";
});

$("delete-profile").addEventListener("click", async () => {
  if (!editing) return;
  const r = await commands.deleteProfile(editing);
  if (r.status === "error") {
    $("profile-error").textContent = errText(r.error);
    return;
  }
  await reloadProfiles();
  editProfile(null);
});

// ---------- Settings ----------
function fillSettings(s: Settings) {
  $<HTMLSelectElement>("resolution").value = `${s.width}x${s.height}`;
  if ($<HTMLSelectElement>("resolution").value === "") {
    $<HTMLSelectElement>("resolution").add(new Option(`${s.width} × ${s.height}`, `${s.width}x${s.height}`, true, true));
  }
  $<HTMLSelectElement>("fps").value = String(s.fps);
  $<HTMLInputElement>("video-kbps").value = String(s.video_kbps);
  $<HTMLInputElement>("keyframe").value = String(s.keyframe_interval_s);
  $<HTMLSelectElement>("audio-kbps").value = String(s.audio_kbps);
  $<HTMLInputElement>("drop-ms").value = String(s.drop_threshold_ms);
  $<HTMLInputElement>("dynamic").checked = s.dynamic_bitrate;
  $<HTMLInputElement>("stream-check").checked = s.stream_check;
  $<HTMLInputElement>("record-folder").value = s.record_folder;
  $<HTMLInputElement>("record-pattern").value = s.record_pattern;
}

$<HTMLFormElement>("settings-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  if (!settings) return;
  const [w, h] = $<HTMLSelectElement>("resolution").value.split("x").map(Number);
  const r = await commands.saveSettings({
    ...settings,
    width: w,
    height: h,
    fps: Number($<HTMLSelectElement>("fps").value),
    video_kbps: Number($<HTMLInputElement>("video-kbps").value),
    keyframe_interval_s: Number($<HTMLInputElement>("keyframe").value),
    audio_kbps: Number($<HTMLSelectElement>("audio-kbps").value),
    drop_threshold_ms: Number($<HTMLInputElement>("drop-ms").value),
    dynamic_bitrate: $<HTMLInputElement>("dynamic").checked,
    stream_check: $<HTMLInputElement>("stream-check").checked,
    record_folder: $<HTMLInputElement>("record-folder").value.trim(),
    record_pattern: $<HTMLInputElement>("record-pattern").value,
  });
  $("settings-error").textContent = "";
  $("settings-message").textContent = "";
  if (r.status === "error") {
    $("settings-error").textContent = errText(r.error);
    return;
  }
  settings = r.data;
  $("settings-message").textContent = "Saved. Applies the next time you go live.";
  await reloadProfiles();
});

// ---------- start ----------
async function start() {
  const info = await commands.appInfo();
  platforms = info.platforms;
  platformSel.replaceChildren(...platforms.map((p) => new Option(p.name, p.id)));
  if (info.notice) notice(info.notice);
  if (info.key_store_problem) {
    $("keystore-problem").textContent = info.key_store_problem;
    $("keystore-problem").hidden = false;
  }
  settings = await commands.getSettings();
  fillSettings(settings);
  await reloadProfiles();
  editProfile(null);
  // Go Live works from the first launch: the stream check needs no account.
  show("studio");
  setLive(false);
  await loadSources();
}

void start();
