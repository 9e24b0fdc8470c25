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

/** A check of one field. */
export type FieldCheck = (value: unknown) => boolean
/** The checks of an object's fields, by name; fields not named are not looked at. */
export type Shape = Readonly<Record<string, FieldCheck>>

export const isString = (value: unknown): value is string => typeof value === 'string'
export const isNonEmptyString = (value: unknown): value is string => typeof value === 'string' && value !== ''
export const isStringList = (value: unknown): value is string[] => Array.isArray(value) && value.every(isString)
/** Absent from the JSON (`undefined`), or passes `check`. */
export const optional =
  (check: FieldCheck): FieldCheck =>
  (value) =>
    value === undefined || check(value)
/** `null`, absent, or passes `check`. */
export const nullable =
  (check: FieldCheck): FieldCheck =>
  (value) =>
    value == null || check(value)
/** Whether `value` is a JSON object each of whose fields named in `shape` passes its check. */
export function hasShape(value: unknown, shape: Shape): value is Record<string, unknown> {
  if (!isObject(value)) return false
  for (const field in shape) if (!shape[field]!(value[field])) return false
  return true
}
/** A JSON object: neither `null` nor an array. */
export const isObject = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value)
/** A date string `Date.parse()` reads: a number is refused, which `Date.parse()` would take for a year. */
export const isDateString = (value: unknown): value is string => typeof value === 'string' && !Number.isNaN(Date.parse(value))

/** The fields of an API-key record the context is built from, and their checks. */
export const KEY_RECORD: Shape = {
  id: isNonEmptyString,
  organisation_id: isNonEmptyString,
  workspace_id: nullable(isString),
  user_id: nullable(isString),
  type: nullable(isString),
  name: nullable(isString),
  // Present means a string: a `null` status is not "no status" (which counts as active).
  status: optional(isString),
  scopes: isStringList,
  defaults: nullable((defaults) => hasShape(defaults, { config_id: nullable(isString), metadata: nullable(isObject) })),
  rate_limits: nullable(Array.isArray),
  usage_limits: nullable(isObject),
  expires_at: nullable(isDateString),
}

/** The fields of a virtual-key record the verifier reads, and their checks. */
export const VIRTUAL_KEY_RECORD: Shape = {
  slug: isNonEmptyString,
  ai_provider_name: isNonEmptyString,
  status: optional(isString),
  workspace_id: nullable(isString),
  expires_at: nullable(isDateString),
  usage_limits: nullable(isObject),
  rate_limits: nullable(Array.isArray),
}
