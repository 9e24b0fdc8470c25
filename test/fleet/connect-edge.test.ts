import { describe, expect, test } from 'vitest'
import { connectFleet, resolveRedis } from '../../src/fleet/connect-edge.js'

// `#fleet` in the edge bundles (workerd, worker, edge-light): no Redis there, and the `redis` option is refused at
// start, never ignored, so that an app counting on fleet-wide revocations and limits cannot start without them.
describe('#fleet in the edge bundles', () => {
  test.each([
    ['a URL', 'redis://127.0.0.1:6379'],
    ['an options object', { url: 'redis://127.0.0.1:6379', prefix: 'app:' }],
    ['a client-like object', { isOpen: true, sendCommand: () => undefined }],
    ['null', null],
    ['an empty string', ''],
  ])('refuses redis given as %s, saying why', (_name, redis) => {
    expect(() => resolveRedis({ redis } as never)).toThrow(
      new TypeError(
        'portkey-auth: redis is not available in this build (the workerd, worker and edge-light conditions): each isolate caches and counts alone',
      ),
    )
  })

  test('without redis: no Redis, and nothing to connect', () => {
    expect(resolveRedis({})).toBeNull()
    expect(resolveRedis({ redis: undefined })).toBeNull()
    expect(() => connectFleet()).toThrow(TypeError)
  })
})
