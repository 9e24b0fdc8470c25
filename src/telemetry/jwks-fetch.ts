import type { FetchImplementation } from 'jose'
import type { RemoteCallObserver } from './remote-calls.js'

/**
 * A fetch for jose's remote JWKS (its `customFetch` option) that reports each JWKS fetch: `found` for the
 * 200 jose needs, `outage` for any other answer or a failed connection. jose itself fetches only on a
 * `kid` it has not seen (at most every 30 s) or when its copy is old, so this runs rarely.
 */
export function observedJwksFetch(calls: RemoteCallObserver): FetchImplementation {
  return async function fetchJwks(url, options) {
    const call = calls.start('jwks')
    try {
      const response = await fetch(url, options)
      call.end(response.status === 200 ? 'found' : 'outage', response.status)
      return response
    } catch (error) {
      call.end('outage', error)
      throw error
    }
  }
}
