import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http'
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest'
import { KEY_DETAILS_PATH } from '../../src/lookup/control-plane.js'
import { type ControlPlaneStub, startControlPlaneStub } from '../../src/testing/control-plane-stub.js'
import { createTestIssuer, type TestIssuer } from '../../src/testing/issuer.js'
import { createVerifier, type Verifier } from '../../src/verifier/create-verifier.js'
import type { VerifierOptions } from '../../src/options/verifier-options.js'
import { probe } from '../../src/lookup/probe.js'
import { startRawServer, until } from '../support/core-helpers.js'
import { startTestRedis } from '../support/redis-server.js'

const CLIENT_AUTH = 'Bearer probe-client-auth-0001'
const MS = String.raw`\d+ ms`

let stub: ControlPlaneStub
let issuer: TestIssuer
const opened: { close(): Promise<void> }[] = []

beforeAll(async () => {
  issuer = await createTestIssuer()
  stub = await startControlPlaneStub({ jwks: issuer.jwks })
})

afterAll(async () => {
  await stub.close()
})

afterEach(async () => {
  stub.heal()
  stub.delayMs = 0
  stub.jwks = issuer.jwks
  stub.resetCounts()
  await Promise.all(opened.splice(0).map((resource) => resource.close()))
})

/** A verifier closed after the test. */
function verifierFor(options: VerifierOptions): Verifier {
  const verifier = createVerifier(options)
  opened.push(verifier)
  return verifier
}

/** A `node:http` server of the test's own, closed after the test. */
async function serve(handler: RequestListener): Promise<string> {
  const server = await startRawServer(handler)
  opened.push(server)
  return server.url
}

const answer =
  (status: number, body: string, type: string) =>
  (_req: IncomingMessage, res: ServerResponse): void => {
    res.writeHead(status, { 'content-type': type }).end(body)
  }

/** A port nothing listens on: one a server had a moment ago. */
async function deadUrl(): Promise<string> {
  const server = await startRawServer(() => {})
  await server.close()
  return server.url
}

const jwtAt = (jwksUrl: string) => ({ jwksUrl, issuer: issuer.issuer, audience: issuer.audience })

