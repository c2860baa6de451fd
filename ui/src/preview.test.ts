import { describe, expect, it } from "vitest";
import { CAPTURE_HEADER, parseCapture } from "./preview";

const METERS = { sources: [], mix: { peak_dbfs: -12, rms_dbfs: -15, hold_dbfs: -11 }, clipping: false, muted: false };

function tick(w: number, h: number, flags: number, meters: object | null = null, seq = 1): ArrayBuffer {
  const json = meters ? new TextEncoder().encode(JSON.stringify(meters)) : new Uint8Array();
  const cw = (w + 1) >> 1;
  const ch = (h + 1) >> 1;
  const planes = w && h ? w * h + 2 * cw * ch : 0;
  const buf = new ArrayBuffer(CAPTURE_HEADER + json.length + planes);
  const d = new DataView(buf);
  d.setUint16(0, w, true);
  d.setUint16(2, h, true);
  d.setUint8(4, flags);
  d.setUint32(8, json.length, true);
  d.setUint32(12, seq, true);
  new Uint8Array(buf, CAPTURE_HEADER).set(json);
  const bytes = new Uint8Array(buf, CAPTURE_HEADER + json.length);
  bytes.fill(16, 0, w * h);
  bytes.fill(100, w * h, w * h + cw * ch);
  bytes.fill(200, w * h + cw * ch);
  return buf;
}

describe("the capture's feed", () => {
  it("reads the size, the colours and the three planes from the raw bytes", () => {
    const p = parseCapture(tick(384, 216, 1))!.picture;
    expect(p).not.toBeNull();
    expect([p!.width, p!.height, p!.bt709]).toEqual([384, 216, true]);
    expect([p!.y.length, p!.u.length, p!.v.length]).toEqual([384 * 216, 192 * 108, 192 * 108]);
    expect([p!.y[0], p!.u[0], p!.v[p!.v.length - 1]]).toEqual([16, 100, 200]);
    expect(parseCapture(tick(4, 2, 0))!.picture!.bt709).toBe(false);
  });
  it("reads the meters sent with a picture or alone", () => {
    const both = parseCapture(tick(384, 216, 0, METERS))!;
    expect(both.meters).toEqual(METERS);
    expect(both.picture!.y[0]).toBe(16);
    expect(both.picture!.v[both.picture!.v.length - 1]).toBe(200);
    expect(parseCapture(tick(0, 0, 0, METERS, 9))).toEqual({ seq: 9, picture: null, meters: METERS });
    expect(parseCapture(tick(384, 216, 0))!.meters).toBeNull();
  });
  it("refuses bytes that do not hold a whole message", () => {
    expect(parseCapture(new ArrayBuffer(3))).toBeNull();
    expect(parseCapture(tick(384, 216, 0).slice(0, 1000))).toBeNull();
    expect(parseCapture(tick(0, 0, 0, METERS).slice(0, CAPTURE_HEADER + 5))).toBeNull();
    const bad = tick(0, 0, 0, METERS);
    new Uint8Array(bad, CAPTURE_HEADER, 1).fill(0x7b + 1);
    expect(parseCapture(bad)).toBeNull();
  });
});
