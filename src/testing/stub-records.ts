import { MAX_CREDENTIAL_BYTES } from '../credential/header.js'
import { isObject, KEY_RECORD, type Shape, VIRTUAL_KEY_RECORD } from '../records.js'
import type { KeyRecord, VirtualKeyRecord } from '../types.js'

// What the stub accepts as records, from a `--keys` file or its admin endpoints: the fields the verifier reads
// checked as the verifier checks them (a record it would take for a garbled answer is refused here, with the
// field named), rate limits as the limiter enforces them. Other fields are kept and served as they come.

/** The records a `--keys` file holds, and `GET /_stub` answers: raw key → key record, slug → virtual key. */
export interface StubRecords {
  keys: Record<string, KeyRecord>
  virtualKeys: Record<string, VirtualKeyRecord>
}

/** What each checked field must be, for the error message. */
const EXPECTED: Readonly<Record<string, string>> = {
  id: 'a non-empty string',
  organisation_id: 'a non-empty string',
  slug: 'a non-empty string',
  ai_provider_name: 'a non-empty string, e.g. "openai"',
  workspace_id: 'a string or null',
  user_id: 'a string or null',
  type: 'a string or null, e.g. "workspace-service"',
  name: 'a string or null',
  status: 'a string, e.g. "active" or "exhausted"',
  scopes: 'an array of strings, e.g. ["completions.write"]',
  defaults: 'null or an object { config_id: string | null, metadata: object | null }',
  rate_limits: 'null or an array of { type, unit, value }',
  usage_limits: 'null or an object',
  expires_at: 'null or a date-time string, e.g. "2030-01-01T00:00:00Z"',
}

const RATE_LIMIT_TYPES = ['requests', 'tokens']
const RATE_LIMIT_UNITS = ['rpm', 'rph', 'rpd', 'rpw']

/** Why `key` cannot be a raw API key the verifier would look up, or `null`. */
export function rawKeyProblem(key: string): string | null {
  if (key === '') return 'an API key cannot be empty'
  if (!/^[\x21-\x2b\x2d-\x7e]+$/.test(key)) return 'an API key is visible ASCII characters but the comma, without spaces'
  if (key.length > MAX_CREDENTIAL_BYTES) return `an API key is at most ${MAX_CREDENTIAL_BYTES} characters`
  if (/^[\w-]+\.[\w-]+\.[\w-]*$/.test(key))
    return 'this is shaped like a JWT, which the verifier checks against a JWKS, not as a key'
  return null
}

/** Why `value` is no key record the verifier would admit or refuse by its fields, or `null`. */
export function keyRecordProblem(value: unknown): string | null {
  return shapeProblem(value, KEY_RECORD) ?? rateLimitsProblem((value as KeyRecord).rate_limits)
}

/**
 * Why `value` is no virtual-key record for `slug`, or `null`. A record without a `slug` gets `slug` (the
 * caller fills it in: see `withSlug`); one with another slug is refused.
 */
export function virtualKeyRecordProblem(value: unknown, slug: string): string | null {
  if (slug === '') return 'a virtual key slug cannot be empty'
  const problem = shapeProblem(withSlug(value, slug), VIRTUAL_KEY_RECORD)
  if (problem !== null) return problem
  const given = (value as VirtualKeyRecord).slug
  if (given !== undefined && given !== slug) return `"slug" is "${given}", but the record is given for "${slug}"`
  return rateLimitsProblem((value as VirtualKeyRecord).rate_limits)
}

/** The virtual-key record with its `slug` filled in when it had none. */
export function withSlug<T>(value: T, slug: string): T {
  return isObject(value) && value.slug === undefined ? ({ slug, ...value } as T) : value
}

/**
 * Reads a `--keys` file's JSON: `{ "keys": { "<raw key>": record }, "virtualKeys": { "<slug>": record } }`,
 * either part optional. Throws an `Error` naming the entry and the field at fault.
 */
export function parseStubRecords(text: string): StubRecords {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (error) {
    // The parser's message may quote the text around the fault (a raw key, perhaps): only its position is given.
    const position = /position (\d+)/.exec((error as Error).message)?.[1]
    throw new Error(position === undefined ? 'not JSON' : `not JSON (at character ${position})`)
  }
  if (!isObject(json)) throw new Error('expected a JSON object { "keys": { ... }, "virtualKeys": { ... } }')
  const unknown = Object.keys(json).filter((name) => name !== 'keys' && name !== 'virtualKeys' && !name.startsWith('$'))
  if (unknown.length > 0) {
    throw new Error(`unknown field ${unknown.map((name) => `"${name}"`).join(', ')} (expected "keys" and "virtualKeys")`)
  }
  const keys = entries(json.keys, '"keys"', 'an object of records by raw API key')
  const virtualKeys = entries(json.virtualKeys, '"virtualKeys"', 'an object of records by slug')
  const records: StubRecords = { keys: {}, virtualKeys: {} }
  for (const [key, record] of keys) {
    const problem = rawKeyProblem(key) ?? keyRecordProblem(record)
    if (problem !== null) throw new Error(`keys entry ${maskKey(key)}: ${problem}`)
    records.keys[key] = record as KeyRecord
  }
  for (const [slug, record] of virtualKeys) {
    const problem = virtualKeyRecordProblem(record, slug)
    if (problem !== null) throw new Error(`virtualKeys entry "${slug}": ${problem}`)
    records.virtualKeys[slug] = withSlug(record as VirtualKeyRecord, slug)
  }
  return records
}

function entries(value: unknown, where: string, expected: string): [string, unknown][] {
  if (value === undefined) return []
  if (!isObject(value)) throw new Error(`${where} must be ${expected}`)
  return Object.entries(value)
}

/**
 * How the stub shows a raw key in its output: its first and last few characters around an ellipsis, a quarter
 * of the key each at most (less than a quarter for a short key; 6 and 4 at most), e.g. `pk-lo…9c2e` for `pk-local-alice-7f3a9c2e`. Enough to tell
 * keys apart, with their record's id; never the whole key, nor half of it.
 */
export function maskKey(key: string): string {
  const quarter = Math.floor((key.length - 1) / 4)
  const tail = Math.min(4, quarter)
  return `${key.slice(0, Math.min(6, quarter))}…${tail === 0 ? '' : key.slice(-tail)}`
}

function shapeProblem(value: unknown, shape: Shape): string | null {
  if (!isObject(value)) return `a record must be a JSON object (got ${describe(value)})`
  for (const field in shape) {
    if (shape[field]!(value[field])) continue
    const what = value[field] === undefined ? 'missing' : `got ${describe(value[field])}`
    return `"${field}" must be ${EXPECTED[field] ?? 'of another type'} (${what})`
  }
  return null
}

function rateLimitsProblem(limits: unknown): string | null {
  if (!Array.isArray(limits)) return null
  for (const [index, limit] of limits.entries()) {
    const where = `"rate_limits"[${index}]`
    if (!isObject(limit)) return `${where} must be an object { type, unit, value }`
    if (!RATE_LIMIT_TYPES.includes(limit.type as string)) return `${where}.type must be "requests" or "tokens"`
    if (!RATE_LIMIT_UNITS.includes(limit.unit as string)) return `${where}.unit must be one of ${RATE_LIMIT_UNITS.join(', ')}`
    if (typeof limit.value !== 'number' || !(limit.value >= 0 && limit.value < Infinity)) {
      return `${where}.value must be a number ≥ 0`
    }
  }
  return null
}

function describe(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)
  if (typeof value === 'object') return 'an object'
  return String(value)
}
