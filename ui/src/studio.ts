// The Studio: preview, audio meter, sources, Go Live / End Stream, a card
// per destination (state, bitrate graph, latency, congestion, drops,
// reconnects, uptime), the stream check's panel, recording.
import { Channel, convertFileSrc } from "@tauri-apps/api/core";
import {
  commands,
  type CheckReport,
  type DestinationUpdate_Deserialize as DestinationUpdate,
  type LiveUpdate_Deserialize as LiveUpdate,
  type MeterUpdate,
  type Sources,
} from "./bindings";
import { lookup, part } from "./dom";
import {
  canvasOf,
  cardState,
  checkFacts,
  cropFrame,
  congestionTone,
  formatBitrate,
  formatLatency,
  formatUptime,
  latencyHelp,
  latencyLabel,
  pushHistory,
  recordingText,
  secondsText,
} from "./format";
import { studioIds } from "./ids";
import { initMixer } from "./mixer";
import { parseCapture, previewRenderer, type CaptureTick, type PreviewPicture } from "./preview";
import {
  app,
  CHECK_ID,
  encodingsOf,
  errText,
  icon,
  onProfilesChanged,
  onSettingsChanged,
  setSettings,
} from "./state";

type El = Record<keyof typeof studioIds, HTMLElement>;

/** Starts the Studio: looks its elements up (throws on a missing one) and
 * wires its controls. */
