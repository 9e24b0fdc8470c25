import { randomBytes } from 'node:crypto'
import { Agent } from 'node:http'
import { describe, expect, test } from 'vitest'
import type { AuthErrorBody } from '../../src/errors.js'
import { createVerifier } from '../../src/verifier/create-verifier.js'
import { KEY_DETAILS_PATH, keyRecord } from '../../src/testing/index.js'
import { ADAPTERS } from '../support/adapters.js'
import { send, sendKey, useGuardedApp, useStub, WHOAMI } from '../support/servers.js'

const REQUESTS = 20_000
const CLIENT_CONCURRENCY = 200
const MAX_PENDING = 64
const CACHE_MAX = 1_000
const KNOWN = 'pk-flood-known-0123456789abcdef'
/** Every this many requests, one is the known key's. */
const KNOWN_EVERY = 25

/** GET over a kept-alive connection of `agent`. */
const get = (agent: Agent, url: string, headers: Record<string, string>) => send(url, headers, { agent })

// Two adapters of the registry, not five: 20 000 requests take seconds each, and what is bounded (look-ups,
// entries) is the shared verifier's, which every adapter hands the same requests to.
const FLOODED = ADAPTERS.filter((adapter) => adapter === 'express' || adapter === 'koa')

describe.each(FLOODED)('%s: a flood of random keys against a slow key service', (framework) => {
  test(`${REQUESTS} requests: look-ups bounded by maxPendingLookups, entries by cache.max, the known key always served`, {
    timeout: 40_000,
  }, async () => {
    const stub = await useStub({ keys: { [KNOWN]: keyRecord({ id: 'key_flood_known' }) }, delayMs: 50 })
    const verifier = createVerifier({ controlPlaneUrl: stub.url, maxPendingLookups: MAX_PENDING, cache: { max: CACHE_MAX } })
    const app = await useGuardedApp(framework, verifier)
    // The known key is cached before the flood.
    expect((await sendKey(app, KNOWN)).status).toBe(200)
    const callsBefore = stub.calls(KEY_DETAILS_PATH)
    stub.resetCounts()

    const agent = new Agent({ keepAlive: true, maxSockets: CLIENT_CONCURRENCY })
    const statuses = new Map<number, number>()
    const badShed: string[] = []
    let known = { sent: 0, ok: 0 }
    let maxEntries = 0
    let next = 0
    const started = performance.now()
    try {
      const worker = async () => {
        while (next < REQUESTS) {
          const index = next++
          const isKnown = index % KNOWN_EVERY === 0
          const key = isKnown ? KNOWN : `pk-flood-${randomBytes(12).toString('base64url')}`
          // A key service that answers in 50-100 ms.
          stub.delayMs = 50 + Math.floor(Math.random() * 51)
          const reply = await get(agent, app.url + WHOAMI, { 'x-portkey-api-key': key })
          statuses.set(reply.status, (statuses.get(reply.status) ?? 0) + 1)
          maxEntries = Math.max(maxEntries, verifier.stats().entries)
          if (isKnown) {
            known = { sent: known.sent + 1, ok: known.ok + (reply.status === 200 ? 1 : 0) }
          } else if (reply.status === 503) {
            const body = JSON.parse(reply.text) as AuthErrorBody
            if (body.error?.code !== 'auth_unavailable' || reply.headers['retry-after'] !== '1' || body.status !== 'failure') {
              badShed.push(`${reply.status} ${reply.headers['retry-after']} ${body.error?.code}`)
            }
          }
        }
      }
      await Promise.all(Array.from({ length: CLIENT_CONCURRENCY }, worker))
    } finally {
      agent.destroy()
    }
    const elapsedMs = performance.now() - started
    const stats = verifier.stats()
    const count = (status: number) => statuses.get(status) ?? 0
    const lookups = stub.calls(KEY_DETAILS_PATH)

    console.log(
      `[flood ${framework}] requests=${REQUESTS} stubCalls=${lookups} peakInFlight=${stub.peakInFlight}/${MAX_PENDING} ` +
        `shed=${stats.guard.shed} entries(max seen)=${maxEntries}/${CACHE_MAX} knownOk=${known.ok}/${known.sent} ` +
        `statuses=${JSON.stringify(Object.fromEntries(statuses))} elapsed=${Math.round(elapsedMs)}ms`,
    )

    // Every request was answered, with one of three outcomes only.
    expect([...statuses.values()].reduce((a, b) => a + b, 0)).toBe(REQUESTS)
    expect([...statuses.keys()].sort()).toEqual([200, 401, 503])
    // The key service never saw more than maxPendingLookups calls at once, and did see pressure.
    expect(stub.peakInFlight).toBeLessThanOrEqual(MAX_PENDING)
    expect(stub.peakInFlight).toBeGreaterThanOrEqual(MAX_PENDING / 2)
    // The process never held more than cache.max entries.
    expect(maxEntries).toBeLessThanOrEqual(CACHE_MAX)
    expect(stats.entries).toBeLessThanOrEqual(CACHE_MAX)
    // Unknown keys even stay in their own tenth of it (plus the one known key).
    expect(maxEntries).toBeLessThanOrEqual(CACHE_MAX / 10 + 1)
    // Every random key was either looked up once (401) or shed at once (503 with Retry-After).
    expect(count(401)).toBe(lookups)
    expect(count(503)).toBe(stats.guard.shed)
    expect(stats.guard.shed).toBeGreaterThan(0)
    expect(badShed).toEqual([])
    // The cache counts a shed look-up as failed; nothing else failed.
    expect(stats.failures).toBe(stats.guard.shed)
    expect(stats.guard).toMatchObject({ breaker: 'closed', shortCircuited: 0, retries: 0 })
    // The known key: every one of its requests admitted, from the cache, with no look-up.
    expect(known).toEqual({ sent: REQUESTS / KNOWN_EVERY, ok: REQUESTS / KNOWN_EVERY })
    expect(count(200)).toBe(known.sent)
    expect(callsBefore).toBe(1)
    expect(stub.log.some((call) => call.headers['x-portkey-api-key'] === KNOWN)).toBe(false)
  })
})
