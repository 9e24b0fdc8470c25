import { createServer, type RequestListener } from 'node:http'
import type { AddressInfo } from 'node:net'
import { expect } from 'vitest'
import { RefreshingCache } from '../../src/cache/refreshing-cache.js'
import { AuthError, type AuthErrorCode } from '../../src/errors.js'
import type { CheckStatus, IncomingHeaders, KeyLookup, KeyType, PortkeyAuth, Quota } from '../../src/types.js'
import type { Verifier } from '../../src/verifier/verifier.js'

/**
 * A `RefreshingCache` with `get()`, the read the verifier's pipeline makes (`serve()` an entry, else `load()` one):
 * the value synchronously when an entry is servable, else once a look-up answers.
 */
export class ReadThroughCache<V, A> extends RefreshingCache<V, A> {
  get(key: string, arg: A, status?: Pick<CheckStatus, 'cache'>): V | Promise<V> {
    return this.serve(key, arg, status) ?? this.load(key, arg, status)
  }
}

/** A promise with its resolve and reject at hand, to hold a look-up open for as long as a test needs. */
export interface Deferred<T> {
  readonly promise: Promise<T>
  resolve(value: T): void
  reject(error: unknown): void
}

export function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void
  let reject!: (error: unknown) => void
  const promise = new Promise<T>((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}

/** What a counting look-up answers for one call: a record, `null`, or anything else a broken key service gives. */
type Answer = (apiKey: string, init: { signal: AbortSignal }) => unknown

/** A fake `lookup` that counts its calls; `answer` may be swapped at any time. */
interface CountingLookup {
  readonly lookup: KeyLookup
  /** The keys it was asked about, in order. */
  readonly keys: string[]
  /** The signals it was given, in order. */
  readonly signals: AbortSignal[]
  readonly count: number
  answer: Answer
}

export function countingLookup(answer: Answer): CountingLookup {
  const keys: string[] = []
  const signals: AbortSignal[] = []
  const state: CountingLookup = {
    keys,
    signals,
    get count() {
      return keys.length
    },
    answer,
    lookup: async (apiKey, init) => {
      keys.push(apiKey)
      signals.push(init.signal)
      return (await state.answer(apiKey, init)) as never
    },
  }
  return state
}

/** Request headers carrying `apiKey` the way Node gives them. */
export const withKey = (apiKey: string): IncomingHeaders => ({ 'x-portkey-api-key': apiKey, host: '127.0.0.1' })

/** Runs `fn` and returns the `AuthError` it threw (synchronously or by rejecting); fails the test otherwise. */
export async function catchAuthError(fn: () => unknown): Promise<AuthError> {
  let thrown: unknown
  try {
    await fn()
  } catch (error) {
    thrown = error
  }
  expect(thrown, 'expected an AuthError').toBeInstanceOf(AuthError)
  return thrown as AuthError
}

/** Asserts the stable code and the HTTP status together. */
export async function expectAuthError(fn: () => unknown, code: AuthErrorCode, status: number): Promise<AuthError> {
  const error = await catchAuthError(fn)
  expect({ code: error.code, status: error.status }).toEqual({ code, status })
  return error
}

/** Waits (on real timers) until `check` is true, e.g. for a background refresh to settle. */
export async function until(check: () => boolean, timeoutMs = 2_000): Promise<void> {
  const deadline = performance.now() + timeoutMs
  while (!check()) {
    if (performance.now() > deadline) throw new Error('condition not met in time')
    await new Promise((resolve) => setImmediate(resolve))
  }
}

/** A bare `node:http` server on loopback, for answers the control-plane stub cannot give. */
export async function startRawServer(handler: RequestListener): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer(handler)
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    close() {
      server.closeAllConnections()
      return new Promise((resolve) => server.close(() => resolve()))
    },
  }
}

/** A frozen context as an API key of `keyType` with `scopes` would give, for permission checks. */
export function authWith(scopes: string[], keyType: KeyType = 'workspace-service'): PortkeyAuth {
  return Object.freeze({
    method: 'api_key',
    keyId: 'key_1',
    keyType,
    organisationId: 'org_1',
    workspaceId: keyType === 'organisation-service' ? null : 'ws_1',
    userId: null,
    scopes: Object.freeze([...scopes]),
    virtualKey: null,
    defaults: Object.freeze({ configId: null, metadata: Object.freeze({}) }),
    rateLimits: Object.freeze([]),
    usageLimits: null,
    expiresAt: null,
  })
}

/** A logger that keeps its lines, as `warn: …` and `info: …`. */
export function recordingLogger() {
  const lines: string[] = []
  const startup: string[] = []
  return {
    /** Every line but the one a verifier logs when it is made (in `startup`). */
    lines,
    startup,
    warn: (line: string) => void lines.push(`warn: ${line}`),
    info: (line: string) => void (line.startsWith('portkey-auth: verifier ready:') ? startup : lines).push(`info: ${line}`),
  }
}

/** `verifier.verify(headers)` given a `CheckStatus`: the context, and the request's quota beside it (`null` when none). */
export async function verifyWithQuota(
  verifier: Pick<Verifier, 'verify'>,
  headers: IncomingHeaders,
): Promise<{ auth: PortkeyAuth; quota: Quota | null }> {
  const status: CheckStatus = { cache: 'none' }
  const auth = await verifier.verify(headers, undefined, status)
  return { auth, quota: status.quota ?? null }
}
