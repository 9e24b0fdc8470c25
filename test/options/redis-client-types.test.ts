import { createClient, createCluster, createSentinel } from 'redis'
import { expectTypeOf, test } from 'vitest'
import type { RedisClientLike, RedisClusterLike, RedisSentinelLike, VerifierOptions } from '../../src/index.js'

// node-redis's own clients are accepted as they are, with no cast: the docs pass them so. Checked by the
// type-check (`npm run typecheck`); the clients are made, never connected.
test("node-redis's clients fit the redis option's types", () => {
  const client = createClient({ url: 'redis://127.0.0.1:1' })
  const cluster = createCluster({ rootNodes: [{ url: 'redis://127.0.0.1:1' }] })
  const sentinel = createSentinel({ name: 'mymaster', sentinelRootNodes: [{ host: '127.0.0.1', port: 1 }] })
  expectTypeOf(client).toExtend<RedisClientLike>()
  expectTypeOf(cluster).toExtend<RedisClusterLike>()
  // The docs' `redis: await createSentinel(...).connect()` failed to compile: its `unsubscribe` takes Buffers too.
  expectTypeOf(sentinel).toExtend<RedisSentinelLike>()
  expectTypeOf(sentinel).toExtend<NonNullable<VerifierOptions['redis']>>()
})