describe('verifier.probe(): the control plane', () => {
  test('a live control plane answers a call without a key with 401 and JSON: ok', async () => {
    const result = await verifierFor({ controlPlaneUrl: stub.url }).probe()

    expect(result.ok).toBe(true)
    expect(result.checks).toHaveLength(1)
    expect(result.checks[0]).toMatchObject({ name: 'control plane', ok: true })
    expect(result.checks[0]!.detail).toMatch(new RegExp(`^401 from ${KEY_DETAILS_PATH} in ${MS}$`))
    expect(result.checks[0]!.durationMs).toBeGreaterThanOrEqual(0)
    expect(String(result)).toMatch(new RegExp(`^control plane: ok \\(401 from ${KEY_DETAILS_PATH} in ${MS}\\)$`))
    expect(stub.calls(KEY_DETAILS_PATH)).toBe(1)
    expect(stub.log[0]!.headers.accept).toBe('application/json')
    // What a readiness endpoint sends with res.json(result):
    expect(JSON.parse(JSON.stringify(result))).toEqual({ ok: true, checks: [{ ...result.checks[0] }] })
  })

  test('sends clientAuth as Authorization, as the look-up does, and never a key; the detail does not echo it', async () => {
    const result = await verifierFor({ controlPlaneUrl: stub.url, clientAuth: CLIENT_AUTH }).probe()

    expect(result.ok).toBe(true)
    expect(stub.log).toHaveLength(1)
    expect(stub.log[0]!.headers.authorization).toBe(CLIENT_AUTH)
    expect(stub.log[0]!.headers).not.toHaveProperty('x-portkey-api-key')
    expect(String(result)).not.toContain('probe-client-auth')
    expect(JSON.stringify(result)).not.toContain('probe-client-auth')
  })

  test('a control plane nothing listens on: unreachable, connection refused', async () => {
    const url = await deadUrl()
    const result = await verifierFor({ controlPlaneUrl: url }).probe()

    expect(result.ok).toBe(false)
    expect(result.checks[0]).toMatchObject({ name: 'control plane', ok: false })
    expect(String(result)).toBe(`control plane: FAILED (unreachable: connection refused (${new URL(url).host}))`)
  })

  test('a control plane that hangs fails at timeoutMs: the probe returns, it does not hang', async () => {
    stub.fail('hang')
    const started = performance.now()
    const result = await verifierFor({ controlPlaneUrl: stub.url, timeoutMs: 200 }).probe()

    expect(performance.now() - started).toBeLessThan(2_000)
    expect(result.ok).toBe(false)
    expect(result.checks[0]!.detail).toBe('unreachable: no answer within 200 ms')
  })

  test('a control plane that resets the connection: unreachable, and says so', async () => {
    stub.fail('reset')
    const result = await verifierFor({ controlPlaneUrl: stub.url }).probe()

    expect(result.ok).toBe(false)
    expect(result.checks[0]!.detail).toMatch(/^unreachable: connection (reset|closed) \(127\.0\.0\.1:\d+\)$/)
  })

  test.each([
    ['500', 'error' as const, `failing: 500 from ${KEY_DETAILS_PATH}`],
    ['503', 'unavailable' as const, `failing: 503 from ${KEY_DETAILS_PATH}`],
    [
      '200 with an HTML page',
      'garbled' as const,
      `200 from ${KEY_DETAILS_PATH} to a call without a key: not Portkey's key service`,
    ],
  ])('a control plane answering %s: FAILED', async (_, mode, detail) => {
    stub.fail(mode)
    const result = await verifierFor({ controlPlaneUrl: stub.url }).probe()

    expect(result.ok).toBe(false)
    expect(result.checks[0]!.detail).toBe(detail)
  })

  // Wrong URLs: a server that is not Portkey's key service (a gateway, a web page, a URL with /v2 in it).
  test.each([
    [
      '404 (a wrong base URL, e.g. one ending in /v2)',
      answer(404, '{"status":"failure","message":"Not found"}', 'application/json'),
      `404 on ${KEY_DETAILS_PATH}: is controlPlaneUrl the base URL, without /v1 or /v2?`,
    ],
    [
      '200 with an HTML page',
      answer(200, '<!doctype html><title>Welcome</title>', 'text/html; charset=utf-8'),
      `200 from ${KEY_DETAILS_PATH} to a call without a key: not Portkey's key service`,
    ],
    [
      '200 with JSON to a call without a key',
      answer(200, '{"id":"key_1"}', 'application/json'),
      `200 from ${KEY_DETAILS_PATH} to a call without a key: not Portkey's key service`,
    ],
    [
      '401 with an HTML login page',
      answer(401, '<html><body>Sign in</body></html>', 'text/html'),
      `401 from ${KEY_DETAILS_PATH} with an HTML page (text/html): not Portkey's key service`,
    ],
    [
      '403 with plain text',
      answer(403, 'Forbidden', 'text/plain'),
      `403 from ${KEY_DETAILS_PATH} with a body that is not JSON (text/plain): not Portkey's key service`,
    ],
    [
      '401 with JSON that is not an object',
      answer(401, '"denied"', 'application/json'),
      `401 from ${KEY_DETAILS_PATH} with a JSON body that is not an object: not Portkey's key service`,
    ],
    [
      '429',
      answer(429, '{"status":"failure"}', 'application/json'),
      `429 from ${KEY_DETAILS_PATH}, expected 401 or 403 to a call without a key`,
    ],
    [
      'a redirect',
      (_req: IncomingMessage, res: ServerResponse) => res.writeHead(302, { location: 'http://127.0.0.1:1/' }).end(),
      'answered with a redirect, which is not followed: give the final URL',
    ],
  ])('a server answering %s: FAILED, saying what is wrong', async (_, handler, detail) => {
    const url = await serve(handler)
    const result = await verifierFor({ controlPlaneUrl: url }).probe()

    expect(result.ok).toBe(false)
    expect(result.checks).toEqual([{ name: 'control plane', ok: false, detail, durationMs: expect.any(Number) }])
    expect(String(result)).toBe(`control plane: FAILED (${detail})`)
  })

  test('reads only a few KB of the answer: a 401 whose body never ends is refused at once, not at the timeout', async () => {
    let streaming: NodeJS.Timeout | undefined
    const url = await serve((_req, res) => {
      res.writeHead(401, { 'content-type': 'application/json' })
      res.write('{"message":"')
      streaming = setInterval(() => res.write('x'.repeat(1024)), 1)
      res.on('close', () => clearInterval(streaming))
    })
    const result = await verifierFor({ controlPlaneUrl: url, timeoutMs: 10_000 }).probe()
    clearInterval(streaming)

    expect(result.checks[0]!.detail).toBe(
      `401 from ${KEY_DETAILS_PATH} with a body over 4 KB (application/json): not Portkey's key service`,
    )
  })

  test('a custom lookup: nothing to reach, the control plane is not called', async () => {
    const result = await verifierFor({ controlPlaneUrl: stub.url, lookup: async () => null }).probe()

    expect(result.ok).toBe(true)
    expect(result.checks).toEqual([
      { name: 'control plane', ok: true, detail: 'custom lookup: not checked', durationMs: expect.any(Number) },
    ])
    expect(String(result)).toBe('control plane: ok (custom lookup: not checked)')
    expect(stub.calls()).toBe(0)
  })
})

