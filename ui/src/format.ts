// Pure display logic: formatting, state labels, validation, the preview's
// colour conversion. No DOM, no IPC: unit-tested with Vitest.

export type Tone = "ok" | "warn" | "bad" | "idle";

/** kbps below 1 Mbps, else Mbps; "—" before there is a figure. */
export function formatBitrate(kbps: number | null | undefined): string {
  if (kbps == null || !Number.isFinite(kbps)) return "—";
  // At most three digits, so a card's figure always fits whole.
  if (kbps >= 9_950) return `${Math.round(kbps / 1000)} Mbps`;
  if (kbps >= 999.5) return `${(kbps / 1000).toFixed(1)} Mbps`;
  return `${Math.round(kbps)} kbps`;
}

/** Latency, short enough to fit a card ("4.3 ms", "120 ms", "2.4 s"). */
export function formatLatency(ms: number | null | undefined): string {
  if (ms == null || !Number.isFinite(ms)) return "—";
  if (ms >= 9_995) return `${Math.round(ms / 1000)} s`;
  if (ms >= 999.5) return `${(ms / 1000).toFixed(1)} s`;
  return ms < 10 ? `${ms.toFixed(1)} ms` : `${Math.round(ms)} ms`;
}

/** The latency figure's label: what it measures. */
export function latencyLabel(source: string | null | undefined): string {
  return source === "queue_rtt" ? "Queue + RTT" : "Latency";
}

/** What the latency figure means, for a tooltip. */
export function latencyHelp(source: string | null | undefined): string {
  return source === "queue_rtt"
    ? "This server does not acknowledge often: time waiting in our queue plus the network round trip."
    : "Capture to the server's receipt, from the server's acknowledgements.";
}

/** h:mm:ss or m:ss. */
export function formatUptime(s: number | null | undefined): string {
  if (s == null || !Number.isFinite(s) || s < 0) return "—";
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = Math.floor(s % 60);
  const mm = h > 0 ? String(m).padStart(2, "0") : String(m);
  return `${h > 0 ? `${h}:` : ""}${mm}:${String(sec).padStart(2, "0")}`;
}

/** The error kinds a user needs told apart, in their words. */
export function errorLabel(kind: string | null | undefined): string {
  switch (kind) {
    case "key_rejected":
      return "stream key rejected";
    case "refused":
      return "the server refused the stream";
    case "app_rejected":
      return "the server refused the application path (check the server URL)";
    case "held":
      return "the server still holds the previous connection; retrying";
    case "tls":
      return "secure connection failed";
    case "unreachable":
      return "cannot reach the server";
    case "server_closed":
      return "the server closed the connection";
    case "stalled":
      return "the connection stalled";
    case "protocol":
      return "the server misbehaved";
    default:
      return "";
  }
}

export interface CardState {
  text: string;
  tone: Tone;
  detail: string;
}

/** What a destination card says about its state. */
export function cardState(
  s: {
    state: string;
    next_retry_ms?: number | null;
    error?: string | null;
    error_kind?: string | null;
  },
  on = true,
): CardState {
  if (!on) return { text: "Off", tone: "idle", detail: "" };
  switch (s.state) {
    case "live":
      return { text: "Live", tone: "ok", detail: "" };
    case "connecting":
      // Retrying: say why the last attempt failed.
      return {
        text: "Connecting",
        tone: "warn",
        detail: s.error_kind ? errorLabel(s.error_kind) || s.error || "" : "",
      };
    case "reconnecting": {
      const secs = s.next_retry_ms == null ? null : Math.ceil(s.next_retry_ms / 1000);
      const label = errorLabel(s.error_kind);
      return {
        text: secs == null || secs <= 0 ? "Reconnecting" : `Reconnecting in ${secs} s`,
        tone: "warn",
        detail: label || s.error || "",
      };
    }
    case "failed":
      return { text: "Failed", tone: "bad", detail: errorLabel(s.error_kind) || s.error || "" };
    case "stopped":
      return { text: "Stopped", tone: "idle", detail: "" };
    default:
      return { text: "Idle", tone: "idle", detail: "" };
  }
}

/** Congestion 0..1 as a colour tone. */
export function congestionTone(c: number | null | undefined): Tone {
  if (c == null || !Number.isFinite(c)) return "idle";
  if (c >= 0.9) return "bad";
  if (c >= 0.5) return "warn";
  return "ok";
}

