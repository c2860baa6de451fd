import { describe, expect, it } from "vitest";
import { parsePreview, PREVIEW_HEADER } from "./preview";

function picture(w: number, h: number, flags: number, extra = 0): ArrayBuffer {
  const cw = (w + 1) >> 1;
  const ch = (h + 1) >> 1;
  const buf = new ArrayBuffer(PREVIEW_HEADER + w * h + 2 * cw * ch + extra);
  const d = new DataView(buf);
  d.setUint16(0, w, true);
  d.setUint16(2, h, true);
  d.setUint8(4, flags);
  const bytes = new Uint8Array(buf, PREVIEW_HEADER);
  bytes.fill(16, 0, w * h);
  bytes.fill(100, w * h, w * h + cw * ch);
  bytes.fill(200, w * h + cw * ch);
  return buf;
}

describe("preview pictures", () => {
  it("reads the size, the colours and the three planes from the raw bytes", () => {
    const p = parsePreview(picture(384, 216, 1));
    expect(p).not.toBeNull();
    expect([p!.width, p!.height, p!.bt709]).toEqual([384, 216, true]);
    expect([p!.y.length, p!.u.length, p!.v.length]).toEqual([384 * 216, 192 * 108, 192 * 108]);
    expect([p!.y[0], p!.u[0], p!.v[p!.v.length - 1]]).toEqual([16, 100, 200]);
    expect(parsePreview(picture(4, 2, 0))!.bt709).toBe(false);
  });
  it("refuses bytes that do not hold a whole picture", () => {
    expect(parsePreview(new ArrayBuffer(3))).toBeNull();
    expect(parsePreview(picture(0, 0, 0))).toBeNull();
    expect(parsePreview(picture(384, 216, 0).slice(0, 1000))).toBeNull();
  });
});