describe('verifier.probe(): the JWKS', () => {
  test('a JWKS with keys: ok, and says how many', async () => {
    const other = await createTestIssuer('test-key-2')
    stub.jwks = { keys: [...issuer.jwks.keys, ...other.jwks.keys] }
    const result = await verifierFor({ controlPlaneUrl: stub.url, jwt: jwtAt(stub.jwksUrl) }).probe()

    expect(result.ok).toBe(true)
    expect(result.checks.map((check) => check.name)).toEqual(['control plane', 'jwks'])
    expect(result.checks[1]!.detail).toMatch(new RegExp(`^2 keys from /\\.well-known/jwks\\.json in ${MS}$`))
    const lines = String(result).split('\n')
    expect(lines).toHaveLength(2)
    expect(lines[0]).toMatch(new RegExp(`^control plane: ok \\(401 from ${KEY_DETAILS_PATH} in ${MS}\\)$`))
    expect(lines[1]).toMatch(new RegExp(`^jwks: ok \\(2 keys from /\\.well-known/jwks\\.json in ${MS}\\)$`))
  })

  test('a JWKS with one key says "1 key"', async () => {
    const result = await verifierFor({ controlPlaneUrl: stub.url, jwt: jwtAt(stub.jwksUrl) }).probe()

    expect(result.checks[1]!.detail).toMatch(new RegExp(`^1 key from /\\.well-known/jwks\\.json in ${MS}$`))
  })

  test('an empty JWKS: FAILED, no token can be verified; ok is false though the control plane is fine', async () => {
    stub.jwks = { keys: [] }
    const result = await verifierFor({ controlPlaneUrl: stub.url, jwt: jwtAt(stub.jwksUrl) }).probe()

    expect(result.ok).toBe(false)
    expect(result.checks[0]!.ok).toBe(true)
    expect(result.checks[1]).toMatchObject({
      name: 'jwks',
      ok: false,
      detail: '200 from /.well-known/jwks.json holds 0 keys: no token can be verified',
    })
    expect(String(result).split('\n')[1]).toBe(
      'jwks: FAILED (200 from /.well-known/jwks.json holds 0 keys: no token can be verified)',
    )
  })

  test.each([
    [
      'an HTML page',
      answer(200, '<html>Not here</html>', 'text/html'),
      '200 from /jwks with an HTML page (text/html): not a JSON Web Key Set',
    ],
    [
      'JSON without "keys"',
      answer(200, '{"issuer":"x"}', 'application/json'),
      '200 from /jwks has no "keys" list: not a JSON Web Key Set',
    ],
    ['404', answer(404, 'no', 'text/plain'), '404 from /jwks, expected 200 with a JSON Web Key Set'],
    ['503', answer(503, '{}', 'application/json'), 'failing: 503 from /jwks, expected 200 with a JSON Web Key Set'],
  ])('a JWKS URL answering %s: FAILED, saying what is wrong', async (_, handler, detail) => {
    const url = await serve(handler)
    const result = await verifierFor({ controlPlaneUrl: stub.url, jwt: jwtAt(`${url}/jwks`) }).probe()

    expect(result.ok).toBe(false)
    expect(result.checks[1]).toMatchObject({ name: 'jwks', ok: false, detail })
  })

  test('a JWKS URL nothing listens on: unreachable', async () => {
    const url = await deadUrl()
    const result = await verifierFor({ controlPlaneUrl: stub.url, jwt: jwtAt(`${url}/jwks`) }).probe()

    expect(result.checks[1]!.detail).toBe(`unreachable: connection refused (${new URL(url).host})`)
  })

  test('an inline JWKS: no JWKS check', async () => {
    const result = await verifierFor({
      controlPlaneUrl: stub.url,
      jwt: { jwks: issuer.jwks, issuer: issuer.issuer, audience: issuer.audience },
    }).probe()

    expect(result.checks.map((check) => check.name)).toEqual(['control plane'])
  })

  test('the checks run in parallel: the JWKS is fetched while the control plane is still answering', async () => {
    stub.delayMs = 300
    let controlPlaneCallsOpen = -1
    const url = await serve((req, res) => {
      controlPlaneCallsOpen = stub.inFlight
      answer(200, JSON.stringify(issuer.jwks), 'application/json')(req, res)
    })
    const result = await verifierFor({ controlPlaneUrl: stub.url, jwt: jwtAt(`${url}/jwks`) }).probe()

    expect(result.ok).toBe(true)
    expect(controlPlaneCallsOpen).toBe(1)
  })

  test('no request the probe makes carries a key', async () => {
    await verifierFor({ controlPlaneUrl: stub.url, clientAuth: CLIENT_AUTH, jwt: jwtAt(stub.jwksUrl) }).probe()

    expect(stub.log.map((call) => call.path).sort()).toEqual(['/.well-known/jwks.json', KEY_DETAILS_PATH])
    for (const call of stub.log) expect(call.headers).not.toHaveProperty('x-portkey-api-key')
    // The identity provider is not Portkey: it is not sent Portkey's client auth either.
    expect(stub.log.find((call) => call.path !== KEY_DETAILS_PATH)!.headers).not.toHaveProperty('authorization')
  })
})

