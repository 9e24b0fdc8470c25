/**
 * The parts of a context that many keys have alike, made once and shared: contexts are frozen, so two keys with
 * no defaults hold the same object. With 100,000 keys cached, a `defaults` of their own and an empty `rateLimits`
 * (which `parseRateLimits()` shares) were about 100 of the 590 bytes each key kept. Only what is built on a look-up comes here, never on a cached request.
 */

/** No default config and no metadata: the `defaults` of every context without one. */
export const NO_DEFAULTS: Readonly<{ configId: string | null; metadata: Readonly<Record<string, string>> }> = Object.freeze({
  configId: null,
  metadata: Object.freeze({}),
})

/** The frozen `defaults` of a context: `NO_DEFAULTS` when there is neither a config nor metadata. */
export function sharedDefaults(
  configId: string | null,
  metadata: Readonly<Record<string, string>>,
): Readonly<{ configId: string | null; metadata: Readonly<Record<string, string>> }> {
  for (const _ in metadata) return Object.freeze({ configId, metadata })
  return configId === null ? NO_DEFAULTS : Object.freeze({ configId, metadata })
}
