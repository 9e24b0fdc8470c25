import { ControlPlaneError, ControlPlaneMisconfigured } from '../errors.js'
import { LIMITS } from '../options/defaults.js'
import type { KeyLookup, KeyRecord, VirtualKeyLookup, VirtualKeyRecord } from '../types.js'
import { readCapped } from './capped-body.js'

/** Path of the key-details call on Portkey's control plane. */
export const KEY_DETAILS_PATH = '/v2/api-keys/self/details'

/** Path prefix of the virtual-key call: `/v2/virtual-keys/{slug}`. */
export const VIRTUAL_KEYS_PATH = '/v2/virtual-keys/'

/**
 * Most bytes read of one control-plane answer: 1 MiB. A key record is a few hundred bytes; a larger
 * answer is refused unread when its content-length says so, and cut off once past the cap when it
 * streams without one. Either is an outage (503), never a record.
 */
export const MAX_CONTROL_PLANE_BODY_BYTES = LIMITS.controlPlaneBodyBytes

/**
 * The default key look-up: `GET {baseUrl}/v2/api-keys/self/details` with the key in `x-portkey-api-key`.
 * 200 gives the record (at top level or under `data`); 401 and 403 mean an unknown key (`null`); a 404
 * (the key service has that path) or an HTML page means a wrong URL (`ControlPlaneMisconfigured`);
 * anything else throws, and the verifier answers 503.
 */
export function controlPlaneLookup(baseUrl: string, clientAuth: string | undefined): KeyLookup {
  const url = baseUrl + KEY_DETAILS_PATH
  return function controlPlaneLookup(apiKey, { signal }) {
    return getRecord<KeyRecord>(url, apiKey, clientAuth, signal, [401, 403])
  }
}

/**
 * The default virtual-key look-up: `GET {baseUrl}/v2/virtual-keys/{slug}` with the caller's credential.
 * 401, 403 and 404 mean the caller may not use it (`null`); anything else but 200 throws.
 */
export function controlPlaneVirtualKeyLookup(baseUrl: string, clientAuth: string | undefined): VirtualKeyLookup {
  return function controlPlaneVirtualKeyLookup(slug, { credential, signal }) {
    return getRecord<VirtualKeyRecord>(
      baseUrl + VIRTUAL_KEYS_PATH + encodeURIComponent(slug),
      credential,
      clientAuth,
      signal,
      [401, 403, 404],
    )
  }
}

async function getRecord<T>(
  url: string,
  credential: string,
  clientAuth: string | undefined,
  signal: AbortSignal,
  unknown: readonly number[],
): Promise<T | null> {
  const headers: Record<string, string> = { 'x-portkey-api-key': credential, accept: 'application/json' }
  if (clientAuth !== undefined) headers.authorization = clientAuth
  // 'manual', not 'error', which Cloudflare Workers refuse: a redirect is then an answer, refused below, and
  // the credential never follows it to another host.
  const response = await fetch(url, { headers, signal, redirect: 'manual' })
  const misfit = notTheKeyService(response, unknown)
  if (misfit !== null) {
    await response.body?.cancel()
    throw new ControlPlaneMisconfigured(
      `${new URL(url).origin} answered ${misfit} on ${new URL(url).pathname}: it is no Portkey key service there; is controlPlaneUrl its base URL?`,
    )
  }
  if (unknown.includes(response.status)) {
    await response.body?.cancel()
    return null
  }
  if (response.status !== 200) {
    await response.body?.cancel()
    throw new ControlPlaneError(`key service answered ${response.status}`)
  }
  const text = await readBody(response, signal)
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch (cause) {
    throw new ControlPlaneError('key service answered with a body that is not JSON', { cause })
  }
  const record = unwrap(body)
  // Only a 401, 403 or 404 says "unknown"; a 200 without a record is a garbled answer. The record's
  // shape is checked by the verifier, which checks a custom lookup's answers the same way.
  if (record === null || typeof record !== 'object') throw new ControlPlaneError('key service answered 200 with no record')
  return record as T
}

/** What about an answer says it cannot come from the key service (an HTML page, a 404 where the path exists), or `null`. */
function notTheKeyService(response: Response, unknown: readonly number[]): string | null {
  if (response.type === 'opaqueredirect' || (response.status >= 300 && response.status < 400)) {
    return `a redirect (${response.status}), which is not followed`
  }
  if (/^text\/html\b/i.test(response.headers.get('content-type') ?? '')) return `${response.status} with an HTML page`
  if (response.status === 404 && !unknown.includes(404)) return '404'
  return null
}

/** The body as text, read only up to `MAX_CONTROL_PLANE_BODY_BYTES`: parsing a huge answer would block the event loop. */
async function readBody(response: Response, signal: AbortSignal): Promise<string> {
  const declared = Number(response.headers.get('content-length') ?? 0)
  if (declared > MAX_CONTROL_PLANE_BODY_BYTES) {
    await response.body?.cancel()
    throw new ControlPlaneError(`key service answer has a content-length over ${MAX_CONTROL_PLANE_BODY_BYTES} bytes`)
  }
  let text: string | null
  try {
    text = await readCapped(response, MAX_CONTROL_PLANE_BODY_BYTES)
  } catch (cause) {
    if (signal.aborted) throw cause
    throw new ControlPlaneError('key service answer was cut off', { cause })
  }
  if (text === null) throw new ControlPlaneError(`key service answer is larger than ${MAX_CONTROL_PLANE_BODY_BYTES} bytes`)
  return text
}

/** Portkey answers some calls with the record at top level, others under `data`. */
function unwrap(body: unknown): unknown {
  if (body !== null && typeof body === 'object' && 'data' in body && !('id' in body) && !('slug' in body)) return body.data
  return body
}
