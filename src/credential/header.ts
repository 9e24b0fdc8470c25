import { hash } from 'node:crypto'
import { invalidApiKey, invalidRequest, missingApiKey } from '../errors.js'
import type { IncomingHeaders } from '../types.js'

/** The header that carries the Portkey API key (or a Portkey JWT). */
export const CREDENTIAL_HEADER = 'x-portkey-api-key'

/** Longest credential accepted, in bytes. API keys are far shorter; JWTs with many claims fit. */
export const MAX_CREDENTIAL_BYTES = 4096

// Visible ASCII but the comma: a comma means Node joined two headers, anything else
// (spaces, controls, non-ASCII) is no key that Portkey issues.
const CREDENTIAL_SHAPE = /^[\x21-\x2b\x2d-\x7e]+$/

/**
 * Reads the credential from the request headers and checks its shape. Throws `AuthError` (never anything
 * else) for a missing, repeated, oversized or malformed value, so that no look-up is ever made for it.
 */
export function readCredential(headers: IncomingHeaders): string {
  return checkCredential(takeCredential(headers))
}

/**
 * The first half of `readCredential()`: presence, a single value, the size. The verifier runs the
 * second half, `checkCredential()`, only before a look-up: a cached credential passed it when it was
 * first looked up, and the character scan is a quarter of the cost of a cached JWT.
 */
export function takeCredential(headers: IncomingHeaders): string {
  const value = headers?.[CREDENTIAL_HEADER]
  if (value === undefined || value === '') throw missingApiKey()
  if (typeof value !== 'string' || value.includes(',')) {
    throw invalidRequest('Send exactly one x-portkey-api-key header.')
  }
  if (value.length > MAX_CREDENTIAL_BYTES) {
    throw invalidRequest(`The x-portkey-api-key header is longer than ${MAX_CREDENTIAL_BYTES} bytes.`)
  }
  return value
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

/** The three views Node's `IncomingMessage` gives of the request headers. */
export interface HeaderViews {
  readonly headers: Record<string, unknown>
  readonly headersDistinct?: Record<string, unknown>
  readonly rawHeaders: string[]
}

/**
 * Removes the credential from every view of a request's headers (`headers`, `headersDistinct` and the
 * `rawHeaders` some proxies forward), for the `hideCredentials` option.
 */
export function hideCredential(request: HeaderViews): void {
  // Node builds headers and headersDistinct from rawHeaders on first read, for as many lines as it parsed:
  // read (so cache) both before rawHeaders shrinks, or a later read walks past its end and throws.
  const { headers, headersDistinct } = request
  delete headers[CREDENTIAL_HEADER]
  if (headersDistinct !== undefined) delete headersDistinct[CREDENTIAL_HEADER]
  const raw = request.rawHeaders
  for (let i = raw.length - 2; i >= 0; i -= 2) {
    if (raw[i]?.toLowerCase() === CREDENTIAL_HEADER) raw.splice(i, 2)
  }
}
