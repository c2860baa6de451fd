/// <reference types="vite/client" />
import { describe, expect, it } from "vitest";
import { lookup } from "./dom";
import { destinationsIds, settingsIds, shellIds, studioIds } from "./ids";
import html from "../index.html?raw";

const pageIds = [...html.matchAll(/\sid="([^"]+)"/g)].map((m) => m[1]);

/** A page holding exactly `ids` (elements are stand-ins). */
const page = (ids: string[]) => ({
  getElementById: (id: string) => (ids.includes(id) ? ({ id } as unknown as HTMLElement) : null),
});

describe("element lookups", () => {
  it("find every element of a screen by name", () => {
    const el = lookup({ go: "go-live", cards: "cards" }, page(["go-live", "cards"]));
    expect(el.go.id).toBe("go-live");
    expect(el.cards.id).toBe("cards");
  });

  it("fail at once naming every missing id", () => {
    expect(() => lookup({ a: "go-live", b: "gone", c: "also-gone" }, page(["go-live"]))).toThrow(
      "the page has no element #gone, #also-gone",
    );
  });

  it("name only ids the page has, each once", () => {
    const all = [shellIds, studioIds, destinationsIds, settingsIds].flatMap((t) => Object.values(t));
    for (const id of all) expect(pageIds, `#${id}`).toContain(id);
    expect(new Set(pageIds).size).toBe(pageIds.length);
    expect(() => lookup(studioIds, page(pageIds))).not.toThrow();
  });
});
