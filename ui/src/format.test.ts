import { describe, expect, it } from "vitest";
import {
  canvasOf,
  cardState,
  cropFrame,
  encodingLabel,
  parseSize,
  checkFacts,
  recordingText,
  congestionTone,
  errorLabel,
  formatBitrate,
  formatLatency,
  latencyLabel,
  formatUptime,
  i420ToRgba,
  meterFill,
  pushHistory,
  serverUrlProblem,
  shortcutOf,
} from "./format";

describe("formatting", () => {
  it("shows bitrates in kbps below 1 Mbps, in Mbps above, and a dash before data", () => {
    expect(formatBitrate(2987.6)).toBe("3.0 Mbps");
    expect(formatBitrate(612.4)).toBe("612 kbps");
    expect(formatBitrate(999.7)).toBe("1.0 Mbps");
    expect(formatBitrate(9_960)).toBe("10 Mbps");
    expect(formatBitrate(12_345)).toBe("12 Mbps");
    // Never longer than a card's figure holds.
    for (const k of [0.4, 99, 999.4, 999.5, 3010, 9949, 9950, 51_000, 99_000]) {
      expect(formatBitrate(k).length).toBeLessThanOrEqual(8);
    }
    expect(formatBitrate(null)).toBe("—");
    expect(formatBitrate(Number.NaN)).toBe("—");
  });

  it("says what the latency measures, in figures that fit", () => {
    expect(formatLatency(4.26)).toBe("4.3 ms");
    expect(formatLatency(37.4)).toBe("37 ms");
    expect(formatLatency(2400)).toBe("2.4 s");
    expect(formatLatency(null)).toBe("—");
    expect(latencyLabel("queue_rtt")).toBe("Queue + RTT");
    expect(latencyLabel("ack")).toBe("Latency");
    for (const ms of [0.04, 9.96, 999, 999.5, 9994, 9995, 120_000]) {
      expect(formatLatency(ms).length).toBeLessThanOrEqual(7);
    }
  });

  it("formats uptime as m:ss and h:mm:ss", () => {
    expect(formatUptime(5)).toBe("0:05");
    expect(formatUptime(65)).toBe("1:05");
    expect(formatUptime(3_725)).toBe("1:02:05");
    expect(formatUptime(null)).toBe("—");
  });
});

describe("state display", () => {
  it("tells the error kinds apart", () => {
    expect(errorLabel("key_rejected")).toBe("stream key rejected");
    expect(errorLabel("tls")).toBe("secure connection failed");
    expect(errorLabel("unreachable")).toBe("cannot reach the server");
    expect(errorLabel("server_closed")).toBe("the server closed the connection");
    expect(errorLabel("app_rejected")).toBe(
      "the server refused the application path (check the server URL)",
    );
    expect(errorLabel("held")).toBe("the server still holds the previous connection; retrying");
    expect(errorLabel(null)).toBe("");
  });

  it("labels each state with a tone, and counts down a reconnect", () => {
    expect(cardState({ state: "live" })).toEqual({ text: "Live", tone: "ok", detail: "" });
    expect(cardState({ state: "connecting" }).tone).toBe("warn");
    const r = cardState({ state: "reconnecting", next_retry_ms: 2_300, error_kind: "unreachable" });
    expect(r).toEqual({ text: "Reconnecting in 3 s", tone: "warn", detail: "cannot reach the server" });
    const f = cardState({ state: "failed", error_kind: "key_rejected", error: "stream key rejected by the server (NetStream.Publish.BadName)" });
    expect(f).toEqual({ text: "Failed", tone: "bad", detail: "stream key rejected" });
    expect(cardState({ state: "live" }, false).text).toBe("Off");
    // Connecting again after a failure says why the last attempt failed.
    expect(cardState({ state: "connecting" }).detail).toBe("");
    expect(cardState({ state: "connecting", error_kind: "held", error: "x" }).detail).toBe(
      "the server still holds the previous connection; retrying",
    );
  });

  it("colours congestion and fills the meter", () => {
    expect(congestionTone(0.1)).toBe("ok");
    expect(congestionTone(0.6)).toBe("warn");
    expect(congestionTone(1)).toBe("bad");
    expect(meterFill(0)).toBe(1);
    expect(meterFill(-30)).toBeCloseTo(0.5);
    expect(meterFill(-90)).toBe(0);
    expect(meterFill(null)).toBe(0);
  });

  it("keeps a bounded history for the graph", () => {
    let h: number[] = [];
    for (let i = 0; i < 100; i++) h = pushHistory(h, i, 60);
    expect(h.length).toBe(60);
    expect(h[0]).toBe(40);
    expect(h[59]).toBe(99);
  });
});

