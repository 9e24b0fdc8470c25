import { hash } from 'node:crypto'
import { invalidApiKey, invalidRequest, missingApiKey } from '../errors.js'
import { LIMITS } from '../options/defaults.js'
import type { IncomingHeaders } from '../types.js'

/** The header that carries the Portkey API key (or a Portkey JWT). */
export const CREDENTIAL_HEADER = 'x-portkey-api-key'

/**
 * Where the credential is read from, as `Bearer <key>`, when `x-portkey-api-key` is absent and the `bearer`
 * option is on: what the OpenAI SDK sends given `apiKey: <Portkey key>`. Beside `x-portkey-api-key` it is a
 * provider's key, never read.
 */
export const AUTHORIZATION_HEADER = 'authorization'

/** Longest credential accepted, in bytes. API keys are far shorter; JWTs with many claims fit. */
export const MAX_CREDENTIAL_BYTES = LIMITS.credentialBytes

// Visible ASCII but the comma: a comma means Node joined two headers, anything else
// (spaces, controls, non-ASCII) is no key that Portkey issues.
const CREDENTIAL_SHAPE = /^[\x21-\x2b\x2d-\x7e]+$/

// The Bearer scheme, in any case (auth schemes are case-insensitive, RFC 9110 §11.1), then the blanks before
// the token: one space per RFC 6750, more (or a tab) tolerated. "Bearerxyz" is another scheme's name.
const BEARER_SCHEME = /^bearer(?:[ \t]+|$)/i

/**
 * Reads the credential from the request headers: presence, a single value, the size. Throws `AuthError`
 * (never anything else) for a missing, repeated or oversized value. The character check,
 * `checkCredential()`, runs only before a look-up: a cached credential passed it when it was first looked
 * up, and the scan is a quarter of the cost of a cached JWT. Nothing is looked up for a value either refuses.
 *
 * With `bearer` (the verifier's option, on by default there), a request with no (or an empty)
 * `x-portkey-api-key` has its credential read from `Authorization: Bearer <key>`; `Authorization` is read
 * only then, so a request that sends `x-portkey-api-key` costs what it always did.
 */
export function takeCredential(headers: IncomingHeaders, bearer = false): string {
  const value = headers?.[CREDENTIAL_HEADER]
  if (value === undefined || value === '') {
    if (bearer) return takeBearer(headers?.[AUTHORIZATION_HEADER])
    throw missingApiKey()
  }
  if (typeof value !== 'string' || value.includes(',')) {
    throw invalidRequest('Send exactly one x-portkey-api-key header.')
  }
  if (value.length > MAX_CREDENTIAL_BYTES) {
    throw invalidRequest(`The x-portkey-api-key header is longer than ${MAX_CREDENTIAL_BYTES} bytes.`)
  }
  return value
}

/**
 * The token of `Authorization: Bearer <token>`, with the checks `x-portkey-api-key` gets: another scheme or
 * an empty token is a missing credential; two headers (an array, or the ", " a Web `Headers` joins them
 * with) and an oversized token are a 400.
 */
function takeBearer(value: string | readonly string[] | undefined): string {
  if (typeof value !== 'string') {
    if (value === undefined) throw missingApiKey(true)
    throw invalidRequest('Send exactly one Authorization header.')
  }
  const scheme = BEARER_SCHEME.exec(value)
  if (scheme === null || scheme[0].length === value.length) throw missingApiKey(true)
  const token = value.slice(scheme[0].length)
  if (token.includes(',')) throw invalidRequest('Send exactly one Authorization header.')
  if (token.length > MAX_CREDENTIAL_BYTES) {
    throw invalidRequest(`The Bearer token in the Authorization header is longer than ${MAX_CREDENTIAL_BYTES} bytes.`)
  }
  return token
}

/**
 * Whether these headers' credential is (or would be) read from `Authorization`, for `hideCredentials`:
 * `bearer` on, no `x-portkey-api-key` (or an empty one), and an `Authorization` with the Bearer scheme,
 * whatever its token. An `Authorization` of another scheme, or beside `x-portkey-api-key`, carried no
 * Portkey credential: it is the app's or a provider's, and stays.
 */
export function credentialInAuthorization(headers: Readonly<Record<string, unknown>>, bearer: boolean): boolean {
  if (!bearer) return false
  const value = headers[CREDENTIAL_HEADER]
  if (value !== undefined && value !== '') return false
  const authorization = headers[AUTHORIZATION_HEADER]
  // Node keeps one Authorization; a plain object may hold several.
  return [authorization].flat().some((line) => typeof line === 'string' && BEARER_SCHEME.test(line))
}

/** The second half: a credential with characters no Portkey key or JWT has is a 401 before any look-up. */
export function checkCredential(credential: string): string {
  if (!CREDENTIAL_SHAPE.test(credential)) throw invalidApiKey()
  return credential
}

/**
 * The cache key of a credential: its SHA-256, so that no cache (nor a later shared tier) ever holds
 * the raw value.
 */
export function fingerprint(credential: string): string {
  return hash('sha256', credential, 'base64url')
}
