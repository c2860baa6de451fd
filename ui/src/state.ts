// What the screens share: the platform presets, the saved profiles and
// settings, whether the Studio is live or recording; a few helpers that
// show them the same way everywhere.
import {
  commands,
  type AppError,
  type Encoding_Serialize as Encoding,
  type Platform_Serialize as Platform,
  type ProfileView,
  type Settings_Serialize as Settings,
} from "./bindings";

export const app = {
  platforms: [] as Platform[],
  readyMade: [] as Encoding[],
  profiles: [] as ProfileView[],
  settings: null as Settings | null,
  live: false,
  recording: false,
};

/** The id of the built-in stream check's card (profile ids start with p). */
export const CHECK_ID = "check";

const profileListeners: (() => void)[] = [];

/** Calls `f` whenever the profiles were read again. */
export function onProfilesChanged(f: () => void) {
  profileListeners.push(f);
}

/** Reads the profiles again (their problems follow the settings) and tells
 * every screen. */
export async function reloadProfiles() {
  app.profiles = await commands.listProfiles();
  for (const f of profileListeners) f();
}

const settingsListeners: ((s: Settings) => void)[] = [];

/** Calls `f` whenever the settings were saved (and once set at start). */
export function onSettingsChanged(f: (s: Settings) => void) {
  settingsListeners.push(f);
}

/** The settings as saved now; tells every screen. */
export function setSettings(s: Settings) {
  app.settings = s;
  for (const f of settingsListeners) f(s);
}

/** Every encoding of the settings: main (the picture settings) first. */
export function encodingsOf(s: Settings): Encoding[] {
  return [
    {
      name: "main",
      width: s.width,
      height: s.height,
      fps: s.fps,
      video_kbps: s.video_kbps,
      keyframe_interval_s: s.keyframe_interval_s,
      crop_x: s.main_crop_x,
    },
    ...s.encodings,
  ];
}

export function errText(e: AppError): string {
  return e.message;
}

const platformColours: Record<string, string> = {
  check: "#2f9e6e",
  twitch: "#9146ff",
  youtube: "#ff0033",
  facebook: "#1877f2",
  kick: "#53fc18",
  linkedin: "#0a66c2",
  custom: "#5b6472",
};

export function platformName(id: string): string {
  if (id === CHECK_ID) return "Stream check";
  return app.platforms.find((p) => p.id === id)?.name ?? id;
}

/** A platform's round icon: its initial on its colour. */
export function icon(el: HTMLElement, platform: string) {
  el.textContent = platformName(platform).slice(0, 1);
  el.style.background = platformColours[platform] ?? platformColours.custom;
}