describe("validation", () => {
  it("accepts rtmp and rtmps URLs with an application path", () => {
    expect(serverUrlProblem("rtmp://live.twitch.tv/app")).toBeNull();
    expect(serverUrlProblem("rtmps://a.rtmps.youtube.com:443/live2")).toBeNull();
  });

  it("explains what is wrong with a bad URL", () => {
    expect(serverUrlProblem("")).toMatch(/Enter/);
    expect(serverUrlProblem("http://x/app")).toMatch(/rtmp:\/\//);
    expect(serverUrlProblem("rtmp://host")).toMatch(/application path/);
    expect(serverUrlProblem("rtmp://host/a b")).toMatch(/no spaces/);
  });
});

describe("preview", () => {
  it("converts limited-range I420 grey, white and red", () => {
    const w = 2;
    const h = 2;
    const px = (y: number, u: number, v: number) => {
      const src = new Uint8Array([y, y, y, y, u, v]);
      const out = new Uint8ClampedArray(w * h * 4);
      i420ToRgba(src, w, h, out);
      return Array.from(out.slice(0, 4));
    };
    expect(px(16, 128, 128)).toEqual([0, 0, 0, 255]);
    expect(px(235, 128, 128)).toEqual([255, 255, 255, 255]);
    const red = px(81, 90, 240);
    expect(red[0]).toBeGreaterThan(250);
    expect(red[1]).toBeLessThan(5);
    expect(red[2]).toBeLessThan(5);
  });

  it("reads an HD preview with the BT.709 matrix", () => {
    const rgb = (y: number, u: number, v: number, bt709: boolean) => {
      const src = new Uint8Array([y, y, y, y, u, v]);
      const out = new Uint8ClampedArray(16);
      i420ToRgba(src, 2, 2, out, bt709);
      return Array.from(out.slice(0, 3));
    };
    // 75 % red in BT.709 is (51, 109, 212); read as BT.601 it turns orange.
    const [r, g, b] = rgb(51, 109, 212, true);
    expect(Math.abs(r - 191)).toBeLessThanOrEqual(2);
    expect(g).toBeLessThanOrEqual(2);
    expect(b).toBeLessThanOrEqual(2);
    expect(rgb(51, 109, 212, false)[0]).toBeLessThan(180);
    expect(rgb(235, 128, 128, true)).toEqual([255, 255, 255]);
  });
});

describe("stream check and recording", () => {
  const report = {
    state: "receiving",
    duration_s: 12.3,
    video: {
      codec: "H.264",
      profile: "Constrained Baseline",
      level: "3.1",
      width: 1280,
      height: 720,
      fps: 29.97,
      keyframe_interval_s: { avg: 2, max: 2.03 },
      kbps: { avg: 2987.6, max: 3400 },
      colour: { signalled: true, matrix: "BT.709", range: "limited" },
    },
    audio: { codec: "AAC", profile: "AAC-LC", sample_rate: 48000, channels: 2, kbps: { avg: 160.2, max: 161 } },
    alignment: { start_offset_ms: 0, skew_ms: -51.9, max_skew_ms: 53.1 },
    gaps: { video: 0, audio: 1, largest_ms: 480, backwards: 0 },
  };

  it("lists what the ingest received in words", () => {
    const facts = Object.fromEntries(checkFacts(report));
    expect(facts["Video"]).toBe("H.264 Constrained Baseline, level 3.1");
    expect(facts["Resolution"]).toBe("1280 × 720");
    expect(facts["Colour"]).toBe("BT.709, limited range");
    const unsignalled = { ...report, video: { ...report.video, colour: { signalled: false, matrix: "unspecified", range: "unspecified" } } };
    expect(Object.fromEntries(checkFacts(unsignalled))["Colour"]).toBe("not signalled (players guess)");
    expect(facts["Frame rate"]).toBe("29.97 fps");
    expect(facts["Keyframes"]).toBe("every 2.00 s (max 2.03 s)");
    expect(facts["Video bitrate"]).toBe("3.0 Mbps (peak 3.4 Mbps)");
    expect(facts["Audio"]).toBe("AAC AAC-LC, 48.0 kHz, stereo, 160 kbps");
    expect(facts["A/V sync"]).toBe("starts 0 ms, skew -52 ms (max 53 ms)");
    expect(facts["Timestamp gaps"]).toBe("1 (longest 480 ms)");
  });

  it("says waiting before the video arrives", () => {
    const facts = Object.fromEntries(checkFacts({ ...report, video: null, audio: null }));
    expect(facts["Video"]).toBe("waiting");
    expect(facts["Audio"]).toBe("none");
  });

  it("shows a recording's length and size", () => {
    expect(recordingText(72_500, 5 * 1024 * 1024)).toBe("1:12 · 5.0 MB");
    expect(recordingText(3_600_000, 2048 * 1024 * 1024)).toBe("1:00:00 · 2.00 GB");
  });
});

describe("encodings", () => {
  it("reads sizes either way round and refuses odd or huge ones", () => {
    expect(parseSize("720x1280")).toEqual({ width: 720, height: 1280 });
    expect(parseSize(" 1920 × 1080 ")).toEqual({ width: 1920, height: 1080 });
    expect(parseSize("721x1280")).toBeNull();
    expect(parseSize("3840x3840")).toBeNull();
    expect(parseSize("vertical")).toBeNull();
  });

  it("labels an encoding in one line", () => {
    expect(encodingLabel({ name: "vertical", width: 720, height: 1280, fps: 30, video_kbps: 3000 })).toBe(
      "vertical · 720×1280 · 30 fps · 3000 kbps",
    );
  });

  it("places a vertical crop frame at its position and none for the full width", () => {
    const canvas = { width: 1280, height: 720 };
    const centre = cropFrame(canvas, { width: 720, height: 1280 }, 0.5)!;
    expect(centre.width).toBeCloseTo(405 / 1280, 6);
    expect(centre.left).toBeCloseTo(437.5 / 1280, 6);
    expect(cropFrame(canvas, { width: 720, height: 1280 }, 1)!.left).toBeCloseTo(875 / 1280, 6);
    expect(cropFrame(canvas, { width: 720, height: 1280 }, 7)!.left).toBeCloseTo(875 / 1280, 6);
    expect(cropFrame(canvas, { width: 854, height: 480 }, 0.5)).toBeNull();
    expect(canvasOf([{ width: 1280, height: 720 }, { width: 720, height: 1280 }])).toEqual(canvas);
    expect(canvasOf([{ width: 1280, height: 720 }, { width: 1080, height: 1920 }])).toEqual({ width: 1080, height: 1920 });
  });
});

describe("shortcutOf", () => {
  const press = (code: string, mods: Partial<Record<"ctrlKey" | "altKey" | "shiftKey" | "metaKey", boolean>> = {}) =>
    shortcutOf({ code, ctrlKey: false, altKey: false, shiftKey: false, metaKey: false, ...mods });
  it("writes modifiers then the key, as the app reads them", () => {
    expect(press("KeyL", { ctrlKey: true, altKey: true, shiftKey: true })).toBe("Ctrl+Alt+Shift+L");
    expect(press("Digit5", { metaKey: true })).toBe("Super+5");
    expect(press("F9", { altKey: true })).toBe("Alt+F9");
    expect(press("ArrowUp", { ctrlKey: true })).toBe("Ctrl+ArrowUp");
  });
  it("waits while only modifiers are down, and lets Tab and Escape move on", () => {
    expect(press("ControlLeft", { ctrlKey: true })).toBeNull();
    expect(press("ShiftRight", { shiftKey: true, ctrlKey: true })).toBeNull();
    expect(press("Tab")).toBeNull();
    expect(press("Escape")).toBeNull();
  });
  it("clears with Backspace or Delete alone", () => {
    expect(press("Backspace")).toBe("");
    expect(press("Delete")).toBe("");
    expect(press("Backspace", { ctrlKey: true })).toBe("Ctrl+Backspace");
  });
});
