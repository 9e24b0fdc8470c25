import type { Entry } from './cache.js'
import { invalidApiKey, virtualKeyNotAllowed } from './errors.js'
import { isKeyRecord, type Outcome, recordOutcome } from './key-record.js'
import type { LookupGuard } from './lookup-guard.js'
import type { ResolvedOptions } from './options.js'
import type { KeyLookup, VirtualKeyLookup } from './types.js'
import { isVirtualKeyRecord, type VirtualKeyOutcome, virtualKeyOutcome } from './virtual-key.js'

/** What a virtual-key look-up needs: the slug, the caller's workspace, and the caller's credential. */
export interface VirtualKeyRequest {
  readonly slug: string
  readonly workspaceId: string
  readonly credential: string
}

type Deadlines = Pick<ResolvedOptions['cache'], 'ttlMs' | 'staleMs' | 'negativeTtlMs'>

/**
 * Turns the key look-up into cache entries: a record (whatever its status) lives `ttlMs` + `staleMs`,
 * an unknown key `negativeTtlMs`; no answer, or a garbled one, throws `AuthError` 503.
 */
export function keyLoader(lookup: KeyLookup, guard: LookupGuard, cache: Deadlines) {
  return async function loadKey(_hash: string, apiKey: string): Promise<Entry<Outcome>> {
    const record = await guard.call(async (signal) => checked(await lookup(apiKey, { signal }), isKeyRecord, 'key'))
    const now = Date.now()
    if (record === null) return negative({ reject: invalidApiKey }, now, cache)
    return positive(recordOutcome(record, now), now, cache)
  }
}

/** The same for virtual keys, decided for the caller's workspace. */
export function virtualKeyLoader(lookup: VirtualKeyLookup, guard: LookupGuard, cache: Deadlines) {
  return async function loadVirtualKey(_key: string, request: VirtualKeyRequest): Promise<Entry<VirtualKeyOutcome>> {
    const { slug, credential, workspaceId } = request
    const record = await guard.call(async (signal) =>
      checked(await lookup(slug, { credential, signal }), isVirtualKeyRecord, 'virtual key'),
    )
    const now = Date.now()
    if (record === null) return negative({ reject: virtualKeyNotAllowed }, now, cache)
    return positive(virtualKeyOutcome(record, workspaceId, now), now, cache)
  }
}

/** `null` or a record of the right shape; anything else is a garbled answer, a failure like a 5xx. */
function checked<T>(answer: unknown, isRecord: (value: unknown) => value is T, what: string): T | null {
  if (answer === null || isRecord(answer)) return answer
  throw new TypeError(`key service answered with no ${what} record`)
}

const positive = <V>(value: V, now: number, { ttlMs, staleMs }: Deadlines): Entry<V> => ({
  value,
  freshUntil: now + ttlMs,
  staleUntil: now + ttlMs + staleMs,
})

/** An answer about a credential that does not exist: short-lived, never served stale, kept apart in the cache. */
export const negative = <V>(value: V, now: number, { negativeTtlMs }: Pick<Deadlines, 'negativeTtlMs'>): Entry<V> => ({
  value,
  freshUntil: now + negativeTtlMs,
  staleUntil: now + negativeTtlMs,
  negative: true,
})
