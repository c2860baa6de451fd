// The Studio's preview and meters: the page pulls each tick of the
// capture's feed from the app's own URI scheme (one fetch a message, the
// next asked as soon as one arrives) as one binary message — a 16-byte
// header, the meters as JSON, then the picture's Y, U and V planes; no
// base64 — so the page repaints once for both. The picture is turned into
// RGB on the GPU by a WebGL shader, or, where WebGL is missing, by a loop
// into one reused ImageData on a 2D canvas. Drawing allocates nothing per
// picture but the views on the bytes received.
import type { MeterUpdate } from "./bindings";
import { i420ToRgba } from "./format";

/** A preview picture as sent by the app. */
export interface PreviewPicture {
  width: number;
  height: number;
  /** BT.709 (an HD stream), else BT.601; limited range. */
  bt709: boolean;
  y: Uint8Array;
  u: Uint8Array;
  v: Uint8Array;
}

/** One tick of the capture's feed. */
export interface CaptureTick {
  /** Its number (the next request asks for a newer one). */
  seq: number;
  /** A new picture, if the capture made one since the last tick. */
  picture: PreviewPicture | null;
  /** The meters, if any. */
  meters: MeterUpdate | null;
}

/** Header: width (u16 LE), height (u16 LE; 0 × 0: no picture), flags (bit
 * 0: BT.709), 3 spare, the meters' length (u32 LE; 0: none), the message's
 * number (u32 LE). */
export const CAPTURE_HEADER = 16;

const utf8 = new TextDecoder();

/** Reads a tick; null when the bytes are not one whole message. */
export function parseCapture(buf: ArrayBuffer): CaptureTick | null {
  if (buf.byteLength < CAPTURE_HEADER) return null;
  const d = new DataView(buf);
  const width = d.getUint16(0, true);
  const height = d.getUint16(2, true);
  const bt709 = (d.getUint8(4) & 1) === 1;
  const metersLength = d.getUint32(8, true);
  const seq = d.getUint32(12, true);
  const at = CAPTURE_HEADER + metersLength;
  if (at > buf.byteLength) return null;
  let meters: MeterUpdate | null = null;
  if (metersLength > 0) {
    try {
      meters = JSON.parse(utf8.decode(new Uint8Array(buf, CAPTURE_HEADER, metersLength))) as MeterUpdate;
    } catch {
      return null;
    }
  }
  if (width === 0 || height === 0) return { seq, picture: null, meters };
  const cw = (width + 1) >> 1;
  const ch = (height + 1) >> 1;
  const ySize = width * height;
  const cSize = cw * ch;
  if (buf.byteLength < at + ySize + 2 * cSize) return null;
  const picture = {
    width,
    height,
    bt709,
    y: new Uint8Array(buf, at, ySize),
    u: new Uint8Array(buf, at + ySize, cSize),
    v: new Uint8Array(buf, at + ySize + cSize, cSize),
  };
  return { seq, picture, meters };
}

/** Draws pictures on a canvas. */
export interface PreviewRenderer {
  readonly kind: "webgl" | "2d";
  draw(p: PreviewPicture): void;
}

const VERTEX = `
attribute vec2 p;
varying vec2 uv;
void main() {
  uv = vec2((p.x + 1.0) * 0.5, (1.0 - p.y) * 0.5);
  gl_Position = vec4(p, 0.0, 1.0);
}`;

// Limited-range YCbCr to RGB, the same coefficients as i420ToRgba.
const FRAGMENT = `
precision mediump float;
uniform sampler2D ty;
uniform sampler2D tu;
uniform sampler2D tv;
uniform vec4 k;
varying vec2 uv;
void main() {
  float y = 1.164 * (texture2D(ty, uv).r * 255.0 - 16.0);
  float u = texture2D(tu, uv).r * 255.0 - 128.0;
  float v = texture2D(tv, uv).r * 255.0 - 128.0;
  vec3 rgb = vec3(y + k.x * v, y - k.y * u - k.z * v, y + k.w * u) / 255.0;
  gl_FragColor = vec4(clamp(rgb, 0.0, 1.0), 1.0);
}`;

const BT709 = [1.793, 0.213, 0.533, 2.112];
const BT601 = [1.596, 0.392, 0.813, 2.017];