describe('verifier.probe(): Redis', () => {
  test('a live Redis answers PING: ok; a stopped one: FAILED, no answer', async () => {
    const redis = await startTestRedis()
    // stop() once only: a second call on a killed redis-server waits for an exit that already happened.
    let running = true
    opened.push({ close: async () => void (running && (await redis.stop())) })
    const verifier = verifierFor({ controlPlaneUrl: stub.url, redis: { url: redis.url } })
    await until(() => verifier.stats().redis?.connected === true, 5_000)

    const live = await verifier.probe()
    expect(live.ok).toBe(true)
    expect(live.checks.map((check) => check.name)).toEqual(['control plane', 'redis'])
    expect(String(live).split('\n')[1]).toMatch(new RegExp(`^redis: ok \\(PONG in ${MS}\\)$`))

    await redis.stop()
    running = false
    const dead = await verifier.probe()
    expect(dead.ok).toBe(false)
    expect(dead.checks[0]!.ok).toBe(true)
    expect(dead.checks[1]).toMatchObject({ name: 'redis', ok: false })
    expect(String(dead).split('\n')[1]).toMatch(/^redis: FAILED \(no answer to PING( within \d+ ms)?\)$/)
  })

  test('without Redis: no Redis check', async () => {
    const result = await verifierFor({ controlPlaneUrl: stub.url }).probe()

    expect(result.checks.map((check) => check.name)).not.toContain('redis')
  })
})

