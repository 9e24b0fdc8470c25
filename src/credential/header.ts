import { hash } from 'node:crypto'
import { invalidApiKey, invalidRequest, missingApiKey } from '../errors.js'
import { LIMITS } from '../options/defaults.js'
import type { IncomingHeaders } from '../types.js'

/** The header that carries the Portkey API key (or a Portkey JWT). */
export const CREDENTIAL_HEADER = 'x-portkey-api-key'

/** Longest credential accepted, in bytes. API keys are far shorter; JWTs with many claims fit. */
export const MAX_CREDENTIAL_BYTES = LIMITS.credentialBytes

// Visible ASCII but the comma: a comma means Node joined two headers, anything else
// (spaces, controls, non-ASCII) is no key that Portkey issues.
const CREDENTIAL_SHAPE = /^[\x21-\x2b\x2d-\x7e]+$/

/**
 * Reads the credential from the request headers: presence, a single value, the size. Throws `AuthError`
 * (never anything else) for a missing, repeated or oversized value. The character check,
 * `checkCredential()`, runs only before a look-up: a cached credential passed it when it was first looked
 * up, and the scan is a quarter of the cost of a cached JWT. Nothing is looked up for a value either refuses.
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