function webglRenderer(canvas: HTMLCanvasElement): PreviewRenderer | null {
  const gl = canvas.getContext("webgl", {
    alpha: false,
    antialias: false,
    depth: false,
    stencil: false,
    premultipliedAlpha: false,
    preserveDrawingBuffer: false,
  });
  if (!gl) return null;
  const shader = (type: number, src: string) => {
    const s = gl.createShader(type);
    if (!s) return null;
    gl.shaderSource(s, src);
    gl.compileShader(s);
    return gl.getShaderParameter(s, gl.COMPILE_STATUS) ? s : null;
  };
  const vs = shader(gl.VERTEX_SHADER, VERTEX);
  const fs = shader(gl.FRAGMENT_SHADER, FRAGMENT);
  const prog = gl.createProgram();
  if (!vs || !fs || !prog) return null;
  gl.attachShader(prog, vs);
  gl.attachShader(prog, fs);
  gl.linkProgram(prog);
  if (!gl.getProgramParameter(prog, gl.LINK_STATUS)) return null;
  gl.useProgram(prog);
  const quad = gl.createBuffer();
  gl.bindBuffer(gl.ARRAY_BUFFER, quad);
  gl.bufferData(gl.ARRAY_BUFFER, new Float32Array([-1, -1, 1, -1, -1, 1, 1, 1]), gl.STATIC_DRAW);
  const at = gl.getAttribLocation(prog, "p");
  gl.enableVertexAttribArray(at);
  gl.vertexAttribPointer(at, 2, gl.FLOAT, false, 0, 0);
  gl.pixelStorei(gl.UNPACK_ALIGNMENT, 1);
  const k = gl.getUniformLocation(prog, "k");
  const textures = (["ty", "tu", "tv"] as const).map((name, i) => {
    const t = gl.createTexture();
    gl.activeTexture(gl.TEXTURE0 + i);
    gl.bindTexture(gl.TEXTURE_2D, t);
    for (const [p, v] of [
      [gl.TEXTURE_MIN_FILTER, gl.LINEAR],
      [gl.TEXTURE_MAG_FILTER, gl.LINEAR],
      [gl.TEXTURE_WRAP_S, gl.CLAMP_TO_EDGE],
      [gl.TEXTURE_WRAP_T, gl.CLAMP_TO_EDGE],
    ]) {
      gl.texParameteri(gl.TEXTURE_2D, p, v);
    }
    gl.uniform1i(gl.getUniformLocation(prog, name), i);
    return t;
  });
  let size = "";
  return {
    kind: "webgl",
    draw(p) {
      const cw = (p.width + 1) >> 1;
      const ch = (p.height + 1) >> 1;
      const planes: [Uint8Array, number, number][] = [
        [p.y, p.width, p.height],
        [p.u, cw, ch],
        [p.v, cw, ch],
      ];
      const resized = size !== `${p.width}x${p.height}`;
      if (resized) {
        canvas.width = p.width;
        canvas.height = p.height;
        gl.viewport(0, 0, p.width, p.height);
        size = `${p.width}x${p.height}`;
      }
      planes.forEach(([data, w, h], i) => {
        gl.activeTexture(gl.TEXTURE0 + i);
        gl.bindTexture(gl.TEXTURE_2D, textures[i]);
        if (resized) gl.texImage2D(gl.TEXTURE_2D, 0, gl.LUMINANCE, w, h, 0, gl.LUMINANCE, gl.UNSIGNED_BYTE, data);
        else gl.texSubImage2D(gl.TEXTURE_2D, 0, 0, 0, w, h, gl.LUMINANCE, gl.UNSIGNED_BYTE, data);
      });
      const m = p.bt709 ? BT709 : BT601;
      gl.uniform4f(k, m[0], m[1], m[2], m[3]);
      gl.drawArrays(gl.TRIANGLE_STRIP, 0, 4);
    },
  };
}

function canvasRenderer(canvas: HTMLCanvasElement): PreviewRenderer {
  const ctx = canvas.getContext("2d");
  let image: ImageData | null = null;
  let planes = new Uint8Array(0);
  return {
    kind: "2d",
    draw(p) {
      if (!image || image.width !== p.width || image.height !== p.height) {
        canvas.width = p.width;
        canvas.height = p.height;
        image = new ImageData(p.width, p.height);
        planes = new Uint8Array(p.y.length + p.u.length + p.v.length);
      }
      planes.set(p.y, 0);
      planes.set(p.u, p.y.length);
      planes.set(p.v, p.y.length + p.u.length);
      i420ToRgba(planes, p.width, p.height, image.data, p.bt709);
      ctx?.putImageData(image, 0, 0);
    },
  };
}

/** WebGL where the web view has it, else a 2D canvas. */
export function previewRenderer(canvas: HTMLCanvasElement): PreviewRenderer {
  return webglRenderer(canvas) ?? canvasRenderer(canvas);
}
