import { connect, createServer, type Socket } from 'node:net'
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest'
import { KEY_DETAILS_PATH, keyRecord } from '../../src/testing/index.js'
import { createVerifier, type Verifier } from '../../src/verifier/create-verifier.js'
import { useFleet } from '../support/fleet.js'
import { startTestRedis, type TestRedis } from '../support/redis-server.js'

// Attack (hole 2): a link that goes silent instead of closing — a partition, a conntrack/NAT entry dropped,
// a half-open TCP connection. No socket error is ever raised, so the instance behind it never learns it
// lost its subscription. Another instance's invalidate() resolves ("confirmed fleet-wide"), yet the silent
// instance keeps admitting the revoked key from its LRU.

/** A proxy whose links can be stalled: bytes stop flowing both ways, sockets stay open, nothing errors. */
async function stallingProxy(target: number) {
  let stalled = false
  const pairs: [Socket, Socket][] = []
  const server = createServer((client) => {
    const upstream = connect(target, '127.0.0.1')
    pairs.push([client, upstream])
    const pipe = (from: Socket, to: Socket) =>
      from.on('data', (chunk) => {
        if (!stalled) to.write(chunk)
      })
    pipe(client, upstream)
    pipe(upstream, client)
    for (const s of [client, upstream]) s.on('error', () => {})
  })
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done))
  const { port } = server.address() as { port: number }
  return {
    url: `redis://127.0.0.1:${port}`,
    stall: () => void (stalled = true),
    async close() {
      for (const pair of pairs) for (const s of pair) s.destroy()
      await new Promise((done) => server.close(done))
    },
  }
}

const h = useFleet()
let redis: TestRedis
beforeAll(async () => {
  redis = await startTestRedis()
})
afterAll(async () => {
  await redis?.stop()
})

const ready = (verifier: Verifier) =>
  vi.waitFor(() => expect(verifier.stats().redis).toMatchObject({ connected: true, listening: true }), { timeout: 10_000 })
const status = (verifier: Verifier, key: string) =>
  verifier.verify({ 'x-portkey-api-key': key }).then(
    (auth) => ({ status: 200, keyId: auth.keyId }),
    (error: { status: number; code: string }) => ({ status: error.status, code: error.code }),
  )

describe('a silently stalled link (no FIN, no RST)', () => {
  test('once invalidate() on A resolves, B, whose link stalled with no error, no longer admits the revoked key', async () => {
    const proxy = await stallingProxy(redis.port)
    try {
      const key = 'pk-stalled-link'
      h.stub.keys.set(key, keyRecord({ id: 'key_stalled' }))
      const prefix = `stall-${Date.now()}:`
      const make = (url: string) => {
        const v = createVerifier({ controlPlaneUrl: h.stub.url, redis: { url, prefix }, logger: false })
        h.local(v)
        return v
      }
      const a = make(redis.url)
      const b = make(proxy.url)
      await Promise.all([ready(a), ready(b)])
      expect(await status(b, key)).toMatchObject({ status: 200 })
      expect(await status(a, key)).toMatchObject({ status: 200 })

      proxy.stall()
      h.stub.keys.delete(key)
      // Resolved: every instance now has it, or has found its channel lost and forgotten what it cached.
      await a.invalidate(key)
      expect(await status(a, key)).toMatchObject({ status: 401 })
      // B still believes it is listening, and admits the revoked key from its LRU.
      const onB = await status(b, key)
      expect({ onB, listening: b.stats().redis?.listening, asked: h.stub.calls(KEY_DETAILS_PATH) }).toMatchObject({
        onB: { status: 401 },
      })
    } finally {
      await proxy.close()
    }
  }, 20_000)
})

describe('after the channel comes back', () => {
  test('the heartbeat finds it whole: no further loss, the cache kept (one look-up for many requests)', async () => {
    const own = await startTestRedis()
    try {
      const key = 'pk-heartbeat-after-return'
      h.stub.keys.set(key, keyRecord({ id: 'key_heartbeat' }))
      const verifier = createVerifier({ controlPlaneUrl: h.stub.url, redis: { url: own.url }, logger: false })
      h.local(verifier)
      await ready(verifier)
      await own.stop()
      await vi.waitFor(() => expect(verifier.stats().redis).toMatchObject({ listening: false }), { timeout: 10_000 })
      await own.start()
      await ready(verifier)
      const reconnects = verifier.stats().redis!.reconnects
      const before = h.stub.calls(KEY_DETAILS_PATH)
      // Six heartbeats: a channel found lost again would clear the cache each time, and reconnect each time.
      for (let i = 0; i < 30; i++) {
        expect(await status(verifier, key)).toMatchObject({ status: 200 })
        await new Promise((done) => setTimeout(done, 100))
      }
      expect(verifier.stats().redis!.reconnects).toBe(reconnects)
      expect(h.stub.calls(KEY_DETAILS_PATH) - before).toBe(1)
    } finally {
      await own.stop()
    }
  }, 30_000)
})