// The one test below the public surface: no configuration makes a check throw, so a bug is simulated.
describe('probe() never throws', () => {
  test('a check that throws, or a ping that never settles, becomes a failed check', async () => {
    const result = await probe({
      controlPlaneUrl: null,
      clientAuth: undefined,
      jwksUrl: 'not a URL',
      redis: () => new Promise<boolean>(() => {}),
      timeoutMs: 50,
    })

    expect(result.ok).toBe(false)
    expect(result.checks.map(({ name, ok }) => [name, ok])).toEqual([
      ['control plane', true],
      ['jwks', false],
      ['redis', false],
    ])
    expect(result.checks[1]!.detail).toMatch(/^probe failed \(\w+\)$/)
    expect(result.checks[2]!.detail).toBe('no answer to PING within 50 ms')
  })

  test('a ping that rejects becomes a failed check', async () => {
    const result = await probe({
      controlPlaneUrl: null,
      clientAuth: undefined,
      jwksUrl: null,
      redis: () => Promise.reject(new Error('socket gone')),
      timeoutMs: 50,
    })

    expect(result.checks[1]).toMatchObject({ ok: false, detail: 'no answer to PING (Error)' })
  })

  test('a foreign error is named by its code or class, never quoted: its message may hold a URL or a secret', async () => {
    const secret = 'redis://admin:hunter2@10.0.0.1:6379'
    const coded = Object.assign(new Error(`connect ECONNREFUSED ${secret}`), { code: 'ECONNREFUSED' })
    const odd = Object.assign(new Error(secret), { code: `E ${secret}`, name: `Error ${secret}` })
    for (const [error, detail] of [
      [coded, 'no answer to PING (ECONNREFUSED)'],
      [odd, 'no answer to PING (Error)'],
      [new TypeError(secret), 'no answer to PING (TypeError)'],
    ] as const) {
      const result = await probe({
        controlPlaneUrl: null,
        clientAuth: undefined,
        jwksUrl: null,
        redis: () => Promise.reject(error),
        timeoutMs: 50,
      })
      expect(result.checks[1]!.detail).toBe(detail)
      expect(String(result)).not.toContain('hunter2')
    }
    const thrown = await probe({
      controlPlaneUrl: null,
      clientAuth: undefined,
      jwksUrl: null,
      redis: () => {
        throw new Error(secret)
      },
      timeoutMs: 50,
    })
    expect(String(thrown)).not.toContain('hunter2')
  })
})

describe('a URL with a user name or password', () => {
  test.each([
    ['controlPlaneUrl', { controlPlaneUrl: 'https://admin:hunter2@cp.example.com' }],
    ['controlPlaneUrl, a user name alone', { controlPlaneUrl: 'https://hunter2@cp.example.com' }],
    ['jwt.jwksUrl', { jwt: { jwksUrl: 'https://admin:hunter2@idp.example.com/jwks.json', issuer: 'i', audience: 'a' } }],
  ])('%s is refused at creation, and the message does not echo it', (_name, options) => {
    let error: unknown
    try {
      createVerifier(options as VerifierOptions)
    } catch (caught) {
      error = caught
    }
    expect(error).toBeInstanceOf(TypeError)
    expect((error as Error).message).toMatch(/user name or password/)
    expect((error as Error).message).not.toContain('hunter2')
  })

  test('a malformed URL with user info is refused without echoing it either', () => {
    expect(() => createVerifier({ controlPlaneUrl: 'https://admin:hunter2@cp.example.com/?x' })).toThrow(TypeError)
    expect(() => createVerifier({ controlPlaneUrl: 'https://admin:hunter2@cp.example.com/?x' })).not.toThrow(/hunter2/)
  })

  // Attack: a password with a `/`, `?` or `#` in it (base64 has `/`) ended the user info early for the redaction,
  // and the whole URL was quoted.
  test.each([
    ['a / in the password', 'https://svc:AbC/hunter2+g==@cp.internal'],
    ['a # in the password', 'https://svc:123#hunter2@cp.internal'],
    ['a ? in the password', 'https://svc:123?hunter2@cp.internal/'],
    ['no scheme', 'svc:hunter2@cp.internal'],
  ])('%s: refused without echoing it', (_name, controlPlaneUrl) => {
    expect(() => createVerifier({ controlPlaneUrl })).toThrow(TypeError)
    expect(() => createVerifier({ controlPlaneUrl })).not.toThrow(/hunter2/)
    expect(() => createVerifier({ jwt: { jwksUrl: controlPlaneUrl, issuer: 'i', audience: 'a' } })).not.toThrow(/hunter2/)
  })

  test.each([['PORTKEY_CONTROL_PLANE_URL']])('from env %s too', (name) => {
    const before = process.env[name]
    process.env[name] = 'https://admin:hunter2@cp.example.com'
    try {
      expect(() => createVerifier({})).toThrow(/user name or password/)
      expect(() => createVerifier({})).not.toThrow(/hunter2/)
    } finally {
      if (before === undefined) delete process.env[name]
      else process.env[name] = before
    }
  })
})
