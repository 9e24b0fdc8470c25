// `#fleet` in the edge bundles (package.json "imports": workerd, worker, edge-light): no Redis. Those runtimes give
// a Worker no TCP socket of node-redis's kind, so each isolate caches and counts alone; leaving the Redis code out
// keeps about 5 KB gzipped out of the smallest Worker. The `redis` option is refused, never ignored: an app that
// believes its fleet shares revocations and limits must not start without them.
import type { VerifierOptions } from '../options/verifier-options.js'
import type { Fleet } from './connect.js'

/** Refuses `redis`: this build has no Redis. */
export function resolveRedis(options: VerifierOptions): null {
  if (options.redis !== undefined) {
    throw new TypeError(
      'portkey-auth: redis is not available in this build (the workerd, worker and edge-light conditions): each isolate caches and counts alone',
    )
  }
  return null
}

/** Never called: `resolveRedis()` gives no Redis to connect to. */
export function connectFleet(): Fleet {
  throw new TypeError('portkey-auth: redis is not available in this build')
}
