import { describe, expect, test } from 'vitest'
import { resolveOptions } from '../../src/options/resolve.js'
import type { VerifierOptions } from '../../src/options/verifier-options.js'
import type { RedisClientLike, RedisClusterLike, RedisSentinelLike } from '../../src/options/verifier-options.js'

const client = { isReady: false, sendCommand: async () => null } as unknown as RedisClientLike
const clusterClient = { isOpen: false, sendCommand: async () => null, getSlotMaster: () => null } as unknown as RedisClusterLike
const sentinelClient = {
  isReady: false,
  sendCommand: async () => null,
  getSentinelNode: () => null,
} as unknown as RedisSentinelLike
const rootNodes = [{ url: 'redis://10.0.0.1:6379' }]
const sentinel = { name: 'mymaster', sentinelRootNodes: [{ host: '10.0.0.5', port: 26379 }] }

describe('resolveOptions: redis', () => {
  test('absent: no Redis tier', () => {
    expect(resolveOptions({}, {}).redis).toBeNull()
  })

  test.each<[string, VerifierOptions['redis'], object]>([
    ['a URL', 'redis://127.0.0.1:6379', { url: 'redis://127.0.0.1:6379', prefix: 'portkey-auth:', timeoutMs: 250 }],
    ['a TLS URL', 'rediss://cache.internal:6380', { url: 'rediss://cache.internal:6380' }],
    ['a client', client, { client, prefix: 'portkey-auth:' }],
    ['the long form', { client, prefix: 'app-a:', timeoutMs: 50 }, { client, prefix: 'app-a:', timeoutMs: 50 }],
    ['a cluster client', clusterClient, { client: clusterClient }],
    ['a Sentinel client', sentinelClient, { client: sentinelClient }],
    ['cluster settings', { cluster: { rootNodes }, prefix: 'app:' }, { cluster: { rootNodes }, prefix: 'app:' }],
    ['Sentinel settings', { sentinel }, { sentinel, prefix: 'portkey-auth:' }],
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
    ['both url and cluster', { url: 'redis://127.0.0.1', cluster: { rootNodes } }],
    ['both cluster and sentinel', { cluster: { rootNodes }, sentinel }],
    ['a cluster without root nodes', { cluster: { rootNodes: [] } }],
    ['a cluster given as a URL string', { cluster: 'redis://10.0.0.1:6379' }],
    ['a cluster with an unknown setting', { cluster: { rootNodes, rootNode: rootNodes[0] } }],
    ['a Sentinel without a name', { sentinel: { sentinelRootNodes: sentinel.sentinelRootNodes } }],
    ['a Sentinel without sentinels', { sentinel: { name: 'mymaster', sentinelRootNodes: [] } }],
  ])('%s is a TypeError at construction', (_name, redis) => {
    expect(() => resolveOptions({ redis } as VerifierOptions, {})).toThrow(TypeError)
  })
})

describe('resolveOptions: the Redis namespace', () => {
  const namespace = (options: VerifierOptions, env: NodeJS.ProcessEnv = {}) =>
    resolveOptions({ redis: 'redis://127.0.0.1:6379', ...options }, env).redis!.namespace
  const jwks = { keys: [] }

  test('the prefix, then a digest of what makes an answer valid', () => {
    expect(namespace({ redis: { url: 'redis://127.0.0.1:6379', prefix: 'app:' } })).toMatch(/^app:[\w-]{16}:$/)
    expect(namespace({})).toMatch(/^portkey-auth:[\w-]{16}:$/)
  })

  test.each<[string, VerifierOptions, VerifierOptions]>([
    ['control planes', { controlPlaneUrl: 'http://127.0.0.1:1' }, { controlPlaneUrl: 'http://127.0.0.1:2' }],
    [
      'JWT key sets',
      { jwt: { jwks, issuer: 'i', audience: 'a' } },
      { jwt: { jwksUrl: 'http://127.0.0.1:1/jwks', issuer: 'i', audience: 'a' } },
    ],
    ['JWT issuers', { jwt: { jwks, issuer: 'i1', audience: 'a' } }, { jwt: { jwks, issuer: 'i2', audience: 'a' } }],
    ['JWT audiences', { jwt: { jwks, issuer: 'i', audience: 'a1' } }, { jwt: { jwks, issuer: 'i', audience: 'a2' } }],
    [
      'JWT algorithms',
      { jwt: { jwks, issuer: 'i', audience: 'a' } },
      { jwt: { jwks, issuer: 'i', audience: 'a', algorithms: ['ES256'] } },
    ],
    ['JWT on and off', {}, { jwt: { jwks, issuer: 'i', audience: 'a' } }],
  ])('differs between two %s', (_name, one, other) => {
    expect(namespace(one)).not.toBe(namespace(other))
  })

  test('is the same for the same settings, however they are spelt', () => {
    expect(namespace({ controlPlaneUrl: 'http://127.0.0.1:1' })).toBe(
      namespace({}, { PORTKEY_CONTROL_PLANE_URL: 'http://127.0.0.1:1/' }),
    )
    expect(namespace({ timeoutMs: 100, cache: { ttlMs: 5 } })).toBe(namespace({}))
  })

  test('a custom lookup with Redis needs a prefix of its own: its answers cannot be told apart from another app’s', () => {
    const lookup = async () => null
    expect(() => resolveOptions({ lookup, redis: 'redis://127.0.0.1:6379' }, {})).toThrow(/custom lookup.*redis\.prefix/)
    expect(() => resolveOptions({ lookupVirtualKey: lookup, redis: 'redis://127.0.0.1:6379' }, {})).toThrow(TypeError)
    expect(resolveOptions({ lookup, redis: { url: 'redis://127.0.0.1:6379', prefix: 'my-keys:' } }, {}).redis?.prefix).toBe(
      'my-keys:',
    )
  })
})
