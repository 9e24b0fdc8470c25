/** Stable error codes, as `error.code` in the response body and `AuthError#code`. */
export type AuthErrorCode =
  | 'invalid_request'
  | 'missing_api_key'
  | 'invalid_api_key'
  | 'expired_api_key'
  | 'invalid_token'
  | 'usage_limit_exceeded'
  | 'rate_limit_exceeded'
  | 'virtual_key_not_allowed'
  | 'insufficient_scope'
  | 'auth_unavailable'
  | 'auth_misconfigured'
  | 'revocation_unconfirmed'

/** The `error.type` each HTTP status is reported with, in the OpenAI error-body convention. */
const TYPE_BY_STATUS: Readonly<Record<number, string>> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  412: 'usage_limit_error',
  429: 'rate_limit_error',
  500: 'api_error',
  503: 'service_unavailable_error',
}

/**
 * The one error `verify()` rejects with. It carries what an HTTP framework needs to answer:
 * `status`, `headers` and `expose` (Koa and Express read these), and a stable `code`.
 * Its message never contains the credential.
 */
export class AuthError extends Error {
  /** `'AuthError'`. */
  override name = 'AuthError'
  /** The message is safe to show to the client. */
  readonly expose = true

  /** Made by the verifier and the adapters. `message` is sent to the client: never put a credential in it. */
  constructor(
    /** The stable code, as `error.code` in the response body: what to branch on, never the message. */
    readonly code: AuthErrorCode,
    /** The HTTP status to answer with: 400, 401, 403, 412, 429, 500 or 503. */
    readonly status: number,
    message: string,
    /** Headers to answer with, lower-case: `www-authenticate` (401, 403), `retry-after` (429, 503), `ratelimit-policy` and `ratelimit` (429). */
    readonly headers: Readonly<Record<string, string>> = {},
    options?: ErrorOptions,
  ) {
    super(message, options)
  }

  /** The `error.type` of the response body, e.g. `authentication_error`. */
  get type(): string {
    return TYPE_BY_STATUS[this.status] ?? 'api_error'
  }

  /**
   * The rejection as a Web `Response`: its status, headers and JSON body. Hono's default error handler (and
   * any that honours `getResponse()`, as for Hono's `HTTPException`) answers a thrown `AuthError` with it.
   */
  getResponse(): Response {
    return Response.json(errorBody(this), { status: this.status, headers: this.headers })
  }
}

/** The JSON body of a rejection: Portkey's `{ status, message }` plus OpenAI's `{ error }`. */
export interface AuthErrorBody {
  /** Always `'failure'`, as Portkey's gateway answers. */
  status: 'failure'
  /** The error's message: what went wrong, safe to show (never the credential). */
  message: string
  /** The OpenAI-style error: the same message, the `type` of the status (`authentication_error`…) and the `code`. */
  error: { message: string; type: string; code: string }
}

/** Builds the response body for an error; every adapter writes exactly this. */
export function errorBody(error: AuthError): AuthErrorBody {
  return {
    status: 'failure',
    message: error.message,
    error: { message: error.message, type: error.type, code: error.code },
  }
}

/**
 * The `WWW-Authenticate` header of a rejection, built in one place: `Portkey realm="portkey"`, then the
 * header to send the credential in (for a missing or bad credential), the error code, and the scopes missing;
 * with `bearer`, a second challenge, `Bearer realm="portkey"`, for the other place a credential may be sent.
 */
export function challenge({
  error,
  header = true,
  scope,
  bearer = false,
}: {
  error?: AuthErrorCode
  header?: boolean
  scope?: readonly string[]
  bearer?: boolean
}) {
  let value = 'Portkey realm="portkey"'
  if (header) value += ', header="x-portkey-api-key"'
  if (error !== undefined) value += `, error="${error}"`
  if (scope !== undefined && scope.length > 0) value += `, scope="${scope.join(' ')}"`
  if (bearer) value += ', Bearer realm="portkey"'
  return { 'www-authenticate': value }
}

/**
 * No credential: the message and the challenge name every place one may be sent, so `Authorization: Bearer`
 * too when the verifier reads it (the `bearer` option).
 */
export const missingApiKey = (bearer = false) =>
  new AuthError(
    'missing_api_key',
    401,
    bearer
      ? 'Missing credential: send your Portkey API key in the x-portkey-api-key header or as Authorization: Bearer <key>.'
      : 'Missing credential: send your Portkey API key in the x-portkey-api-key header.',
    challenge({ bearer }),
  )

