// Destinations: the saved profiles (platform presets, server, name, on or
// off) and their stream keys, which go to the OS credential store and never
// come back to the window.
import { commands, type ProfileView } from "./bindings";
import { lookup } from "./dom";
import { encodingLabel, serverUrlProblem } from "./format";
import { destinationsIds } from "./ids";
import {
  app,
  encodingsOf,
  errText,
  icon,
  onProfilesChanged,
  onSettingsChanged,
  platformName,
  reloadProfiles,
} from "./state";

/** Starts the Destinations screen; returns what opens the form. */
export function initDestinations(): { editProfile: (p: ProfileView | null) => void; fillPlatforms: () => void } {
  const el = lookup(destinationsIds);
  const platformSel = el.platform as HTMLSelectElement;
  const serverPick = el.serverPick as HTMLSelectElement;
  const serverUrl = el.serverUrl as HTMLInputElement;
  const streamKey = el.streamKey as HTMLInputElement;
  const profileName = el.profileName as HTMLInputElement;
  const profileEnabled = el.profileEnabled as HTMLInputElement;
  const profileEncoding = el.profileEncoding as HTMLSelectElement;
  let editing: string | null = null;

  /** The encodings a destination may pick (main first), keeping `current`. */
  function fillEncodings(current: string) {
    const all = app.settings ? encodingsOf(app.settings) : [];
    profileEncoding.replaceChildren(...all.map((e) => new Option(encodingLabel(e), e.name)));
    if (!all.some((e) => e.name === current) && current) {
      profileEncoding.add(new Option(`${current} (no longer exists)`, current));
    }
    profileEncoding.value = current || "main";
    suggest();
  }

  /** What the platform suggests, and whether an encoding matches it. */
  function suggest() {
    const p = app.platforms.find((x) => x.id === platformSel.value);
    const e = p?.suggested;
    if (!e) {
      el.encodingHint.textContent = "";
      return;
    }
    const all = app.settings ? encodingsOf(app.settings) : [];
    const match = all.find((x) => x.width === e.width && x.height === e.height && x.fps === e.fps);
    el.encodingHint.textContent =
      `${p.name} suggests ${e.width}×${e.height} at ${e.fps} fps, ${e.video_kbps} kbps` +
      (match ? ` (${match.name} matches).` : p.vertical ? ": add a vertical encoding in Settings." : ".");
  }
  onSettingsChanged(() => fillEncodings(profileEncoding.value));
  profileEncoding.addEventListener("change", suggest);

  function fillServers(platformId: string, current?: string) {
    const p = app.platforms.find((x) => x.id === platformId);
    const servers = p?.servers ?? [];
    el.serverPickLabel.hidden = servers.length === 0;
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
    el.keyHint.textContent = p ? `Where to find the key: ${p.key_hint}` : "";
  }

  platformSel.addEventListener("change", () => {
    fillServers(platformSel.value);
    suggest();
    if (!editing && (profileName.value === "" || app.platforms.some((p) => p.name === profileName.value))) {
      profileName.value = platformName(platformSel.value);
    }
  });
  serverPick.addEventListener("change", () => {
    if (serverPick.value) serverUrl.value = serverPick.value;
    else serverUrl.focus();
  });

  function editProfile(p: ProfileView | null) {
    editing = p?.id ?? null;
    el.formTitle.textContent = p ? `Edit ${p.name}` : "Add destination";
    platformSel.value = p?.platform ?? app.platforms[0]?.id ?? "custom";
    profileName.value = p?.name ?? platformName(platformSel.value);
    if (p) {
      serverUrl.value = p.server_url;
      fillServers(p.platform, p.server_url);
    } else {
      serverUrl.value = "";
      fillServers(platformSel.value);
    }
    streamKey.value = "";
    el.keyState.textContent = p ? (p.has_key ? "(a key is stored — type to replace it)" : "(no key stored yet)") : "";
    streamKey.placeholder = p?.has_key ? "•••••••• stored in the system keyring" : "paste the key";
    profileEnabled.checked = p?.enabled ?? true;
    fillEncodings(p?.encoding ?? "main");
    el.deleteProfile.hidden = !p;
    el.profileError.textContent = "";
    el.profileMessage.textContent = "";
    el.profileProblems.replaceChildren(
      ...(p?.problems ?? []).map((x) => {
        const li = document.createElement("li");
        li.textContent = x.message;
        li.dataset.severity = x.severity;
        return li;
      }),
    );
    for (const li of el.profileList.children) {
      (li as HTMLElement).classList.toggle("selected", (li as HTMLElement).dataset.id === editing);
    }
  }

  function renderProfiles() {
    el.profileList.replaceChildren(
      ...app.profiles.map((p) => {
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
        meta.textContent = `${platformName(p.platform)} · ${p.encoding} · ${p.has_key ? "key set" : "no key"}${p.enabled ? "" : " · off"}`;
        b.append(ic, name, meta);
        b.addEventListener("click", () => editProfile(p));
        li.appendChild(b);
        return li;
      }),
    );
  }
  onProfilesChanged(renderProfiles);

  el.newProfile.addEventListener("click", () => {
    editProfile(null);
    platformSel.focus();
  });

  (el.profileForm as HTMLFormElement).addEventListener("submit", async (e) => {
    e.preventDefault();
    el.profileError.textContent = "";
    el.profileMessage.textContent = "";
    const problem = serverUrlProblem(serverUrl.value);
    if (problem) {
      el.profileError.textContent = problem;
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
      encoding: profileEncoding.value,
    });
    streamKey.value = "";
    if (r.status === "error") {
      el.profileError.textContent = errText(r.error);
      return;
    }
    await reloadProfiles();
    editProfile(app.profiles.find((p) => p.id === r.data.profile.id) ?? null);
    el.profileMessage.textContent = r.data.key_moved_from_url
      ? "Saved. The stream key you pasted into the URL was moved to the key store."
      : "Saved.";
  });

  el.deleteProfile.addEventListener("click", async () => {
    if (!editing) return;
    const r = await commands.deleteProfile(editing);
    if (r.status === "error") {
      el.profileError.textContent = errText(r.error);
      return;
    }
    await reloadProfiles();
    editProfile(null);
  });

  function fillPlatforms() {
    platformSel.replaceChildren(...app.platforms.map((p) => new Option(p.name, p.id)));
  }

  return { editProfile, fillPlatforms };
}
