// The Studio's audio mixer: a strip per source (the microphone or test
// tone, desktop audio) with meters before and after its filters, a volume
// fader, mute, the one-switch "Voice" preset and a filters panel; a master
// mute and a clip light. Changes apply at once while live and are saved in
// the settings (the engine brings every value into its range).
import {
  commands,
  type AudioFilters_Serialize as AudioFilters,
  type AudioMix_Serialize as AudioMix,
  type Level,
  type MeterUpdate,
} from "./bindings";
import { part } from "./dom";
import { meterFill } from "./format";
import { app, errText, onSettingsChanged, setSettings } from "./state";

type Kind = "mic" | "desktop";

export type MixerEls = {
  strips: HTMLElement;
  stripTemplate: HTMLElement;
  muteAll: HTMLElement;
  clip: HTMLElement;
  desktopSource: HTMLElement;
  meter: HTMLElement;
  meterPeak: HTMLElement;
  meterRms: HTMLElement;
  meterDb: HTMLElement;
  studioError: HTMLElement;
};

/** One meter bar: RMS fill, peak line, held peak. */
// Meters are written 15 times a second (with each preview picture): each
// write below happens only when the value changes (writing the same value
// again still invalidates the element's style and repaints it — in
// software, without a GPU).
function setStyle(e: HTMLElement, name: "width" | "left", v: string) {
  if (e.style[name] !== v) e.style[name] = v;
}
function setAttr(e: Element, name: string, v: string) {
  if (e.getAttribute(name) !== v) e.setAttribute(name, v);
}
function setText(e: Node, v: string) {
  if (e.textContent !== v) e.textContent = v;
}
function setHidden(e: HTMLElement, v: boolean) {
  if (e.hidden !== v) e.hidden = v;
}

function showLevel(meter: HTMLElement, l: Level | null) {
  const fill = (x: number | null | undefined) => `${Math.round(meterFill(x ?? null) * 100)}%`;
  setStyle(part<HTMLElement>(meter, ".meter-rms"), "width", fill(l?.rms_dbfs));
  setStyle(part<HTMLElement>(meter, ".meter-peak"), "width", fill(l?.peak_dbfs));
  const hold = meter.querySelector<HTMLElement>(".meter-hold");
  if (hold) {
    setStyle(hold, "left", fill(l?.hold_dbfs));
    setHidden(hold, l?.hold_dbfs == null);
  }
  setAttr(meter, "aria-valuenow", String(Math.round(l?.peak_dbfs ?? -60)));
}

// The filter switches and number fields of a strip, by class.
const numbers: [string, keyof AudioFilters][] = [
  [".f-gate-open", "gate_open_dbfs"],
  [".f-gate-close", "gate_close_dbfs"],
  [".f-gate-attack", "gate_attack_ms"],
  [".f-gate-hold", "gate_hold_ms"],
  [".f-gate-release", "gate_release_ms"],
  [".f-comp-threshold", "compressor_threshold_dbfs"],
  [".f-comp-ratio", "compressor_ratio"],
  [".f-comp-attack", "compressor_attack_ms"],
  [".f-comp-release", "compressor_release_ms"],
  [".f-comp-makeup", "compressor_makeup_db"],
  [".f-limiter-ceiling", "limiter_ceiling_dbfs"],
  [".f-limiter-release", "limiter_release_ms"],
];
const switches: [string, "denoise" | "gate" | "compressor" | "limiter"][] = [
  [".f-denoise", "denoise"],
  [".f-gate", "gate"],
  [".f-comp", "compressor"],
  [".f-limiter", "limiter"],
];

const dbText = (db: number | null) => (db == null ? "—" : `${db > 0 ? "+" : ""}${db.toFixed(1)} dB`);

