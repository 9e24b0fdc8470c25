/**
 * The parts of a context that many keys have alike, made once and shared: contexts are frozen, so two keys with
 * the same scopes may hold the same array. With 100,000 keys cached, a scope list and a `defaults` of their own (and
 * `rateLimits`, which `parseRateLimits()` shares when empty) were about 150 of the 590 bytes each key kept (`node --expose-gc bench/scale.js keys
 * 100000`). Only what is built on a look-up comes here, never on a cached request.
 */

const NO_METADATA: Readonly<Record<string, string>> = Object.freeze({})

/** No default config and no metadata: the `defaults` of every context without one. */
export const NO_DEFAULTS: Readonly<{ configId: string | null; metadata: Readonly<Record<string, string>> }> = Object.freeze({
  configId: null,
  metadata: NO_METADATA,
})

/**
 * How many different scope lists are shared at most: past it, a new list is a copy of its own (the lists a
 * deployment's keys have are few; this only bounds what an odd key service could make it hold).
 */
const MOST_SCOPE_LISTS = 1_024
const scopeLists = new Map<string, readonly string[]>()

/** A frozen list of `scopes`, the one already made for the same scopes in the same order when there is one. */
export function sharedScopes(scopes: readonly string[]): readonly string[] {
  // The JSON of the list: scopes may hold any character, a separator of one would be ambiguous.
  const name = JSON.stringify(scopes)
  let list = scopeLists.get(name)
  if (list === undefined) {
    list = Object.freeze([...scopes])
    if (scopeLists.size < MOST_SCOPE_LISTS) scopeLists.set(name, list)
  }
  return list
}

/** The frozen `defaults` of a context: `NO_DEFAULTS` when there is neither a config nor metadata. */
export function sharedDefaults(
  configId: string | null,
  metadata: Readonly<Record<string, string>>,
): Readonly<{ configId: string | null; metadata: Readonly<Record<string, string>> }> {
  for (const _ in metadata) return Object.freeze({ configId, metadata })
  return configId === null ? NO_DEFAULTS : Object.freeze({ configId, metadata: NO_METADATA })
}
