// The OnAir window: Studio (studio.ts), Destinations (destinations.ts),
// Settings (settings.ts) under three tabs. Each screen looks its elements
// up once when it starts (ids.ts; a missing id stops the page here), and
// talks to Rust only through the generated, typed commands (bindings.ts).
import { Channel } from "@tauri-apps/api/core";
import { commands } from "./bindings";
import { initDestinations } from "./destinations";
import { lookup } from "./dom";
import { shellIds } from "./ids";
import { initSettings } from "./settings";
import { app, reloadProfiles, setSettings } from "./state";
import { initStudio } from "./studio";

const el = lookup(shellIds);
const studio = initStudio();
const destinations = initDestinations();
const settings = initSettings();

// ---------- navigation ----------
const views = [
  { tab: el.tabStudio, panel: el.viewStudio },
  { tab: el.tabDestinations, panel: el.viewDestinations },
  { tab: el.tabSettings, panel: el.viewSettings },
];

function show(index: number) {
  views.forEach((v, i) => {
    const on = i === index;
    v.tab.setAttribute("aria-selected", String(on));
    v.tab.tabIndex = on ? 0 : -1;
    v.panel.hidden = !on;
  });
}

views.forEach((v, i) => v.tab.addEventListener("click", () => show(i)));
el.gotoDestinations.addEventListener("click", () => show(1));
el.tabStudio.parentElement?.addEventListener("keydown", (e) => {
  const ev = e as KeyboardEvent;
  if (ev.key !== "ArrowRight" && ev.key !== "ArrowLeft") return;
  const cur = views.findIndex((v) => v.tab.getAttribute("aria-selected") === "true");
  const next = (cur + (ev.key === "ArrowRight" ? 1 : views.length - 1)) % views.length;
  show(next);
  views[next].tab.focus();
});

// ---------- notices ----------
el.noticeClose.addEventListener("click", () => (el.notice.hidden = true));

// ---------- closing while live ----------
// The app asks here before a close would end the show.
const closeDialog = el.closeDialog as HTMLDialogElement;
const closing = new Channel<null>();
closing.onmessage = () => {
  if (!closeDialog.open) closeDialog.showModal();
};
el.keepStreaming.addEventListener("click", () => closeDialog.close());
el.endAndQuit.addEventListener("click", async () => {
  (el.endAndQuit as HTMLButtonElement).disabled = true;
  el.endAndQuit.textContent = "Ending…";
  await commands.quit();
});

// ---------- global shortcuts ----------
// Pressed anywhere, acted on here as the buttons would be.
const shortcuts = new Channel<string>();
shortcuts.onmessage = (action) => studio.onShortcut(action);

// ---------- start ----------
async function start() {
  await commands.watchClose(closing);
  await commands.watchShortcuts(shortcuts);
  const info = await commands.appInfo();
  app.platforms = info.platforms;
  app.readyMade = info.ready_made_encodings;
  destinations.fillPlatforms();
  el.about.textContent = `OnAir ${info.version} — the same version as the onair command (onair --version).`;
  if (info.notice) {
    el.noticeText.textContent = info.notice;
    el.notice.hidden = false;
  }
  if (info.key_store_problem) {
    el.keystoreProblem.textContent = info.key_store_problem;
    el.keystoreProblem.hidden = false;
  }
  setSettings(await commands.getSettings());
  if (app.settings) settings.fillSettings(app.settings);
  await reloadProfiles();
  destinations.editProfile(null);
  // Go Live works from the first launch: the stream check needs no account.
  show(0);
  studio.setLive(false);
  await studio.loadSources();
  await studio.attach();
}

void start();