export function initMixer(el: MixerEls): {
  onMeters: (m: MeterUpdate) => void;
  toggleMute: (kind: Kind) => void;
} {
  const strips = new Map<Kind, HTMLElement>();
  const desktopSource = el.desktopSource as HTMLSelectElement;
  let sending = false;
  let dirty = false;

  const mix = (): AudioMix | null => app.settings?.audio_mix ?? null;

  /** Saves (and applies) the mix; one request at a time, the last wins. */
  async function send(next: AudioMix) {
    if (!app.settings) return;
    app.settings = { ...app.settings, audio_mix: next };
    if (sending) {
      dirty = true;
      return;
    }
    sending = true;
    const r = await commands.setAudioMix(next);
    sending = false;
    if (r.status === "error") el.studioError.textContent = errText(r.error);
    else if (dirty) {
      dirty = false;
      const latest = mix();
      if (latest) void send(latest);
    } else setSettings(r.data);
  }

  function change(kind: Kind, edit: (s: AudioMix["mic"]) => AudioMix["mic"]) {
    const m = mix();
    if (!m) return;
    void send({ ...m, [kind]: edit(m[kind]) });
  }

  /** Shows a strip's values (leaving alone the field being edited). */
  function fill(kind: Kind, node: HTMLElement) {
    const m = mix();
    if (!m) return;
    const s = m[kind];
    const f = s.filters;
    const set = (sel: string, v: string) => {
      const input = part<HTMLInputElement>(node, sel);
      if (document.activeElement !== input) input.value = v;
    };
    set(".volume", String(s.volume_db ?? 0));
    part(node, ".volume-db").textContent = dbText(s.volume_db);
    set(".f-gain", String(f.gain_db ?? 0));
    part(node, ".f-gain-db").textContent = dbText(f.gain_db);
    for (const [sel, key] of numbers) set(sel, String(f[key] ?? ""));
    for (const [sel, key] of switches) part<HTMLInputElement>(node, sel).checked = f[key];
    part<HTMLInputElement>(node, ".voice").checked = f.denoise && f.gate && f.compressor && f.limiter;
    const mute = part<HTMLElement>(node, ".mute");
    mute.setAttribute("aria-pressed", String(s.muted));
    mute.textContent = s.muted ? "Muted" : "Mute";
  }

  function makeStrip(kind: Kind): HTMLElement {
    const tpl = el.stripTemplate as HTMLTemplateElement;
    const node = part<HTMLElement>(tpl.content, ".strip").cloneNode(true) as HTMLElement;
    node.dataset.source = kind;
    const name = kind === "desktop" ? "Desktop audio" : "Microphone";
    part<HTMLElement>(node, ".meter.pre").setAttribute("aria-label", `${name} level before the filters`);
    part<HTMLElement>(node, ".meter.post").setAttribute("aria-label", `${name} level after the filters`);
    part<HTMLElement>(node, ".mute").setAttribute("aria-label", `Mute ${name.toLowerCase()}`);
    part<HTMLElement>(node, ".volume").setAttribute("aria-label", `${name} volume`);
    const filters = (edit: (f: AudioFilters) => AudioFilters) =>
      change(kind, (s) => ({ ...s, filters: edit(s.filters) }));
    part(node, ".mute").addEventListener("click", () => change(kind, (s) => ({ ...s, muted: !s.muted })));
    const volume = part<HTMLInputElement>(node, ".volume");
    volume.addEventListener("input", () => {
      const db = Number(volume.value);
      part(node, ".volume-db").textContent = dbText(db);
      change(kind, (s) => ({ ...s, volume_db: db }));
    });
    const gain = part<HTMLInputElement>(node, ".f-gain");
    gain.addEventListener("input", () => {
      const db = Number(gain.value);
      part(node, ".f-gain-db").textContent = dbText(db);
      filters((f) => ({ ...f, gain_db: db }));
    });
    part<HTMLInputElement>(node, ".voice").addEventListener("change", (e) => {
      const on = (e.target as HTMLInputElement).checked;
      filters((f) => ({ ...f, denoise: on, gate: on, compressor: on, limiter: on }));
    });
    for (const [sel, key] of switches) {
      const box = part<HTMLInputElement>(node, sel);
      box.addEventListener("change", () => filters((f) => ({ ...f, [key]: box.checked })));
    }
    for (const [sel, key] of numbers) {
      const input = part<HTMLInputElement>(node, sel);
      input.addEventListener("change", () => {
        const v = Number(input.value);
        if (input.value.trim() !== "" && Number.isFinite(v)) filters((f) => ({ ...f, [key]: v }));
      });
    }
    return node;
  }

  /** The strips the settings call for: the microphone (or tone) unless
   * there is no audio, desktop audio when it is on. */
  function render() {
    const s = app.settings;
    if (!s) return;
    const want: Kind[] = [];
    if (s.audio_source !== "none") want.push("mic");
    if (s.audio_mix.desktop_source !== "") want.push("desktop");
    for (const [k, node] of strips) {
      if (!want.includes(k)) {
        node.remove();
        strips.delete(k);
      }
    }
    for (const k of want) {
      let node = strips.get(k);
      if (!node) {
        node = makeStrip(k);
        strips.set(k, node);
        el.strips.appendChild(node);
      }
      part(node, ".strip-name").textContent =
        k === "desktop" ? "Desktop audio" : s.audio_source === "tone" ? "Test tone" : "Microphone";
      fill(k, node);
    }
    const allMuted = s.audio_mix.muted;
    el.muteAll.setAttribute("aria-pressed", String(allMuted));
    el.muteAll.textContent = allMuted ? "All muted" : "Mute all";
    if (document.activeElement !== desktopSource && desktopSource.options.length) {
      desktopSource.value = s.audio_mix.desktop_source;
    }
  }

  el.muteAll.addEventListener("click", () => {
    const m = mix();
    if (m) void send({ ...m, muted: !m.muted });
  });
  desktopSource.addEventListener("change", () => {
    const m = mix();
    if (m) void send({ ...m, desktop_source: desktopSource.value });
  });
  onSettingsChanged(render);

  // How many meter updates arrived (read by the window tests' rate check:
  // a property, not an attribute, so counting repaints nothing).
  const counted = el.strips as HTMLElement & { updates?: number };
  function onMeters(u: MeterUpdate) {
    counted.updates = (counted.updates ?? 0) + 1;
    for (const s of u.sources) {
      const node = strips.get(s.source === "desktop" ? "desktop" : "mic");
      if (!node) continue;
      showLevel(part<HTMLElement>(node, ".meter.pre"), s.pre);
      showLevel(part<HTMLElement>(node, ".meter.post"), s.post);
      setText(
        part(node, ".gate-state"),
        s.lost ? "lost" : s.gate_open == null ? "" : s.gate_open ? "gate open" : "gate closed",
      );
    }
    const peak = u.mix.peak_dbfs ?? null;
    setStyle(el.meterPeak, "width", `${Math.round(meterFill(peak) * 100)}%`);
    setStyle(el.meterRms, "width", `${Math.round(meterFill(u.mix.rms_dbfs ?? null) * 100)}%`);
    setAttr(el.meter, "aria-valuenow", String(Math.round(peak ?? -60)));
    setText(el.meterDb, peak == null ? "—" : `${Math.round(peak)} dB`);
    setHidden(el.clip, !u.clipping);
  }

  /** Mutes or unmutes a source (a global shortcut), as its button does. */
  function toggleMute(kind: Kind) {
    change(kind, (s) => ({ ...s, muted: !s.muted }));
  }

  return { onMeters, toggleMute };
}