export function initStudio(): {
  setLive: (on: boolean) => void;
  loadSources: () => Promise<void>;
  attach: () => Promise<void>;
  onShortcut: (action: string) => void;
} {
  const el: El = lookup(studioIds);
  const cards = el.cards as HTMLDivElement;
  const goLive = el.goLive as HTMLButtonElement;
  const recordButton = el.record as HTMLButtonElement;
  const preview = el.preview as HTMLCanvasElement;
  const videoSource = el.videoSource as HTMLSelectElement;
  const audioSource = el.audioSource as HTMLSelectElement;
  const history = new Map<string, number[]>();
  const mixer = initMixer(el);
  const desktopSource = el.desktopSource as HTMLSelectElement;
  const renderer = previewRenderer(preview);
  preview.dataset.renderer = renderer.kind;
  /** Pictures received and drawn (read by the window tests). */
  const shown = preview as HTMLCanvasElement & { frames?: number; received?: number };

  function renderCards() {
    const checkOn = app.settings?.stream_check ?? true;
    const enabled = app.profiles
      .filter((p) => p.enabled)
      .map((p) => {
        const problems = p.problems.filter((x) => x.severity === "error");
        return {
          id: p.id,
          name: p.name,
          platform: p.platform,
          encoding: p.encoding,
          detail: !p.has_key ? "No stream key set" : problems.map((x) => x.message).join(" "),
          bad: !p.has_key || problems.length > 0,
        };
      });
    if (checkOn) {
      enabled.push({
        id: CHECK_ID,
        name: "Stream check",
        platform: "check",
        encoding: "main",
        detail: "A test server inside OnAir: it reports what a platform receives.",
        bad: false,
      });
    }
    el.noDestinations.hidden = app.profiles.length > 0;
    const tpl = el.cardTemplate as HTMLTemplateElement;
    const ids = (nodes: Element[]) => nodes.map((c) => (c as HTMLElement).dataset.id ?? "");
    const want = new Set(app.live ? ids(Array.from(cards.children)) : enabled.map((p) => p.id));
    for (const child of Array.from(cards.children)) {
      if (!want.has((child as HTMLElement).dataset.id ?? "")) child.remove();
    }
    for (const p of enabled) {
      if (cards.querySelector(`[data-id="${p.id}"]`) || app.live) continue;
      const node = part<HTMLElement>(tpl.content, ".card").cloneNode(true) as HTMLElement;
      node.dataset.id = p.id;
      part(node, ".card-name").textContent = p.name;
      part(node, ".card-encoding").textContent = p.encoding;
      icon(part<HTMLElement>(node, ".platform-icon"), p.platform);
      const toggle = part<HTMLInputElement>(node, ".card-toggle");
      toggle.checked = true;
      toggle.disabled = true;
      toggle.setAttribute("aria-label", `${p.name} on or off while live`);
      toggle.addEventListener("change", async () => {
        toggle.disabled = true;
        const r = await commands.setDestinationLive(p.id, toggle.checked);
        toggle.disabled = false;
        if (r.status === "error") {
          toggle.checked = !toggle.checked;
          el.studioError.textContent = errText(r.error);
        }
      });
      const st = part<HTMLElement>(node, ".card-state");
      st.textContent = "Ready";
      st.dataset.tone = "idle";
      const detail = part<HTMLElement>(node, ".card-detail");
      detail.textContent = p.detail;
      // Red only for what stops it going live; the check's help is not.
      detail.dataset.tone = p.bad ? "bad" : "info";
      cards.appendChild(node);
    }
    const platformsOn = enabled.filter((p) => p.id !== CHECK_ID).length;
    el.summary.textContent = platformsOn
      ? `Goes live to ${platformsOn} destination${platformsOn > 1 ? "s" : ""}${checkOn ? " and the stream check" : ""}.`
      : checkOn
        ? "Goes live to the stream check only: no account needed."
        : "Turn on a destination or the stream check to go live.";
  }

  function renderCheck(r: CheckReport) {
    el.checkPanel.hidden = false;
    el.studioBottom.classList.add("with-check");
    const states: Record<string, string> = { waiting: "Waiting for the stream…", receiving: "Receiving", ended: "Ended" };
    el.checkState.textContent = `${states[r.state] ?? r.state} · ${secondsText(r.duration_s)} received`;
    // Rows are made once and updated in place (no flicker, stable nodes).
    const facts = checkFacts(r);
    const dl = el.checkFacts;
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
      const dd = part(dl.children[i], "dd");
      if (dd.textContent !== v) dd.textContent = v;
    });
    // Lists are rebuilt only when they change.
    const changed = (list: HTMLElement, value: unknown) => {
      const key = JSON.stringify(value);
      if (list.dataset.key === key) return false;
      list.dataset.key = key;
      return true;
    };
    if (changed(el.checkProblems, r.problems)) {
      el.checkProblems.replaceChildren(
        ...r.problems.map((p) => {
          const li = document.createElement("li");
          li.textContent = p;
          li.dataset.severity = "warning";
          return li;
        }),
      );
    }
    if (changed(el.checkVerdicts, r.verdicts)) {
      el.checkVerdicts.replaceChildren(
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
  }

  function updateCard(d: DestinationUpdate) {
    const node = cards.querySelector<HTMLElement>(`[data-id="${d.id}"]`);
    if (!node) return;
    const s = d.stats;
    const st = cardState(s, d.on);
    const stateEl = part<HTMLElement>(node, ".card-state");
    stateEl.textContent = st.text;
    stateEl.dataset.tone = st.tone;
    node.dataset.state = d.on ? s.state : "off";
    part(node, ".card-encoding").textContent = d.encoding;
    part<HTMLInputElement>(node, ".card-toggle").checked = d.on;
    part(node, ".f-bitrate").textContent = d.on ? formatBitrate(s.bitrate_kbps) : "—";
    const lat = part<HTMLElement>(node, ".f-latency");
    lat.textContent = d.on ? formatLatency(s.latency_ms) : "—";
    lat.title = latencyHelp(s.latency_source);
    part(node, ".l-latency").textContent = latencyLabel(s.latency_source);
    const bar = part<HTMLElement>(node, ".f-congestion .bar");
    const congestion = s.congestion ?? 0;
    bar.dataset.tone = congestionTone(congestion);
    (bar.firstElementChild as HTMLElement).style.width = `${Math.round(Math.min(1, congestion) * 100)}%`;
    bar.title = `${Math.round(congestion * 100)}% of the drop threshold queued (${s.queue_ms} ms)`;
    part(node, ".f-dropped").textContent = String(s.dropped_frames);
    part(node, ".f-reconnects").textContent = String(s.reconnects);
    part(node, ".f-uptime").textContent = formatUptime(s.uptime_s);
    const detail = part<HTMLElement>(node, ".card-detail");
    detail.textContent = st.detail;
    detail.dataset.tone = st.tone === "bad" || st.tone === "warn" ? st.tone : "info";
    const h = pushHistory(history.get(d.id) ?? [], d.on ? (s.bitrate_kbps ?? 0) : 0);
    history.set(d.id, h);
    drawGraph(part<HTMLCanvasElement>(node, ".graph"), h, st.tone);
  }

  function onUpdate(u: LiveUpdate) {
    for (const d of u.destinations) updateCard(d);
    if (u.check) renderCheck(u.check);
    setRecording(u.recording != null);
    if (u.recording) {
      const r = u.recording;
      el.recStatus.textContent = r.error
        ? `Recording stopped: ${r.error}`
        : `● REC ${recordingText(r.duration_ms, r.bytes)} → ${r.path}`;
    }
    const w: string[] = [];
    if (u.encoder_overloaded) w.push("Encoder overloaded: frames are being skipped. Lower the resolution or frame rate.");
    if (u.camera_lost) w.push("Camera lost: showing a slate; it resumes when the camera is back.");
    if (u.mic_lost) w.push("Microphone lost: sending silence.");
    el.warnings.textContent = w.join(" ");
    el.warnings.hidden = w.length === 0;
  }

  /** A frame over the preview for each encoding narrower than the
   * capture (a vertical one), and a slider that moves it. */
  function renderCrops() {
    const s = app.settings;
    const all = s ? encodingsOf(s) : [];
    const canvas = canvasOf(all);
    const frames: HTMLElement[] = [];
    const controls: HTMLElement[] = [];
    for (const e of all) {
      const at = cropFrame(canvas, e, e.crop_x ?? 0.5);
      if (!at) continue;
      const frame = document.createElement("div");
      frame.className = "crop-frame";
      frame.dataset.name = e.name;
      const place = (f: { left: number; width: number }) => {
        frame.style.left = `${(f.left * 100).toFixed(2)}%`;
        frame.style.width = `${(f.width * 100).toFixed(2)}%`;
      };
      place(at);
      const tag = document.createElement("span");
      tag.textContent = e.name;
      frame.appendChild(tag);
      frames.push(frame);
      const label = document.createElement("label");
      label.className = "crop-control";
      label.textContent = `${e.name} crop `;
      const range = document.createElement("input");
      range.type = "range";
      range.min = "0";
      range.max = "100";
      range.step = "1";
      range.value = String(Math.round((e.crop_x ?? 0.5) * 100));
      range.dataset.name = e.name;
      range.setAttribute("aria-label", `Horizontal position of the ${e.name} crop`);
      range.addEventListener("input", () => {
        const f = cropFrame(canvas, e, Number(range.value) / 100);
        if (f) place(f);
      });
      range.addEventListener("change", async () => {
        const r = await commands.setCrop(e.name, Number(range.value) / 100);
        if (r.status === "error") el.studioError.textContent = errText(r.error);
        else setSettings(r.data);
      });
      label.appendChild(range);
      controls.push(label);
    }
    el.cropFrames.replaceChildren(...frames);
    el.cropControls.replaceChildren(...controls);
  }
  onSettingsChanged(() => {
    // A slider being dragged keeps its place; the rest follow the settings.
    if (!el.cropControls.contains(document.activeElement)) renderCrops();
  });

  // The picture and the meters come in one message a preview period and
  // are drawn together at the next animation frame (none while the window
  // is hidden); a message that comes before it replaces the one waiting.
  let nextPicture: PreviewPicture | null = null;
  let nextMeters: MeterUpdate | null = null;
  let drawScheduled = false;
  function draw() {
    drawScheduled = false;
    if (nextPicture) {
      renderer.draw(nextPicture);
      nextPicture = null;
      shown.frames = (shown.frames ?? 0) + 1;
    }
    if (nextMeters) {
      mixer.onMeters(nextMeters);
      nextMeters = null;
    }
  }
  function onCapture(tick: CaptureTick) {
    if (tick.picture) {
      shown.received = (shown.received ?? 0) + 1;
      nextPicture = tick.picture;
      if (!el.previewIdle.hidden) el.previewIdle.hidden = true;
    }
    if (tick.meters) nextMeters = tick.meters;
    if (drawScheduled) return;
    drawScheduled = true;
    requestAnimationFrame(draw);
  }

  // The capture's feed is pulled from the app, one request at a time: the
  // next is asked as soon as a message arrives (the app answers when it has
  // a newer one, or empty after 2 s), so a busy page never has a backlog.
  const captureUrl = convertFileSrc("next", "onair-capture");
  let pulling = false;
  async function pullCapture() {
    if (pulling) return;
    pulling = true;
    let after = 0;
    for (;;) {
      try {
        const r = await fetch(`${captureUrl}?after=${after}`, { cache: "no-store" });
        if (r.status === 204) continue;
        if (r.ok) {
          const tick = parseCapture(await r.arrayBuffer());
          if (tick) {
            after = tick.seq;
            onCapture(tick);
          }
          continue;
        }
      } catch {
        // The app is going away, or refused: ask again in a moment.
      }
      await new Promise((again) => setTimeout(again, 1000));
    }
  }

  // A minimised window is sent no pictures or meters (the app makes none):
  // streaming with OnAir minimised costs the encode only.
  document.addEventListener("visibilitychange", () => void commands.windowShown(!document.hidden));

  function setLive(on: boolean) {
    app.live = on;
    goLive.textContent = on ? "End Stream" : "Go Live";
    goLive.classList.toggle("live", on);
    goLive.setAttribute("aria-pressed", String(on));
    el.onAir.textContent = on ? "● On air" : "Off air";
    el.onAir.classList.toggle("live", on);
    videoSource.disabled = audioSource.disabled = desktopSource.disabled = on || app.recording;
    for (const t of cards.querySelectorAll<HTMLInputElement>(".card-toggle")) t.disabled = !on;
    // The preview and meters go on: the sources stay open off air.
    if (!on && !app.recording) el.warnings.textContent = "";
  }

  function setRecording(on: boolean) {
    if (on === app.recording) return;
    app.recording = on;
    recordButton.classList.toggle("recording", on);
    recordButton.setAttribute("aria-pressed", String(on));
    el.recordLabel.textContent = on ? "Stop recording" : "Record";
    videoSource.disabled = audioSource.disabled = desktopSource.disabled = on || app.live;
  }

  recordButton.addEventListener("click", async () => {
    el.studioError.textContent = "";
    recordButton.disabled = true;
    if (app.recording) {
      const r = await commands.stopRecording();
      recordButton.disabled = false;
      if (r.status === "error") {
        el.studioError.textContent = errText(r.error);
        return;
      }
      setRecording(false);
      const s = r.data;
      el.recStatus.textContent = s.error
        ? `Recording ended early: ${s.error}. Saved up to there: ${s.path}`
        : `Saved ${recordingText(s.duration_ms, s.bytes)} → ${s.path}`;
      return;
    }
    el.recStatus.textContent = "Starting the recording…";
    const r = await commands.startRecording();
    recordButton.disabled = false;
    if (r.status === "error") {
      el.recStatus.textContent = "";
      el.studioError.textContent = errText(r.error);
      return;
    }
    setRecording(true);
    el.recStatus.textContent = `● REC starting → ${r.data}`;
  });

  el.saveReport.addEventListener("click", async () => {
    const r = await commands.saveCheckReport();
    el.checkSaved.textContent = r.status === "error" ? errText(r.error) : `Saved to ${r.data}`;
  });

  goLive.addEventListener("click", async () => {
    el.studioError.textContent = "";
    goLive.disabled = true;
    if (app.live) {
      const r = await commands.endStream();
      if (r.status === "error") el.studioError.textContent = errText(r.error);
      else if (r.data) renderCheck(r.data);
      setLive(false);
      for (const c of cards.querySelectorAll<HTMLElement>(".card")) {
        const st = part<HTMLElement>(c, ".card-state");
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
    el.checkSaved.textContent = "";
    const r = await commands.startStream();
    goLive.disabled = false;
    if (r.status === "error") {
      el.studioError.textContent = errText(r.error);
      cards.replaceChildren();
      renderCards();
      return;
    }
    setLive(true);
  });

  /** Takes the feeds when the page loads: the chosen sources' preview and
   * meters from now on (before going live too), and whatever runs — after
   * the web process crashed, the stream having gone on in the app: the
   * cards, Go Live's state, the recording. */
  async function attach() {
    const updates = new Channel<LiveUpdate>();
    updates.onmessage = onUpdate;
    const r = await commands.attach(updates);
    void pullCapture();
    // A window loaded minimised says so (the app takes a new one as shown).
    if (document.hidden) void commands.windowShown(false);
    if (r.status === "error") {
      showSourceError(errText(r.error));
      return;
    }
    if (!r.data) return;
    const u: LiveUpdate = r.data;
    history.clear();
    cards.replaceChildren();
    renderCards();
    setLive(u.streaming);
    onUpdate(u);
  }

  async function loadSources() {
    const s: Sources = await commands.listSources();
    const fill = (sel: HTMLSelectElement, opts: { value: string; label: string }[], value: string) => {
      sel.replaceChildren(...opts.map((o) => new Option(o.label, o.value, false, o.value === value)));
      if (!opts.some((o) => o.value === value)) sel.add(new Option(`${value} (not found)`, value, false, true));
    };
    fill(videoSource, s.video, app.settings?.video_source ?? "test");
    fill(audioSource, s.audio, app.settings?.audio_source ?? "tone");
    fill(desktopSource, s.desktop, app.settings?.audio_mix.desktop_source ?? "");
  }

  async function saveSources() {
    if (!app.settings) return;
    const next = { ...app.settings, video_source: videoSource.value, audio_source: audioSource.value };
    const r = await commands.saveSettings(next);
    if (r.status === "error") el.studioError.textContent = errText(r.error);
    else setSettings(r.data);
  }
  videoSource.addEventListener("change", saveSources);
  audioSource.addEventListener("change", saveSources);

  /** A source that cannot be opened: said over the preview and under the
   * controls (until one can; another error there is left alone). */
  let sourceError = "";
  function showSourceError(text: string) {
    if (el.studioError.textContent === sourceError) el.studioError.textContent = text;
    sourceError = text;
    el.previewIdle.textContent = text ? "A source cannot be opened (see below)" : "Opening the camera…";
    if (text) el.previewIdle.hidden = false;
  }
  // Saved sources (or encodings: another canvas) are shown at once when
  // nothing runs; the app keeps the same ones open if nothing changed.
  onSettingsChanged(async () => {
    if (app.live || app.recording) return;
    const r = await commands.previewSources();
    if (r.status === "error") showSourceError(errText(r.error));
    else if (sourceError) showSourceError("");
  });

  onProfilesChanged(renderCards);
  /** A global shortcut pressed: as if its button were pressed (so the
   * window shows what happens, errors included). */
  function onShortcut(action: string) {
    if (action === "go_live" && !goLive.disabled) goLive.click();
    else if (action === "record" && !recordButton.disabled) recordButton.click();
    else if (action === "mute_mic") mixer.toggleMute("mic");
  }

  return { setLive, loadSources, attach, onShortcut };
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
