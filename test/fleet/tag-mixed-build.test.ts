import { type ChildProcess, fork } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { keyRecord } from '../../src/testing/index.js'
import type { KeyRecord } from '../../src/types.js'
import { createVerifier, type Verifier } from '../../src/verifier/create-verifier.js'
import { startTestRedis, type TestRedis } from '../support/redis-server.js'

// Attack on issue 26's tags across builds: one Redis, two instances of one fleet, one on the Node build (its cache
// keyed by SipHash under this process's key) and one keyed by the fingerprint (test/fixtures/tag-edge-instance.mjs,
// run with `--conditions=browser`: a Node server bundled for esbuild's default platform, which gets the edge tag but
// keeps Redis; since issue 27 the workerd, worker and edge-light builds have no Redis at all). A revocation on
// either, of a known key or of an unknown one (a negative entry), must reach the other, whichever header each
// request carried.
let redis: TestRedis
let edge: ChildProcess
let node: Verifier
const records = new Map<string, KeyRecord>()
const asked: string[] = []
let next = 0
const waiting = new Map<number, (reply: unknown) => void>()

type Outcome = { admitted?: string; refused?: string; status?: number | null }

function ask<T>(message: Record<string, unknown>): Promise<T> {
  const id = next++
  return new Promise((resolve) => {
    waiting.set(id, resolve as (reply: unknown) => void)
    edge.send({ id, ...message })
  })
}

const outcome = (promise: Promise<{ keyId: string }>): Promise<Outcome> =>
  promise.then(
    (auth) => ({ admitted: auth.keyId }),
    (error) => ({ refused: error?.code ?? String(error), status: error?.status ?? null }),
  )

const onNode = (key: string, header: 'bearer' | 'api-key') =>
  outcome(node.verify(header === 'bearer' ? { authorization: `Bearer ${key}` } : { 'x-portkey-api-key': key }))
const onEdge = (key: string, header: 'bearer' | 'api-key') => ask<Outcome>({ op: 'verify', key, header })
/** The control plane's truth, for both instances. */
async function setRecord(key: string, record: KeyRecord | null) {
  if (record === null) records.delete(key)
  else records.set(key, record)
  await ask({ op: 'record', key, record })
}

beforeAll(async () => {
  redis = await startTestRedis()
  const prefix = `mixed-${randomUUID()}:`
  edge = fork(new URL('../fixtures/tag-edge-instance.mjs', import.meta.url), [], {
    execArgv: ['--conditions=browser'],
    env: { ...process.env, REDIS_URL: redis.url, REDIS_PREFIX: prefix },
  })
  const ready = new Promise<void>((resolve) => {
    edge.on('message', (message: { ready?: boolean; id?: number; reply?: unknown }) => {
      if (message.ready) resolve()
      else waiting.get(message.id as number)?.(message.reply)
    })
  })
  await ready
  node = createVerifier({
    lookup: async (apiKey) => {
      asked.push(apiKey)
      return records.get(apiKey) ?? null
    },
    bearer: true,
    redis: { url: redis.url, prefix },
    logger: false,
  })
  // Both connected and subscribed before the first request.
  const listening = (stats: { redis?: { connected: boolean; listening: boolean } | null }) =>
    Boolean(stats.redis?.connected && stats.redis?.listening)
  const deadline = Date.now() + 10_000
  while (!(listening(node.stats()) && listening(await ask({ op: 'stats' })))) {
    if (Date.now() > deadline) throw new Error('the two instances never both listened on Redis')
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
})
afterAll(async () => {
  await node?.close()
  if (edge?.connected) await ask({ op: 'close' })
  await redis?.stop()
})

describe('one fleet, a Node instance (SipHash tags) and an edge one (fingerprint tags)', () => {
  test('the edge instance really runs the edge module; this one the Node one', async () => {
    expect(await ask<string>({ op: 'resolve' })).toMatch(/\/dist\/credential\/tag-edge\.js$/)
  })

  for (const [revoker, other] of [
    ['node', 'edge'],
    ['edge', 'node'],
  ] as const) {
    test(`a known key revoked on the ${revoker} instance is refused at once on the ${other} one, either header`, async () => {
      const key = `pk-mixed-${revoker}-${randomUUID()}`
      await setRecord(key, keyRecord({ id: `key_mixed_${revoker}` }))
      // Cached on each, under each header (one entry per instance: the same tag).
      expect(await onNode(key, 'bearer')).toEqual({ admitted: `key_mixed_${revoker}` })
      expect(await onEdge(key, 'api-key')).toEqual({ admitted: `key_mixed_${revoker}` })
      expect(await onNode(key, 'api-key')).toEqual({ admitted: `key_mixed_${revoker}` })
      expect(await onEdge(key, 'bearer')).toEqual({ admitted: `key_mixed_${revoker}` })
      const askedBefore = asked.filter((k) => k === key).length
      expect(askedBefore).toBeLessThanOrEqual(1)

      await setRecord(key, null)
      if (revoker === 'node') await node.invalidate(key)
      else expect(await ask({ op: 'invalidate', key })).toEqual({ admitted: 'done' })
      const refused = { refused: 'invalid_api_key', status: 401 }
      expect(await onNode(key, 'bearer')).toEqual(refused)
      expect(await onEdge(key, 'bearer')).toEqual(refused)
      expect(await onNode(key, 'api-key')).toEqual(refused)
      expect(await onEdge(key, 'api-key')).toEqual(refused)
    })

    test(`an unknown key (a negative entry) made real and revoked on the ${revoker} instance is admitted on the ${other} one`, async () => {
      const key = `pk-mixed-neg-${revoker}-${randomUUID()}`
      const refused = { refused: 'invalid_api_key', status: 401 }
      expect(await onNode(key, 'api-key')).toEqual(refused)
      expect(await onEdge(key, 'bearer')).toEqual(refused)
      await setRecord(key, keyRecord({ id: `key_neg_${revoker}` }))
      // Still the cached "unknown" on both until someone revokes it.
      expect(await onNode(key, 'bearer')).toEqual(refused)
      expect(await onEdge(key, 'api-key')).toEqual(refused)
      if (revoker === 'node') await node.invalidate(key)
      else expect(await ask({ op: 'invalidate', key })).toEqual({ admitted: 'done' })
      expect(await onNode(key, 'bearer')).toEqual({ admitted: `key_neg_${revoker}` })
      expect(await onEdge(key, 'api-key')).toEqual({ admitted: `key_neg_${revoker}` })
    })
  }
})
