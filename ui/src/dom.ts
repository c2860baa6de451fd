// Element lookups, checked once at startup: every screen names the ids it
// uses in `ids.ts` and looks them all up when it starts, so a renamed id
// makes the page fail to start (in the window tests) instead of failing on
// a creator's click.

/** Where ids are looked up (the document, or a stand-in in unit tests). */
export interface IdSource {
  getElementById(id: string): HTMLElement | null;
}

/** Every element of `ids`, by the same keys; throws naming every id the
 * page lacks. */
export function lookup<K extends string>(
  ids: Readonly<Record<K, string>>,
  doc: IdSource = document,
): Record<K, HTMLElement> {
  const out = {} as Record<K, HTMLElement>;
  const missing: string[] = [];
  for (const key of Object.keys(ids) as K[]) {
    const el = doc.getElementById(ids[key]);
    if (el) out[key] = el;
    else missing.push(`#${ids[key]}`);
  }
  if (missing.length) throw new Error(`the page has no element ${missing.join(", ")}`);
  return out;
}

/** The first element matching `selector` inside `root`; throws if none
 * (for the parts of a cloned template). */
export function part<T extends Element>(root: ParentNode, selector: string): T {
  const el = root.querySelector<T>(selector);
  if (!el) throw new Error(`the template has no ${selector}`);
  return el;
}
