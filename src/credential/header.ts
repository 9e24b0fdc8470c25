import { invalidApiKey, invalidRequest, missingApiKey, notPortkeyCredential } from '../errors.js'
import { LIMITS } from '../options/defaults.js'
import { nodeBuiltin } from '../platform/node-builtin.js'
import { sha256Base64url } from '../platform/sha256.js'
import type { IncomingHeaders } from '../types.js'

/** The header that carries the Portkey API key (or a Portkey JWT). */
export const CREDENTIAL_HEADER = 'x-portkey-api-key'

/**
 * Where the credential is read from, as `Bearer <key>`, when `x-portkey-api-key` is absent and the `bearer`
 * option is on (it is off by default): what the OpenAI SDK sends given `apiKey: <Portkey key>`. Beside `x-portkey-api-key` it is a
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
 * With `source.bearer` (the verifier's `bearer` option, off by default), a request with no (or an empty)
 * `x-portkey-api-key` has its credential read from `Authorization: Bearer <key>`, unless the token is a
 * provider's key or (without JWT verification) a JWT: those are refused 401 `missing_api_key` and never looked
 * up. `Authorization` is read only then, so a request that sends `x-portkey-api-key` costs what it always did.
 */
export function takeCredential(headers: IncomingHeaders, source: CredentialSource = HEADER_ONLY): string {
  const value = headers?.[CREDENTIAL_HEADER]
  if (value === undefined || value === '') {
    if (source.bearer) return takeBearer(headers?.[AUTHORIZATION_HEADER], source.jwt)
    if (headers?.[AUTHORIZATION_HEADER] !== undefined) source.authorizationOnly?.()
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
function takeBearer(value: string | readonly string[] | undefined, jwt: boolean): string {
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
  if (!mayBePortkeyCredential(token, jwt)) throw notPortkeyCredential()
  return token
}

/**
 * Whether these headers' credential is (or would be) read from `Authorization`, for `hideCredentials`:
 * `bearer` on, no `x-portkey-api-key` (or an empty one), and an `Authorization` with the Bearer scheme
 * whose token is not a provider's key. An `Authorization` of another scheme, or beside `x-portkey-api-key`, carried no
 * Portkey credential: it is the app's or a provider's, and stays.
 */
export function credentialInAuthorization(headers: Readonly<Record<string, unknown>>, bearer: boolean): boolean {
  if (!bearer) return false
  const value = headers[CREDENTIAL_HEADER]
  if (value !== undefined && value !== '') return false
  const authorization = headers[AUTHORIZATION_HEADER]
  // Node keeps one Authorization; a plain object may hold several. A provider's key was never the credential.
  return [authorization].flat().some((line) => {
    if (typeof line !== 'string') return false
    const scheme = BEARER_SCHEME.exec(line)
    return scheme !== null && !PROVIDER_KEY_PREFIX.test(line.slice(scheme[0].length))
  })
}

/**
 * Where the verifier takes the credential from, decided once when it is made. With `bearer` off (the
 * default) `Authorization` is never a credential; with it on, only a token that could be a Portkey credential
 * is: never one with a provider's prefix, nor a JWT when no JWT verification is configured.
 */
export interface CredentialSource {
  /** Read `Authorization: Bearer` when `x-portkey-api-key` is absent (the `bearer` option). */
  readonly bearer: boolean
  /** Whether a JWT may be the credential (the `jwt` option is set): else a JWT in `Authorization` is not read. */
  readonly jwt: boolean
  /** Called when a request carries no `x-portkey-api-key` but an `Authorization`, with `bearer` off. */
  readonly authorizationOnly?: () => void
}

/** No Bearer: `x-portkey-api-key` alone. */
export const HEADER_ONLY: CredentialSource = Object.freeze({ bearer: false, jwt: false })

/**
 * Prefixes of keys other services issue, which no Portkey key has: OpenAI, Anthropic (`sk-ant-`), DeepSeek and
 * OpenRouter (`sk-…`), Google (`AIza`), Groq (`gsk_`), xAI (`xai-`), Perplexity (`pplx-`), Hugging Face
 * (`hf_`), Replicate (`r8_`), NVIDIA (`nvapi-`), Fireworks (`fw_`), Cerebras (`csk-`), Together (`tgp_`),
 * Pinecone (`pcsk_`), AWS access keys (`AKIA`, `ASIA`), GitHub (`ghp_`, `gho_`, `ghu_`, `ghs_`, `ghr_`,
 * `github_pat_`), GitLab (`glpat-`), Slack (`xox…-`), Stripe (`sk_`, `rk_`). A Bearer token starting with one
 * is another service's secret and is never sent to the key service. The list cannot be complete: `bearer`
 * stays off unless the clients send Portkey keys there.
 */
export const PROVIDER_KEY_PREFIX =
  /^(?:sk-|sk_|rk_|AIza|gsk_|xai-|pplx-|hf_|r8_|nvapi-|fw_|csk-|tgp_|pcsk_|AKIA|ASIA|gh[pousr]_|github_pat_|glpat-|xox[abeprs]-)/

// Three base64url parts; the third may be empty (an unsigned token, which verification then refuses).
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/

/** True for a credential shaped like a compact JWS; only then is it verified as a JWT. */
export const isJwtShaped = (credential: string): boolean => JWT_SHAPE.test(credential)

/**
 * Whether the Bearer token could be a Portkey credential here: not a provider's key, and nothing with a dot
 * (no Portkey API key has one) but a JWS-shaped token where JWTs are verified. So never a JWT where JWTs are
 * not verified (an app's session token, another issuer's), a JWE (five parts: Auth.js sessions), a padded
 * token, nor an OAuth token such as Google's `ya29.…`.
 */
export function mayBePortkeyCredential(token: string, jwt: boolean): boolean {
  if (PROVIDER_KEY_PREFIX.test(token)) return false
  return !token.includes('.') || (jwt && isJwtShaped(token))
}

/**
 * Whether Node's raw header lines hold more than one `Authorization`. Node keeps only the first of them in
 * `req.headers`, so a second one (which a proxy may read instead) would otherwise pass unseen.
 */
export function repeatsAuthorization(rawHeaders: readonly string[] | undefined): boolean {
  if (rawHeaders === undefined) return false
  let seen = 0
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!
    if (name.length === 13 && name.toLowerCase() === AUTHORIZATION_HEADER && ++seen > 1) return true
  }
  return false
}

/** The second half: a credential with characters no Portkey key or JWT has is a 401 before any look-up. */
export function checkCredential(credential: string): string {
  if (!CREDENTIAL_SHAPE.test(credential)) throw invalidApiKey()
  return credential
}

const nodeHash = nodeBuiltin<typeof import('node:crypto')>('node:crypto')?.hash

/**
 * A credential's fingerprint: its SHA-256 in base64url, the same in every process, so that instances share
 * answers and revocations through Redis by it (never by the credential). Computed on a look-up and for a
 * revocation, and on a cached request only where it is the credential's tag (see `credential/tag.ts`): with
 * Node's `crypto.hash` where the runtime has it, else in JavaScript, synchronously on every runtime. Both give
 * the same digest, so instances on different runtimes share a Redis tier.
 */
export const fingerprint: (credential: string) => string =
  typeof nodeHash === 'function' ? (credential) => nodeHash('sha256', credential, 'base64url') : sha256Base64url
