// Settings: the encode (resolution, frame rate, bitrates, keyframes), the
// network (drop threshold, dynamic bitrate), the stream check, recordings.
import { commands, type Settings_Serialize as Settings } from "./bindings";
import { lookup } from "./dom";
import { settingsIds } from "./ids";
import { app, errText, reloadProfiles } from "./state";

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

  function fillSettings(s: Settings) {
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
  }

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
    });
    el.error.textContent = "";
    el.message.textContent = "";
    if (r.status === "error") {
      el.error.textContent = errText(r.error);
      return;
    }
    app.settings = r.data;
    el.message.textContent = "Saved. Applies the next time you go live.";
    // A profile's problems depend on the settings.
    await reloadProfiles();
  });

  return { fillSettings };
}