/** Meter fill 0..1 from dBFS (−60 dB = empty). */
export function meterFill(dbfs: number | null | undefined): number {
  if (dbfs == null || !Number.isFinite(dbfs)) return 0;
  return Math.min(1, Math.max(0, (dbfs + 60) / 60));
}

/** A problem with a server URL typed by the user, or null. */
export function serverUrlProblem(url: string): string | null {
  const u = url.trim();
  if (u === "") return "Enter the server URL.";
  const m = /^(rtmps?):\/\/([^/\s]+)(\/\S*)?$/.exec(u);
  if (!m) return "The server URL starts with rtmp:// or rtmps:// and has no spaces.";
  if (!m[3] || m[3] === "/") return "Add the application path, for example /live or /app.";
  return null;
}

/** Converts I420 (Y, U, V planes) to RGBA for a canvas: limited range,
 * BT.709 (an HD stream) or BT.601. */
export function i420ToRgba(src: Uint8Array, w: number, h: number, out: Uint8ClampedArray, bt709 = false): void {
  // Limited range; Kr, Kb of BT.709 or BT.601.
  const [rv, gu, gv, bu] = bt709 ? [1.793, 0.213, 0.533, 2.112] : [1.596, 0.392, 0.813, 2.017];
  const ySize = w * h;
  const cw = w >> 1;
  const uOff = ySize;
  const vOff = ySize + (ySize >> 2);
  for (let y = 0; y < h; y++) {
    const crow = (y >> 1) * cw;
    for (let x = 0; x < w; x++) {
      const Y = 1.164 * (src[y * w + x] - 16);
      const U = src[uOff + crow + (x >> 1)] - 128;
      const V = src[vOff + crow + (x >> 1)] - 128;
      const o = (y * w + x) * 4;
      out[o] = Y + rv * V;
      out[o + 1] = Y - gu * U - gv * V;
      out[o + 2] = Y + bu * U;
      out[o + 3] = 255;
    }
  }
}

