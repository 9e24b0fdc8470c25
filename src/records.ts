import type { AuthError } from './errors.js'

/**
 * What a look-up decided, stored once in the cache and shared by every request that carries it: a frozen
 * value to admit with (a caller's context, a virtual key) until `expiresAtMs`, or a rejection.
 */
export type Outcome<T> =
  | { readonly value: T; readonly expiresAtMs: number; readonly reject?: undefined }
  | { readonly value?: undefined; readonly reject: () => AuthError }

/** The rejections a record's status and expiry can lead to. */
export interface Refusals {
  /** Status `expired`, or an `expires_at` that has passed. */
  readonly expired: () => AuthError
  /** Status `exhausted`: a usage limit is spent. */
  readonly exhausted: () => AuthError
  /** Any other status but `active`. */
  readonly other: () => AuthError
}

/**
 * Decides a key or virtual-key record by its status and expiry, the one way both are read: `active` (or no
 * status) before `expires_at` admits with `build(expiresAtMs)`; otherwise the matching refusal.
 */
export function decide<T>(
  record: { readonly status?: string | null; readonly expires_at?: string | null },
  now: number,
  refusals: Refusals,
  build: (expiresAtMs: number) => T,
): Outcome<T> {
  const expiresAtMs = record.expires_at == null ? Infinity : Date.parse(record.expires_at)
  // Only an absent status is active: a record whose status is null never got past the field checks.
  const status = record.status === undefined ? 'active' : record.status
  if (status === 'expired' || expiresAtMs <= now) return { reject: refusals.expired }
  if (status === 'exhausted') return { reject: refusals.exhausted }
  if (status !== 'active') return { reject: refusals.other }
  return { value: build(expiresAtMs), expiresAtMs }
}

// Field checks of records that come from the control plane, a custom look-up, or Redis.

export const isString = (value: unknown): value is string => typeof value === 'string'
export const isNonEmptyString = (value: unknown): value is string => typeof value === 'string' && value !== ''
/** `undefined` (absent from the JSON) or passes `check`. */
export const optional = (value: unknown, check: (value: unknown) => boolean) => value === undefined || check(value)
/** `null`, absent, or passes `check`. */
export const nullable = (value: unknown, check: (value: unknown) => boolean) => value == null || check(value)
/** A JSON object: neither `null` nor an array. */
export const isObject = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value)
/** A date string `Date.parse()` reads: a number is refused, which `Date.parse()` would take for a year. */
export const isDateString = (value: unknown): value is string => typeof value === 'string' && !Number.isNaN(Date.parse(value))
