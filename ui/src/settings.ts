// Settings: the encode (resolution, frame rate, bitrates, keyframes), the
// other encodings destinations may pick, the network (drop threshold,
// dynamic bitrate), the stream check, recordings.
import { commands, type Encoding_Serialize as Encoding, type Settings_Serialize as Settings } from "./bindings";
import { lookup } from "./dom";
import { encodingLabel, parseSize, shortcutOf } from "./format";
import { settingsIds } from "./ids";
import { app, errText, reloadProfiles, setSettings } from "./state";

/** A small button of the encodings list. */
function smallButton(text: string, kind: string, label: string, onClick: () => void): HTMLButtonElement {
  const b = document.createElement("button");
  b.type = "button";
  b.className = `${kind} small`;
  b.textContent = text;
  b.setAttribute("aria-label", label);
  b.addEventListener("click", onClick);
  return b;
}

/** Starts the Settings screen; returns what shows saved settings. */
export function initSettings(): { fillSettings: (s: Settings) => void } {
  const el = lookup(settingsIds);
  const resolution = el.resolution as HTMLSelectElement;
  const fps = el.fps as HTMLSelectElement;
  const videoKbps = el.videoKbps as HTMLInputElement;
  const keyframe = el.keyframe as HTMLInputElement;
  const audioKbps = el.audioKbps as HTMLSelectElement;
  const dropMs = el.dropMs as HTMLInputElement;
  const dynamic = el.dynamic as HTMLInputElement;
  const streamCheck = el.streamCheck as HTMLInputElement;
  const recordFolder = el.recordFolder as HTMLInputElement;
  const recordPattern = el.recordPattern as HTMLInputElement;
  const shortcutFields = [
    el.shortcutGoLive as HTMLInputElement,
    el.shortcutRecord as HTMLInputElement,
    el.shortcutMuteMic as HTMLInputElement,
  ] as const;
  // A shortcut field takes the keys pressed in it (saved with the form).
  for (const f of shortcutFields) {
    f.addEventListener("keydown", (e) => {
      const combo = shortcutOf(e);
      if (combo === null) return;
      e.preventDefault();
      f.value = combo;
    });
  }

  /** Shortcuts the system would not give the app (another holds them). */
  async function showShortcutProblems() {
    const p = await commands.shortcutProblems();
    el.shortcutProblems.textContent = p.join("\n");
    el.shortcutProblems.hidden = p.length === 0;
  }
  void showShortcutProblems();
  const recordEncoding = el.recordEncoding as HTMLSelectElement;
  const preset = el.encodingPreset as HTMLSelectElement;
  const encName = el.encodingName as HTMLInputElement;
  const encSize = el.encodingSize as HTMLInputElement;
  const encFps = el.encodingFps as HTMLInputElement;
  const encKbps = el.encodingKbps as HTMLInputElement;
  const encKeyframe = el.encodingKeyframe as HTMLInputElement;
  const encSave = el.encodingSave as HTMLButtonElement;
  const encCancel = el.encodingCancel as HTMLButtonElement;
  /** The encodings besides main, as edited (saved with the settings). */
  let encodings: Encoding[] = [];
  /** The encoding being edited (its name before the edit), or null: adding. */
  let editingEncoding: string | null = null;

  function fillEncodingForm(e: Encoding | null) {
    encName.value = e?.name ?? "";
    encSize.value = e ? `${e.width}x${e.height}` : "";
    encFps.value = String(e?.fps ?? 30);
    encKbps.value = String(e?.video_kbps ?? 3000);
    encKeyframe.value = String(e?.keyframe_interval_s ?? 2);
  }

  function editEncoding(e: Encoding | null) {
    editingEncoding = e?.name ?? null;
    fillEncodingForm(e);
    el.encodingLegend.textContent = e ? `Edit ${e.name}` : "Add an encoding";
    encSave.textContent = e ? "Update encoding" : "Add encoding";
    encCancel.hidden = !e;
    el.encodingError.textContent = "";
  }

  /** The encodings a recording may take: main and the edited list. */
  function fillRecordEncodings(current: string) {
    recordEncoding.replaceChildren(
      new Option("main", "main"),
      ...encodings.map((e) => new Option(e.name, e.name)),
    );
    recordEncoding.value = encodings.some((e) => e.name === current) ? current : "main";
  }

  function renderEncodings() {
    fillRecordEncodings(recordEncoding.value);
    const s = app.settings;
    const main = document.createElement("li");
    main.dataset.name = "main";
    main.textContent = s
      ? `${encodingLabel({ name: "main", width: s.width, height: s.height, fps: s.fps, video_kbps: s.video_kbps })} (the picture above)`
      : "main";
    el.encodingList.replaceChildren(
      main,
      ...encodings.map((e) => {
        const li = document.createElement("li");
        li.dataset.name = e.name;
        const label = document.createElement("span");
        label.textContent = encodingLabel(e);
        const edit = smallButton("Edit", "secondary", `Edit encoding ${e.name}`, () => {
          editEncoding(e);
          encName.focus();
        });
        const del = smallButton("Delete", "danger", `Delete encoding ${e.name}`, () => {
          encodings = encodings.filter((x) => x.name !== e.name);
          if (editingEncoding === e.name) editEncoding(null);
          renderEncodings();
          el.message.textContent = "Save the settings to keep the change.";
        });
        li.append(label, edit, del);
        return li;
      }),
    );
  }

  preset.addEventListener("change", () => {
    const e = app.readyMade.find((x) => x.name === preset.value);
    if (e) fillEncodingForm({ ...e, name: encName.value.trim() || e.name });
  });

  encCancel.addEventListener("click", () => editEncoding(null));

  encSave.addEventListener("click", () => {
    el.encodingError.textContent = "";
    const name = encName.value.trim();
    const size = parseSize(encSize.value);
    if (!/^[a-z0-9_-]{1,32}$/.test(name) || name === "main") {
      el.encodingError.textContent = "Give it a name of 1 to 32 lower-case letters, digits, - or _ (not main).";
      encName.focus();
      return;
    }
    if (!size) {
      el.encodingError.textContent = "The size must be W×H, even, 16 to 3840 a side (e.g. 720x1280).";
      encSize.focus();
      return;
    }
    if (encodings.some((x) => x.name === name && x.name !== editingEncoding)) {
      el.encodingError.textContent = `There is already an encoding called ${name}.`;
      encName.focus();
      return;
    }
    const before = encodings.find((x) => x.name === editingEncoding);
    const e: Encoding = {
      name,
      ...size,
      fps: Number(encFps.value),
      video_kbps: Number(encKbps.value),
      keyframe_interval_s: Number(encKeyframe.value),
      crop_x: before?.crop_x ?? 0.5,
    };
    encodings = editingEncoding
      ? encodings.map((x) => (x.name === editingEncoding ? e : x))
      : [...encodings, e];
    editEncoding(null);
    renderEncodings();
    el.message.textContent = "Save the settings to keep the change.";
  });

  /** The ready-made choices (known once the app said them). */
  function fillPresets() {
    preset.replaceChildren(
      new Option("Custom", ""),
      ...app.readyMade.map((e) => new Option(`${e.name} (${e.width}×${e.height}, ${e.fps} fps)`, e.name)),
    );
  }

  function fillSettings(s: Settings) {
    fillPresets();
    encodings = s.encodings.map((e) => ({ ...e }));
    editEncoding(null);
    recordEncoding.value = "";
    fillRecordEncodings(s.record_encoding);
    renderEncodings();
    resolution.value = `${s.width}x${s.height}`;
    if (resolution.value === "") {
      resolution.add(new Option(`${s.width} × ${s.height}`, `${s.width}x${s.height}`, true, true));
    }
    fps.value = String(s.fps);
    videoKbps.value = String(s.video_kbps);
    keyframe.value = String(s.keyframe_interval_s);
    audioKbps.value = String(s.audio_kbps);
    dropMs.value = String(s.drop_threshold_ms);
    dynamic.checked = s.dynamic_bitrate;
    streamCheck.checked = s.stream_check;
    recordFolder.value = s.record_folder;
    recordPattern.value = s.record_pattern;
    shortcutFields[0].value = s.shortcuts.go_live;
    shortcutFields[1].value = s.shortcuts.record;
    shortcutFields[2].value = s.shortcuts.mute_mic;
  }

  // The system's folder picker; the folder chosen is saved with the form.
  el.chooseFolder.addEventListener("click", async () => {
    const button = el.chooseFolder as HTMLButtonElement;
    button.disabled = true;
    const r = await commands.chooseRecordFolder(recordFolder.value);
    button.disabled = false;
    if (r.status === "error") {
      el.error.textContent = errText(r.error);
      return;
    }
    if (r.data != null) {
      recordFolder.value = r.data;
      el.message.textContent = "Save to use this folder.";
    }
    button.focus();
  });

  (el.form as HTMLFormElement).addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!app.settings) return;
    const [w, h] = resolution.value.split("x").map(Number);
    const r = await commands.saveSettings({
      ...app.settings,
      width: w,
      height: h,
      fps: Number(fps.value),
      video_kbps: Number(videoKbps.value),
      keyframe_interval_s: Number(keyframe.value),
      audio_kbps: Number(audioKbps.value),
      drop_threshold_ms: Number(dropMs.value),
      dynamic_bitrate: dynamic.checked,
      stream_check: streamCheck.checked,
      record_folder: recordFolder.value.trim(),
      record_pattern: recordPattern.value,
      shortcuts: {
        go_live: shortcutFields[0].value,
        record: shortcutFields[1].value,
        mute_mic: shortcutFields[2].value,
      },
      encodings,
      record_encoding: recordEncoding.value === "main" ? "" : recordEncoding.value,
    });
    el.error.textContent = "";
    el.message.textContent = "";
    if (r.status === "error") {
      el.error.textContent = errText(r.error);
      return;
    }
    setSettings(r.data);
    fillSettings(r.data);
    el.message.textContent = "Saved. Applies the next time you go live (shortcuts at once).";
    await showShortcutProblems();
    // A profile's problems depend on the settings.
    await reloadProfiles();
  });

  return { fillSettings };
}