/** Base64 to bytes. */
export function fromBase64(b64: string): Uint8Array {
  const s = atob(b64);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

/** A fixed-length history of numbers for the bitrate graph. */
export function pushHistory(h: number[], v: number, max = 60): number[] {
  const next = h.length >= max ? h.slice(h.length - max + 1) : h.slice();
  next.push(Number.isFinite(v) ? v : 0);
  return next;
}

/** A number from Rust (f64 serialises NaN as null). */
type N = number | null;
const n = (x: N | undefined): number => (x == null || !Number.isFinite(x) ? 0 : x);

/** The stream check report as it comes from Rust (the fields the UI shows). */
export interface CheckView {
  state: string;
  duration_s: N;
  video?: {
    codec: string;
    profile: string;
    level: string;
    width: number;
    height: number;
    fps: N;
    keyframe_interval_s: { avg: N; max: N };
    kbps: { avg: N; max: N };
    colour?: { signalled: boolean; matrix: string; range: string };
  } | null;
  audio?: {
    codec: string;
    profile: string;
    sample_rate: number;
    channels: number;
    kbps: { avg: N; max: N };
  } | null;
  alignment: { start_offset_ms: N; skew_ms: N; max_skew_ms: N };
  gaps: { video: N; audio: N; largest_ms: N; backwards: N };
}

/** The colour description the stream carries, in words. */
export function colourText(c: { signalled: boolean; matrix: string; range: string }): string {
  if (!c.signalled) return "not signalled (players guess)";
  return `${c.matrix}, ${c.range} range`;
}

/** The stream check's facts, as (label, value) rows. */
export function checkFacts(r: CheckView): [string, string][] {
  const v = r.video ?? null;
  const a = r.audio ?? null;
  const signed = (x: N) => `${n(x) > 0 ? "+" : ""}${Math.round(n(x))} ms`;
  const gaps = n(r.gaps.video) + n(r.gaps.audio);
  const channels = (c: number) => (c === 1 ? "mono" : c === 2 ? "stereo" : `${c} ch`);
  return [
    ["Video", v ? `${v.codec} ${v.profile}, level ${v.level}` : "waiting"],
    ["Resolution", v && v.width ? `${v.width} × ${v.height}` : "—"],
    ["Frame rate", v && n(v.fps) ? `${n(v.fps).toFixed(2)} fps` : "—"],
    [
      "Keyframes",
      v && n(v.keyframe_interval_s.avg)
        ? `every ${n(v.keyframe_interval_s.avg).toFixed(2)} s (max ${n(v.keyframe_interval_s.max).toFixed(2)} s)`
        : "—",
    ],
    ["Video bitrate", v ? `${formatBitrate(n(v.kbps.avg))} (peak ${formatBitrate(n(v.kbps.max))})` : "—"],
    ["Colour", v?.colour ? colourText(v.colour) : "—"],
    [
      "Audio",
      a
        ? `${a.codec} ${a.profile}, ${(a.sample_rate / 1000).toFixed(1)} kHz, ${channels(a.channels)}, ${formatBitrate(n(a.kbps.avg))}`
        : "none",
    ],
    [
      "A/V sync",
      `starts ${signed(r.alignment.start_offset_ms)}, skew ${signed(r.alignment.skew_ms)} (max ${Math.round(n(r.alignment.max_skew_ms))} ms)`,
    ],
    [
      "Timestamp gaps",
      gaps === 0 && n(r.gaps.backwards) === 0
        ? "none"
        : `${gaps} (longest ${Math.round(n(r.gaps.largest_ms))} ms)${n(r.gaps.backwards) ? `, ${n(r.gaps.backwards)} backwards` : ""}`,
    ],
  ];
}

/** Seconds received, for the check's state line. */
export function secondsText(s: N): string {
  return `${n(s).toFixed(1)} s`;
}

/** A recording's running figures: "0:12 · 4.5 MB". */
export function recordingText(durationMs: N, bytes: N): string {
  const mb = n(bytes) / (1024 * 1024);
  return `${formatUptime(n(durationMs) / 1000)} · ${mb >= 1000 ? `${(mb / 1024).toFixed(2)} GB` : `${mb.toFixed(1)} MB`}`;
}

// ---------- encodings ----------

/** `WxH` (or `W×H`) to even sizes from 16 to 3840 a side, or null. */
export function parseSize(text: string): { width: number; height: number } | null {
  const m = /^\s*(\d{2,4})\s*[x×X]\s*(\d{2,4})\s*$/.exec(text);
  if (!m) return null;
  const [width, height] = [Number(m[1]), Number(m[2])];
  const ok = (n: number) => n >= 16 && n <= 3840 && n % 2 === 0;
  return ok(width) && ok(height) && width * height <= 3840 * 2160 ? { width, height } : null;
}

/** One line about an encoding: "vertical · 720×1280 · 30 fps · 3000 kbps". */
export function encodingLabel(e: {
  name: string;
  width: number;
  height: number;
  fps: number;
  video_kbps: number;
}): string {
  return `${e.name} · ${e.width}×${e.height} · ${e.fps} fps · ${e.video_kbps} kbps`;
}

/** Where an encoding narrower than the capture takes its picture, as
 * fractions of the capture's width (`left`, `width`); null when it takes the
 * whole width. `x` is its crop position, 0 (left) to 1 (right). */
export function cropFrame(
  canvas: { width: number; height: number },
  e: { width: number; height: number },
  x: number,
): { left: number; width: number } | null {
  if (e.width * canvas.height >= canvas.width * e.height) return null;
  const width = (canvas.height * e.width) / e.height / canvas.width;
  const pos = Number.isFinite(x) ? Math.min(1, Math.max(0, x)) : 0.5;
  return { left: (1 - width) * pos, width };
}

/** The capture's size: the largest encoding by area (the first of equals). */
export function canvasOf(encodings: { width: number; height: number }[]): { width: number; height: number } {
  let best = encodings[0] ?? { width: 1280, height: 720 };
  for (const e of encodings) if (e.width * e.height > best.width * best.height) best = e;
  return { width: best.width, height: best.height };
}

/** A key combination as the settings keep it ("Ctrl+Alt+Shift+L") from a
 * key press; "" for Backspace or Delete alone (clear); null while only
 * modifiers are down, or for Tab and Escape alone (they move on). */
export function shortcutOf(e: {
  code: string;
  ctrlKey: boolean;
  altKey: boolean;
  shiftKey: boolean;
  metaKey: boolean;
}): string | null {
  if (/^(Control|Alt|Shift|Meta|OS)(Left|Right)?$/.test(e.code)) return null;
  const mods = [
    e.ctrlKey ? "Ctrl" : "",
    e.altKey ? "Alt" : "",
    e.shiftKey ? "Shift" : "",
    e.metaKey ? "Super" : "",
  ].filter(Boolean);
  if (mods.length === 0) {
    if (e.code === "Backspace" || e.code === "Delete") return "";
    if (e.code === "Tab" || e.code === "Escape") return null;
  }
  const key = e.code.replace(/^Key(?=[A-Z]$)/, "").replace(/^Digit(?=[0-9]$)/, "");
  return [...mods, key].join("+");
}