/**
 * `Authorization: Bearer` carries something that is no Portkey credential (a provider's key, or a JWT where JWTs
 * are not verified): refused like a missing credential, and never sent to the key service.
 */
export const notPortkeyCredential = () =>
  new AuthError(
    'missing_api_key',
    401,
    'Missing credential: the Authorization header carries no Portkey API key (a provider key or another token, ' +
      'never sent to Portkey); send your Portkey API key in the x-portkey-api-key header.',
    challenge({ bearer: true }),
  )

export const invalidApiKey = () =>
  new AuthError('invalid_api_key', 401, 'Invalid Portkey API key.', challenge({ error: 'invalid_api_key' }))

export const expiredApiKey = () =>
  new AuthError('expired_api_key', 401, 'This Portkey API key has expired.', challenge({ error: 'expired_api_key' }))

export const invalidToken = (reason: string, cause?: unknown) =>
  new AuthError('invalid_token', 401, `Invalid Portkey token: ${reason}`, challenge({ error: 'invalid_token' }), { cause })

export const usageLimitExceeded = () =>
  new AuthError('usage_limit_exceeded', 412, 'The usage limit of this Portkey API key has been reached.')

export const virtualKeyUsageLimitExceeded = () =>
  new AuthError('usage_limit_exceeded', 412, 'The usage limit of this virtual key has been reached.')

// One message for every refusal, so a caller cannot tell a slug of another workspace from one that does not exist.
export const virtualKeyNotAllowed = () =>
  new AuthError('virtual_key_not_allowed', 403, 'This virtual key does not exist or is not available to this API key.')

export const insufficientScope = (missing: readonly string[], message = `Missing permission: ${missing.join(' or ')}.`) =>
  new AuthError('insufficient_scope', 403, message, challenge({ error: 'insufficient_scope', header: false, scope: missing }))

export const misconfigured = (message: string) => new AuthError('auth_misconfigured', 500, message)

export const invalidRequest = (message: string) => new AuthError('invalid_request', 400, message)

/**
 * A rate limit of the key (or the virtual key) is reached: 429 with `Retry-After` (whole seconds until the
 * window that refused ends) and, unless turned off, `RateLimit-Policy` and `RateLimit`.
 */
export const rateLimitExceeded = (what: string, retryAfterSec: number, headers: Readonly<Record<string, string>> | null) =>
  new AuthError('rate_limit_exceeded', 429, `Rate limit exceeded: ${what}. Try again in ${retryAfterSec} s.`, {
    ...headers,
    'retry-after': String(retryAfterSec),
  })

export const authUnavailable = (retryAfterSec: number, cause?: unknown) =>
  new AuthError(
    'auth_unavailable',
    503,
    'The key service is unavailable; try again shortly.',
    { 'retry-after': String(retryAfterSec) },
    cause === undefined ? undefined : { cause },
  )

/**
 * `invalidate()`, `invalidateKeyId()` or `invalidateVirtualKey()` could not confirm the revocation fleet-wide:
 * Redis did not take the deletion, the marker or the message (after bounded retries), or fewer replicas than
 * expected confirmed it. This instance has forgotten the credential; other instances may still admit it
 * from Redis or their caches until it is retried successfully. `reason` names what failed, never the credential.
 */
export const revocationUnconfirmed = (reason: string, cause?: unknown) =>
  new AuthError(
    'revocation_unconfirmed',
    503,
    `The revocation is not confirmed on every instance (${reason}); this instance forgot the credential. Retry it.`,
    { 'retry-after': '1' },
    cause === undefined ? undefined : { cause },
  )

// Internal errors: never thrown out of the verifier, which turns each into an `AuthError`.

/** Why a verified token's claims cannot make a context (reported as 401 `invalid_token`). */
export class ClaimsError extends Error {
  override name = 'ClaimsError'
}

/** The key service answered, but not with something usable: treated as an outage, never as a rejection. */
export class ControlPlaneError extends Error {
  override name = 'ControlPlaneError'
}

/**
 * The control plane's URL answers like no key service (a 404 on the key-details path, an HTML page): a
 * wrong `controlPlaneUrl`, not a verdict on the key. An outage (503) that is logged, never cached.
 */
export class ControlPlaneMisconfigured extends ControlPlaneError {
  override name = 'ControlPlaneMisconfigured'
}

/** Thrown inside the Redis tier when Redis cannot answer; the verifier then goes on without it. */
export class RedisUnavailable extends Error {
  override name = 'RedisUnavailable'
}
