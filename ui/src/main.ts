import { Channel } from "@tauri-apps/api/core";
import { commands, type StatsUpdate_Deserialize as StatsUpdate } from "./bindings";

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const form = $<HTMLFormElement>("dest-form");
const url = $<HTMLInputElement>("server-url");
const key = $<HTMLInputElement>("stream-key");
const goBtn = $<HTMLButtonElement>("go-live");
const stopBtn = $<HTMLButtonElement>("stop");
const stateEl = $<HTMLSpanElement>("state");
const bitrateEl = $<HTMLSpanElement>("bitrate");
const latencyEl = $<HTMLSpanElement>("latency");
const errorEl = $<HTMLDivElement>("error");

function setLive(live: boolean) {
  goBtn.disabled = live;
  stopBtn.disabled = !live;
  url.disabled = live;
  key.disabled = live;
}

function show(u: StatsUpdate) {
  const o = u.outputs[0];
  if (!o) return;
  stateEl.textContent = o.state;
  stateEl.dataset.state = o.state;
  bitrateEl.textContent = Math.round(o.bitrate_kbps ?? 0).toString();
  const how = o.latency_source === "ack" ? "to server" : o.latency_source === "queue_rtt" ? "queue + RTT" : "";
  latencyEl.textContent = o.latency_ms == null ? "–" : `${Math.round(o.latency_ms)} ms ${how}`;
  errorEl.textContent = o.error ?? "";
  if (o.state === "failed" || o.state === "stopped") setLive(false);
}

form.addEventListener("submit", async (e) => {
  e.preventDefault();
  errorEl.textContent = "";
  setLive(true);
  stateEl.textContent = "connecting";
  stateEl.dataset.state = "connecting";
  const channel = new Channel<StatsUpdate>();
  channel.onmessage = show;
  const r = await commands.goLive(url.value.trim(), key.value.trim(), channel);
  if (r.status === "error") {
    errorEl.textContent = r.error.message;
    stateEl.textContent = "idle";
    delete stateEl.dataset.state;
    setLive(false);
  }
});

stopBtn.addEventListener("click", async () => {
  stopBtn.disabled = true;
  const r = await commands.stop();
  if (r.status === "error") errorEl.textContent = r.error.message;
  stateEl.textContent = "stopped";
  stateEl.dataset.state = "stopped";
  bitrateEl.textContent = "0";
  setLive(false);
});
