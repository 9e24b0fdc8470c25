import type { JWTPayload } from 'jose'
import type { Entry } from './refreshing-cache.js'
import { claimsToAuth } from '../credential/claims.js'
import { invalidApiKey, virtualKeyNotAllowed } from '../errors.js'
import { isKeyRecord, recordOutcome } from '../credential/key-record.js'
import type { Outcome } from '../records.js'
import type { KeyRecord, PortkeyAuth, VirtualKey, VirtualKeyRecord } from '../types.js'
import { isVirtualKeyRecord, virtualKeyOutcome } from '../virtual-key/virtual-key.js'

/**
 * A resolved answer in the form instances share (as JSON, in Redis): the record itself — never the
 * credential — with its deadlines in epoch milliseconds. Each instance builds its own frozen context
 * from it.
 */
export type Answer = (
  | { kind: 'key'; record: KeyRecord; freshUntil: number; staleUntil: number }
  | { kind: 'jwt'; claims: JWTPayload; freshUntil: number; staleUntil: number }
  | { kind: 'unknown'; freshUntil: number; staleUntil: number }
  | { kind: 'virtual-key'; record: VirtualKeyRecord; freshUntil: number; staleUntil: number }
  | { kind: 'no-virtual-key'; freshUntil: number; staleUntil: number }
) & {
  /**
   * When the control plane was asked (or the token verified), epoch ms: a reader compares it with
   * revocation markers and with its own last reconnect to Redis. Missing (an older writer): never trusted then.
   */
  askedAt?: number
}

/** The deadlines the cache options give. */
export interface Lifetimes {
  readonly ttlMs: number
  readonly staleMs: number
  readonly negativeTtlMs: number
}

/** Deadlines of a record found now: fresh for `ttlMs`, then stale for `staleMs`. */
export const found = (now: number, { ttlMs, staleMs }: Lifetimes) => ({
  freshUntil: now + ttlMs,
  staleUntil: now + ttlMs + staleMs,
})

/** Deadlines of "no such thing": `negativeTtlMs`, never stale. */
export const notFound = (now: number, { negativeTtlMs }: Lifetimes) => ({
  freshUntil: now + negativeTtlMs,
  staleUntil: now + negativeTtlMs,
})

/** A credential's answer as a cache entry. */
export function credentialEntry(answer: Answer, fallbackKeyId: string, now: number): Entry<Outcome<PortkeyAuth>> {
  const { freshUntil, staleUntil } = answer
  if (answer.kind === 'key') return { value: recordOutcome(answer.record, now), freshUntil, staleUntil }
  // A JWT's entry lives until its exp (plus the clock tolerance), which freshUntil already holds.
  if (answer.kind === 'jwt')
    return { value: { value: claimsToAuth(answer.claims, fallbackKeyId), expiresAtMs: freshUntil }, freshUntil, staleUntil }
  return { value: { reject: invalidApiKey }, freshUntil, staleUntil, negative: true }
}

/** A virtual key's answer as a cache entry, decided for the caller's workspace. */
export function virtualKeyEntry(answer: Answer, slug: string, workspaceId: string, now: number): Entry<Outcome<VirtualKey>> {
  const { freshUntil, staleUntil } = answer
  if (answer.kind === 'virtual-key')
    return { value: virtualKeyOutcome(answer.record, slug, workspaceId, now), freshUntil, staleUntil }
  return { value: { reject: virtualKeyNotAllowed }, freshUntil, staleUntil, negative: true }
}

const KINDS = new Set(['key', 'jwt', 'unknown', 'virtual-key', 'no-virtual-key'])

/** Checks an answer read back from a shared store; anything malformed is ignored like a miss. */
export function isAnswer(value: unknown): value is Answer {
  if (value === null || typeof value !== 'object') return false
  const answer = value as Partial<Record<string, unknown>>
  if (!KINDS.has(answer.kind as string) || typeof answer.freshUntil !== 'number' || typeof answer.staleUntil !== 'number')
    return false
  if (answer.kind === 'key') return isKeyRecord(answer.record)
  if (answer.kind === 'virtual-key') return isVirtualKeyRecord(answer.record)
  if (answer.kind === 'jwt') return answer.claims !== null && typeof answer.claims === 'object'
  return true
}
