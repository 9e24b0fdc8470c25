import type { Entry } from './cache.js'
import { authUnavailable, invalidApiKey, virtualKeyNotAllowed } from './errors.js'
import { isKeyRecord, type Outcome, recordOutcome } from './key-record.js'
import type { ResolvedOptions } from './options.js'
import type { KeyLookup, VirtualKeyLookup } from './types.js'
import { isVirtualKeyRecord, type VirtualKeyOutcome, virtualKeyOutcome } from './virtual-key.js'

/** Seconds a client is told to wait after a 503. */
export const RETRY_AFTER_SEC = 1

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
export function keyLoader(lookup: KeyLookup, timeoutMs: number, cache: Deadlines) {
  return async function loadKey(_hash: string, apiKey: string): Promise<Entry<Outcome>> {
    const record = await ask((signal) => lookup(apiKey, { signal }), timeoutMs)
    const now = Date.now()
    if (record === null) return negative({ reject: invalidApiKey }, now, cache)
    if (!isKeyRecord(record)) throw garbled('key')
    return positive(recordOutcome(record, now), now, cache)
  }
}

/** The same for virtual keys, decided for the caller's workspace. */
export function virtualKeyLoader(lookup: VirtualKeyLookup, timeoutMs: number, cache: Deadlines) {
  return async function loadVirtualKey(_key: string, request: VirtualKeyRequest): Promise<Entry<VirtualKeyOutcome>> {
    const { slug, credential, workspaceId } = request
    const record = await ask((signal) => lookup(slug, { credential, signal }), timeoutMs)
    const now = Date.now()
    if (record === null) return negative({ reject: virtualKeyNotAllowed }, now, cache)
    if (!isVirtualKeyRecord(record)) throw garbled('virtual key')
    return positive(virtualKeyOutcome(record, workspaceId, now), now, cache)
  }
}

const positive = <V>(value: V, now: number, { ttlMs, staleMs }: Deadlines): Entry<V> => ({
  value,
  freshUntil: now + ttlMs,
  staleUntil: now + ttlMs + staleMs,
})

const negative = <V>(value: V, now: number, { negativeTtlMs }: Deadlines): Entry<V> => ({
  value,
  freshUntil: now + negativeTtlMs,
  staleUntil: now + negativeTtlMs,
})

const garbled = (what: string) =>
  authUnavailable(RETRY_AFTER_SEC, new TypeError(`key service answered with no ${what} record`))

/**
 * Runs one look-up with a deadline, also for a custom look-up that ignores its signal; any failure is
 * an `AuthError` 503 that keeps the cause.
 */
async function ask(call: (signal: AbortSignal) => Promise<unknown>, timeoutMs: number): Promise<unknown> {
  const signal = AbortSignal.timeout(timeoutMs)
  try {
    return await new Promise((resolve, reject) => {
      const onAbort = () => reject(signal.reason)
      signal.addEventListener('abort', onAbort, { once: true })
      // Through a promise, so that a look-up that throws synchronously is an outage like any other.
      Promise.resolve(signal)
        .then(call)
        .then(resolve, reject)
        .finally(() => signal.removeEventListener('abort', onAbort))
    })
  } catch (cause) {
    throw authUnavailable(RETRY_AFTER_SEC, cause)
  }
}
