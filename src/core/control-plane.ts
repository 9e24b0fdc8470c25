import type { KeyLookup, KeyRecord, VirtualKeyLookup, VirtualKeyRecord } from './types.js'

/** Path of the key-details call on Portkey's control plane. */
export const KEY_DETAILS_PATH = '/v2/api-keys/self/details'

/** Path prefix of the virtual-key call: `/v2/virtual-keys/{slug}`. */
export const VIRTUAL_KEYS_PATH = '/v2/virtual-keys/'

/** The key service answered, but not with something usable: treated as an outage, never as a rejection. */
export class ControlPlaneError extends Error {
  override name = 'ControlPlaneError'
}

/**
 * The default key look-up: `GET {baseUrl}/v2/api-keys/self/details` with the key in `x-portkey-api-key`.
 * 200 gives the record (at top level or under `data`); 401, 403 and 404 mean an unknown key (`null`);
 * anything else throws, and the verifier answers 503.
 */
export function controlPlaneLookup(baseUrl: string, clientAuth: string | undefined): KeyLookup {
  const url = baseUrl + KEY_DETAILS_PATH
  return function controlPlaneLookup(apiKey, { signal }) {
    return getRecord<KeyRecord>(url, apiKey, clientAuth, signal)
  }
}

/**
 * The default virtual-key look-up: `GET {baseUrl}/v2/virtual-keys/{slug}` with the caller's credential.
 * 401, 403 and 404 mean the caller may not use it (`null`); anything else but 200 throws.
 */
export function controlPlaneVirtualKeyLookup(baseUrl: string, clientAuth: string | undefined): VirtualKeyLookup {
  return function controlPlaneVirtualKeyLookup(slug, { credential, signal }) {
    return getRecord<VirtualKeyRecord>(baseUrl + VIRTUAL_KEYS_PATH + encodeURIComponent(slug), credential, clientAuth, signal)
  }
}

async function getRecord<T>(url: string, credential: string, clientAuth: string | undefined, signal: AbortSignal): Promise<T | null> {
  const headers: Record<string, string> = { 'x-portkey-api-key': credential, accept: 'application/json' }
  if (clientAuth !== undefined) headers.authorization = clientAuth
  const response = await fetch(url, { headers, signal, redirect: 'error' })
  if (response.status === 401 || response.status === 403 || response.status === 404) {
    await response.body?.cancel()
    return null
  }
  if (response.status !== 200) {
    await response.body?.cancel()
    throw new ControlPlaneError(`key service answered ${response.status}`)
  }
  let body: unknown
  try {
    body = await response.json()
  } catch (cause) {
    if (signal.aborted) throw cause
    throw new ControlPlaneError('key service answered with a body that is not JSON', { cause })
  }
  const record = unwrap(body)
  // Only a 401, 403 or 404 says "unknown"; a 200 without a record is a garbled answer. The record's
  // shape is checked by the verifier, which checks a custom lookup's answers the same way.
  if (record === null || typeof record !== 'object') throw new ControlPlaneError('key service answered 200 with no record')
  return record as T
}

/** Portkey answers some calls with the record at top level, others under `data`. */
function unwrap(body: unknown): unknown {
  if (body !== null && typeof body === 'object' && 'data' in body && !('id' in body) && !('slug' in body)) return body.data
  return body
}
