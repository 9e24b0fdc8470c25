import { describe, expect, test } from 'vitest'
import { resolveOptions, type VerifierOptions } from '../../src/core/options.js'
import type { RedisClientLike } from '../../src/core/redis.js'

const client = { isReady: false, sendCommand: async () => null } as unknown as RedisClientLike

describe('resolveOptions: redis', () => {
  test('absent: no Redis tier', () => {
    expect(resolveOptions({}, {}).redis).toBeNull()
  })

  test.each<[string, VerifierOptions['redis'], object]>([
    ['a URL', 'redis://127.0.0.1:6379', { url: 'redis://127.0.0.1:6379', prefix: 'portkey-auth:', timeoutMs: 250 }],
    ['a TLS URL', 'rediss://cache.internal:6380', { url: 'rediss://cache.internal:6380' }],
    ['a client', client, { client, prefix: 'portkey-auth:' }],
    ['the long form', { client, prefix: 'app-a:', timeoutMs: 50 }, { client, prefix: 'app-a:', timeoutMs: 50 }],
  ])('%s', (_name, redis, expected) => {
    expect(resolveOptions({ redis }, {}).redis).toMatchObject(expected)
  })

  test.each<[string, unknown]>([
    ['an http URL', 'http://127.0.0.1:6379'],
    ['both client and url', { client, url: 'redis://127.0.0.1' }],
    ['neither', { prefix: 'x:' }],
    ['a client without sendCommand', { client: { isReady: true } }],
    ['a number', 6379],
    ['a prefix that is no string', { url: 'redis://127.0.0.1', prefix: 7 }],
    ['a zero timeout', { url: 'redis://127.0.0.1', timeoutMs: 0 }],
  ])('%s is a TypeError at construction', (_name, redis) => {
    expect(() => resolveOptions({ redis } as VerifierOptions, {})).toThrow(TypeError)
  })
})
