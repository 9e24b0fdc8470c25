import { createClient } from 'redis'
import { afterEach, describe, expect, test } from 'vitest'
import { keyRecord } from '../../src/testing/index.js'
import { createVerifier, type Verifier } from '../../src/verifier/create-verifier.js'
import { recordingLogger } from '../support/core-helpers.js'
import { freePort, startTestRedis, type TestRedis } from '../support/redis-server.js'

// A Redis that does not answer when the app starts (a wrong REDIS_URL, Redis not up yet) left the app silent:
// the start-up line said "Redis on", requests were admitted, and each instance counted limits alone, with
// nothing logged. It must say so once, naming where (never a password), and once more when Redis answers.
const verifiers: Verifier[] = []
let redis: TestRedis | undefined

afterEach(async () => {
  await Promise.all(verifiers.splice(0).map((verifier) => verifier.close()))
  await redis?.stop()
  redis = undefined
})

const lookup = async () => keyRecord({ id: 'key_a' })
const waitFor = async (check: () => boolean, within = 8_000) => {
  const deadline = Date.now() + within
  while (!check() && Date.now() < deadline) await new Promise((done) => setTimeout(done, 50))
}

describe('a Redis that does not answer when the verifier is made', () => {
  test('is reported once, by host and port only (never a password)', async () => {
    const port = await freePort()
    const logger = recordingLogger()
    const redis = { url: `redis://app:s3cret-pass@127.0.0.1:${port}`, prefix: 'unreachable:' }
    verifiers.push(createVerifier({ lookup, logger, redis }))
    const verifier = verifiers[0]!
    expect((await verifier.verify({ 'x-portkey-api-key': 'pk-a' })).keyId).toBe('key_a') // admitted without Redis
    await waitFor(() => logger.lines.length > 0)
    expect(logger.lines).toEqual([
      expect.stringMatching(
        new RegExp(
          `^warn: portkey-auth: Redis at redis://\\*\\*\\*@127\\.0\\.0\\.1:${port} does not answer; going on without it`,
        ),
      ),
    ])
    expect(logger.lines.join('\n')).not.toContain('s3cret-pass')
    expect(logger.lines.join('\n')).not.toContain('app:')
    // Reconnection attempts and requests go on: still the one line.
    await verifier.verify({ 'x-portkey-api-key': 'pk-a' })
    await new Promise((done) => setTimeout(done, 1_500))
    expect(logger.lines).toHaveLength(1)
  })

  // Attack: URLs the parser reads otherwise than a reader does (a `/` or `#` in the password) must not show it.
  test.each([
    ['a / in the password', 'redis://admin0:12345/s3cret@127.0.0.1:1'],
    ['a # in the user name', 'redis://s3cret#x@127.0.0.1:1'],
  ])('%s: the line shows no part of it', async (_name, url) => {
    const logger = recordingLogger()
    verifiers.push(createVerifier({ lookup, logger, redis: { url, prefix: 'unreachable:' } }))
    await waitFor(() => logger.lines.length > 0)
    expect(logger.lines).toHaveLength(1)
    expect(logger.lines[0]).not.toMatch(/s3cret|admin0|12345/)
  })

  test('and once more when it answers, from when revocations and limits are shared', async () => {
    const port = await freePort()
    const logger = recordingLogger()
    const verifier = createVerifier({ lookup, logger, redis: { url: `redis://127.0.0.1:${port}`, prefix: 'unreachable:' } })
    verifiers.push(verifier)
    await waitFor(() => logger.lines.length > 0)
    redis = await startTestRedis(port)
    await waitFor(() => verifier.stats().redis?.listening === true && logger.lines.length > 1)
    expect(verifier.stats().redis).toMatchObject({ listening: true })
    expect(logger.lines).toEqual([
      expect.stringMatching(/^warn: portkey-auth: Redis at redis:\/\/127\.0\.0\.1:\d+ does not answer/),
      expect.stringMatching(/^info: portkey-auth: Redis at redis:\/\/127\.0\.0\.1:\d+ answers now/),
    ])
  })

  test('a client of your own that is not connected is reported too', async () => {
    const port = await freePort()
    const logger = recordingLogger()
    const client = createClient({ url: `redis://127.0.0.1:${port}`, disableOfflineQueue: true })
    client.on('error', () => {})
    client.connect().catch(() => {})
    const verifier = createVerifier({ lookup, logger, redis: { client, prefix: 'unreachable-client:' } })
    verifiers.push(verifier)
    await verifier.verify({ 'x-portkey-api-key': 'pk-a' })
    await waitFor(() => logger.lines.length > 0)
    expect(logger.lines.filter((line) => line.includes('Redis'))).toEqual([
      expect.stringMatching(/^warn: portkey-auth: Redis \(the client given\) does not answer/),
    ])
    await client.destroy?.()
  })
})
