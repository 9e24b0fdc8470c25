import { createServer } from 'node:net'
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest'
import type { Decision } from '../../src/types.js'
import { createVerifier, type Verifier } from '../../src/verifier/create-verifier.js'
import { KEY_DETAILS_PATH, keyRecord } from '../../src/testing/index.js'
import { recordingLogger, startRawServer } from '../support/core-helpers.js'
import { startTestRedis, type TestRedis } from '../support/redis-server.js'
import { closeAfterTest, useStub } from '../support/servers.js'

const KEY = 'pk-live-0123456789abcdef'

const outcome = (verifier: Verifier, headers: Record<string, string> | Headers) =>
  verifier.verify(headers).then(
    (auth) => ({ status: 200, keyId: auth.keyId }),
    (error: { status: number; code: string }) => ({ status: error.status, code: error.code }),
  )

describe('a Web Headers object', () => {
  test('is read like Node’s header object', async () => {
    const stub = await useStub({ keys: { [KEY]: keyRecord({ id: 'key_web' }) } })
    const verifier = createVerifier({ controlPlaneUrl: stub.url, logger: false })
    expect(await outcome(verifier, new Headers({ 'X-Portkey-Api-Key': KEY }))).toEqual({ status: 200, keyId: 'key_web' })
    expect(await outcome(verifier, new Headers())).toEqual({ status: 401, code: 'missing_api_key' })
    expect(await outcome(verifier, new Headers({ 'x-portkey-api-key': KEY, 'x-portkey-virtual-key': '../x' }))).toEqual({
      status: 400,
      code: 'invalid_request',
    })
  })

  test('a repeated credential or provider, which Headers joins with ", ", is a 400 as in Node', async () => {
    const stub = await useStub({ keys: { [KEY]: keyRecord() } })
    const verifier = createVerifier({ controlPlaneUrl: stub.url, logger: false })
    const twice = new Headers()
    twice.append('x-portkey-api-key', KEY)
    twice.append('x-portkey-api-key', KEY)
    expect(await outcome(verifier, twice)).toEqual({ status: 400, code: 'invalid_request' })
    const provider = new Headers({ 'x-portkey-api-key': KEY })
    provider.append('x-portkey-provider', 'openai')
    provider.append('x-portkey-provider', '@victim')
    expect(await outcome(verifier, provider)).toEqual({ status: 400, code: 'invalid_request' })
    expect(stub.calls(KEY_DETAILS_PATH)).toBe(0)
  })
})

describe('a control plane that answers like no key service', () => {
  test.each([
    ['a 404 (a URL with a path the package does not refuse)', '404 on /somewhere/v2/api-keys/self/details'],
    ['an HTML page', '200 with an HTML page on /v2/api-keys/self/details'],
  ])('%s: 503, never cached as an unknown key, one log line, a cause in onDecision', async (name, said) => {
    const html = await startRawServer((_req, res) =>
      res.writeHead(200, { 'content-type': 'text/html' }).end('<html>login</html>'),
    )
    closeAfterTest(html)
    const stub = await useStub({ keys: { [KEY]: keyRecord() } })
    const controlPlaneUrl = name.startsWith('a 404') ? `${stub.url}/somewhere` : html.url
    const logger = recordingLogger()
    const decisions: Decision[] = []
    const verifier = createVerifier({ controlPlaneUrl, logger, onDecision: (decision) => decisions.push(decision) })
    for (let i = 0; i < 3; i++)
      expect(await outcome(verifier, { 'x-portkey-api-key': KEY })).toEqual({ status: 503, code: 'auth_unavailable' })
    expect(verifier.stats()).toMatchObject({ lookups: 3, failures: 3, entries: 0 })
    expect(logger.lines).toEqual([
      expect.stringMatching(
        new RegExp(`^warn: portkey-auth: http://127\\.0\\.0\\.1:\\d+ answered ${said}: it is no Portkey key service there`),
      ),
    ])
    expect(decisions.map((decision) => decision.cause)).toEqual(Array(3).fill(expect.stringContaining(said)))
    expect(logger.lines.join('\n') + decisions.map((decision) => decision.cause).join('\n')).not.toContain(KEY)
  })
})

describe('onDecision says why an outage happened', () => {
  test.each<[string, (url: string) => Promise<{ url: string; timeoutMs?: number }>, RegExp]>([
    [
      'a refused connection',
      async () => ({ url: `http://127.0.0.1:${await deadPort()}` }),
      /^connection failed \(ECONNREFUSED\)$/,
    ],
    ['a hung control plane', async (url) => ({ url, timeoutMs: 100 }), /^timed out$/],
    ['a 500', async (url) => ({ url }), /^key service answered 500$/],
  ])('%s', async (name, target, cause) => {
    const stub = await useStub({ keys: { [KEY]: keyRecord() } })
    if (name === 'a hung control plane') stub.fail('hang')
    if (name === 'a 500') stub.fail('error')
    const { url, timeoutMs } = await target(stub.url)
    const decisions: Decision[] = []
    const verifier = createVerifier({
      controlPlaneUrl: url,
      timeoutMs,
      logger: false,
      onDecision: (decision) => decisions.push(decision),
    })
    expect(await outcome(verifier, { 'x-portkey-api-key': KEY })).toEqual({ status: 503, code: 'auth_unavailable' })
    expect(decisions[0]?.cause).toMatch(cause)
    stub.heal()
  })

  test('an admitted request and a 401 have no cause', async () => {
    const stub = await useStub({ keys: { [KEY]: keyRecord() } })
    const decisions: Decision[] = []
    const verifier = createVerifier({ controlPlaneUrl: stub.url, onDecision: (decision) => decisions.push(decision) })
    await outcome(verifier, { 'x-portkey-api-key': KEY })
    await outcome(verifier, { 'x-portkey-api-key': 'pk-unknown-0123456789abcdef' })
    expect(decisions.map((decision) => [decision.status, decision.cause])).toEqual([
      [200, null],
      [401, null],
    ])
  })
})

describe('Redis going and coming back is logged once each', () => {
  let redis: TestRedis
  beforeAll(async () => {
    redis = await startTestRedis()
  })
  afterAll(() => redis?.stop())

  test('one warning when it goes, one line when it is back', async () => {
    const stub = await useStub()
    const logger = recordingLogger()
    const verifier = closeAfterTest(createVerifier({ controlPlaneUrl: stub.url, redis: { url: redis.url }, logger }))
    await vi.waitFor(() => expect(verifier.stats().redis).toMatchObject({ connected: true, listening: true }), { timeout: 5_000 })
    expect(logger.lines).toEqual([])
    await redis.stop()
    await vi.waitFor(() => expect(logger.lines).toHaveLength(1), { timeout: 5_000 })
    expect(logger.lines[0]).toMatch(/^warn: portkey-auth: lost the Redis connection; going on without Redis/)
    await redis.start()
    await vi.waitFor(() => expect(verifier.stats().redis).toMatchObject({ listening: true }), { timeout: 10_000 })
    await vi.waitFor(() => expect(logger.lines).toHaveLength(2), { timeout: 5_000 })
    expect(logger.lines[1]).toMatch(/^info: portkey-auth: Redis is back; local caches cleared/)
  })
})

/** A loopback port nothing listens on. */
async function deadPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done))
  const { port } = server.address() as { port: number }
  await new Promise((done) => server.close(done))
  return port
}
