import type { KeyLookup, KeyRecord } from './types.js'

/** Path of the key-details call on Portkey's control plane. */
export const KEY_DETAILS_PATH = '/v2/api-keys/self/details'

/** The key service answered, but not with something usable: treated as an outage, never as a rejection. */
export class ControlPlaneError extends Error {
  override name = 'ControlPlaneError'
}

/**
 * The default look-up: `GET {baseUrl}/v2/api-keys/self/details` with the key in `x-portkey-api-key`.
 * 200 gives the record (at top level or under `data`); 401, 403 and 404 mean an unknown key (`null`);
 * anything else throws, and the verifier answers 503.
 */
export function controlPlaneLookup(baseUrl: string, clientAuth: string | undefined): KeyLookup {
  const url = baseUrl + KEY_DETAILS_PATH
  return async function controlPlaneLookup(apiKey, { signal }) {
    const headers: Record<string, string> = { 'x-portkey-api-key': apiKey, accept: 'application/json' }
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
    // Shape-checked by the verifier, which checks a custom lookup's answers the same way.
    return unwrap(body) as KeyRecord
  }
}

/** Portkey answers some calls with the record at top level, others under `data`. */
function unwrap(body: unknown): unknown {
  if (body !== null && typeof body === 'object' && 'data' in body && !('id' in body)) return body.data
  return body
}
