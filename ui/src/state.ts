// What the screens share: the platform presets, the saved profiles and
// settings, whether the Studio is live or recording; a few helpers that
// show them the same way everywhere.
import {
  commands,
  type AppError,
  type Platform_Serialize as Platform,
  type ProfileView,
  type Settings_Serialize as Settings,
} from "./bindings";

export const app = {
  platforms: [] as Platform[],
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
