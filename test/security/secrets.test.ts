import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { OutgoingHttpHeaders } from 'node:http'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import type { AuthErrorCode } from '../../src/errors.js'
import { portkeyAuth } from '../../src/express/index.js'
import {
  type ControlPlaneStub,
  createTestIssuer,
  type FailureMode,
  keyRecord,
  startControlPlaneStub,
  type TestIssuer,
  virtualKeyRecord,
} from '../../src/testing/index.js'
import { expectRejection, type Running, send, startExpress, WHOAMI } from '../support/servers.js'
import type { OutputRecorder } from '../support/secrets-setup.js'

const recorder = (globalThis as unknown as Record<symbol, OutputRecorder | undefined>)[
  Symbol.for('portkey-auth.test.output-recorder')
]

describe('the output recorder (test/support/secrets-setup.ts)', () => {
  test('is installed in this worker: console.* and both standard streams are recorded', () => {
    expect(recorder?.installed()).toBe(true)
    const marker = `secrets-check ${process.pid} ${Date.now()}`
    console.info(`${marker} via console`)
    process.stdout.write(`${marker} via stdout\n`)
    expect(recorder!.written.filter((line) => line.includes(marker))).toHaveLength(2)
  })

  test.each<[string, string, number]>([
    ['a Portkey key', 'auth failed for pk-live-0123456789', 1],
    ['a key in JSON', '{"key":"pk-abcdef"}', 1],
    ['a JWT', 'token eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln here', 1],
    ['an unsigned JWT', 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.', 1],
    ['two of them', 'pk-aaaaaaaa and pk-bbbbbbbb', 2],
    ['a figures line', '[flood express] requests=20000 stubCalls=3493 peakInFlight=64/64 shed=15707', 0],
    ['a short prefix', 'pk-abc is not a key', 0],
    ['the header name', 'x-portkey-api-key: (hidden)', 0],
  ])('scan() finds %s', (_name, text, count) => {
    expect(recorder!.scan(text)).toHaveLength(count)
  })

  test('check() fails on a leak and names it only by a masked prefix', () => {
    const secret = 'pk-live-very-secret-0123456789'
    let message = ''
    try {
      recorder!.check(['fine', `oops ${secret}`])
    } catch (error) {
      message = (error as Error).message
    }
    expect(message).toMatch(/credential-shaped/)
    expect(message).not.toContain(secret)
    expect(recorder!.scan(message)).toEqual([])
    expect(() => recorder!.check(['nothing to see', '[breaker koa] before opening: [305,305,304]ms'])).not.toThrow()
  })
})

describe('src/ never writes to the console or the standard streams', () => {
  const root = join(import.meta.dirname, '../../src')
  // The library reports through its `logger` option (console by default), never by writing itself; the
  // one exception is the `portkey-auth-stub` command, whose job is to print (its demo keys are public).
  const COMMANDS = new Set(['testing/cli.ts'])
  const files = readdirSync(root, { recursive: true, encoding: 'utf8' }).filter(
    (file) => file.endsWith('.ts') && !COMMANDS.has(file),
  )

  test('there are source files to check', () => {
    expect(files.length).toBeGreaterThan(10)
  })

  test.each(files)('%s', (file) => {
    const source = readFileSync(join(root, file), 'utf8')
      // Comments may mention them (TSDoc examples); code may not.
      .replace(/\/\*[\s\S]*?\*\//g, '')
      .replace(/(^|[^:])\/\/.*$/gm, '$1')
    expect(source).not.toMatch(/\bconsole\s*(\.|\[)/)
    expect(source).not.toMatch(/\bprocess\s*\.\s*(stdout|stderr)\b/)
    expect(source).not.toMatch(/\bprocess\s*\.\s*_rawDebug\b/)
  })
})

describe('no error body or header carries the credential (a sweep through a real Express app)', () => {
  const K = {
    live: 'pk-sweep-live-0123456789',
    logsOnly: 'pk-sweep-logs-only-0123456789',
    org: 'pk-sweep-org-0123456789',
    exhausted: 'pk-sweep-exhausted-0123456789',
    expired: 'pk-sweep-expired-0123456789',
    archived: 'pk-sweep-archived-0123456789',
    pastDate: 'pk-sweep-past-date-0123456789',
  }
  let issuer: TestIssuer
  let forger: TestIssuer
  let stranger: TestIssuer
  let stub: ControlPlaneStub
  let app: Running
  let plain: Running
  const tokens: Record<'valid' | 'forged' | 'expired' | 'unknownKid', string> = {
    valid: '',
    forged: '',
    expired: '',
    unknownKid: '',
  }
  let serial = 0

  beforeAll(async () => {
    ;[issuer, forger, stranger] = await Promise.all([
      createTestIssuer('sweep-kid'),
      createTestIssuer('sweep-kid'),
      createTestIssuer('sweep-other'),
    ])
    const claims = { portkey_oid: 'org_test', portkey_workspace: 'ws_test', scope: 'portkey.completions.write' }
    tokens.valid = await issuer.sign(claims)
    tokens.forged = await forger.sign(claims)
    tokens.expired = await issuer.sign({ ...claims, exp: Math.floor(Date.now() / 1000) - 3600 })
    tokens.unknownKid = await stranger.sign(claims)
    stub = await startControlPlaneStub({
      jwks: issuer.jwks,
      keys: {
        [K.live]: keyRecord({ id: 'key_sweep' }),
        [K.logsOnly]: keyRecord({ scopes: ['logs.read'] }),
        [K.org]: keyRecord({ type: 'organisation-service', workspace_id: null }),
        [K.exhausted]: keyRecord({ status: 'exhausted' }),
        [K.expired]: keyRecord({ status: 'expired' }),
        [K.archived]: keyRecord({ status: 'archived' }),
        [K.pastDate]: keyRecord({ expires_at: new Date(Date.now() - 60_000).toISOString() }),
      },
      virtualKeys: {
        'vk-elsewhere': virtualKeyRecord({ slug: 'vk-elsewhere', workspace_id: 'ws_other' }),
        'vk-spent': virtualKeyRecord({ slug: 'vk-spent', status: 'exhausted' }),
      },
    })
    const options = {
      controlPlaneUrl: stub.url,
      timeoutMs: 150,
      scopes: 'portkey' as const,
      breaker: { failureThreshold: 1_000 },
    }
    app = await startExpress((express) =>
      express
        .use(portkeyAuth({ ...options, jwt: { jwksUrl: stub.jwksUrl, issuer: issuer.issuer, audience: issuer.audience } }))
        .all(WHOAMI, (req, res) => res.json({ portkey: req.portkey })),
    )
    // Without JWT configured, a token is looked up as an API key.
    plain = await startExpress((express) =>
      express.use(portkeyAuth(options)).all(WHOAMI, (req, res) => res.json({ portkey: req.portkey })),
    )
  })

  afterAll(async () => {
    await Promise.all([app?.close(), plain?.close(), stub?.close()])
  })

  const fresh = () => `pk-sweep-outage-${++serial}-0123456789`
  type Case = [
    name: string,
    request: () => { headers: OutgoingHttpHeaders; secret: string; path?: string; method?: string; jwtless?: boolean },
    status: number,
    code: AuthErrorCode,
  ]

  test.each<Case>([
    [
      'an unknown key',
      () => ({ headers: { 'x-portkey-api-key': 'pk-sweep-nobody-0123456789' }, secret: 'pk-sweep-nobody-0123456789' }),
      401,
      'invalid_api_key',
    ],
    ['a key with a space', () => ({ headers: { 'x-portkey-api-key': `${K.live} x` }, secret: K.live }), 401, 'invalid_api_key'],
    [
      'a key with a Latin-1 byte',
      () => ({ headers: { 'x-portkey-api-key': `${K.live}\u00e9` }, secret: K.live }),
      401,
      'invalid_api_key',
    ],
    ['a repeated header', () => ({ headers: { 'x-portkey-api-key': [K.live, K.live] }, secret: K.live }), 400, 'invalid_request'],
    [
      'a comma-joined header',
      () => ({ headers: { 'x-portkey-api-key': `${K.live}, ${K.live}` }, secret: K.live }),
      400,
      'invalid_request',
    ],
    [
      'an oversize key',
      () => ({ headers: { 'x-portkey-api-key': `${K.live}${'x'.repeat(5_000)}` }, secret: K.live }),
      400,
      'invalid_request',
    ],
    [
      'an exhausted key',
      () => ({ headers: { 'x-portkey-api-key': K.exhausted }, secret: K.exhausted }),
      412,
      'usage_limit_exceeded',
    ],
    ['an expired key', () => ({ headers: { 'x-portkey-api-key': K.expired }, secret: K.expired }), 401, 'expired_api_key'],
    [
      'a key past its expires_at',
      () => ({ headers: { 'x-portkey-api-key': K.pastDate }, secret: K.pastDate }),
      401,
      'expired_api_key',
    ],
    ['an archived key', () => ({ headers: { 'x-portkey-api-key': K.archived }, secret: K.archived }), 401, 'invalid_api_key'],
    [
      'a key lacking the route scope',
      () => ({ headers: { 'x-portkey-api-key': K.logsOnly }, secret: K.logsOnly, path: '/v1/chat/completions', method: 'POST' }),
      403,
      'insufficient_scope',
    ],
    [
      'a virtual key of another workspace',
      () => ({ headers: { 'x-portkey-api-key': K.live, 'x-portkey-virtual-key': 'vk-elsewhere' }, secret: K.live }),
      403,
      'virtual_key_not_allowed',
    ],
    [
      'an exhausted virtual key',
      () => ({ headers: { 'x-portkey-api-key': K.live, 'x-portkey-virtual-key': 'vk-spent' }, secret: K.live }),
      412,
      'usage_limit_exceeded',
    ],
    [
      'an organisation key naming a virtual key',
      () => ({ headers: { 'x-portkey-api-key': K.org, 'x-portkey-virtual-key': 'vk-spent' }, secret: K.org }),
      403,
      'virtual_key_not_allowed',
    ],
    ['a forged token', () => ({ headers: { 'x-portkey-api-key': tokens.forged }, secret: tokens.forged }), 401, 'invalid_token'],
    [
      'an expired token',
      () => ({ headers: { 'x-portkey-api-key': tokens.expired }, secret: tokens.expired }),
      401,
      'invalid_token',
    ],
    [
      'a token of an unknown kid',
      () => ({ headers: { 'x-portkey-api-key': tokens.unknownKid }, secret: tokens.unknownKid }),
      401,
      'invalid_token',
    ],
    [
      'a token where JWT is not configured',
      () => ({ headers: { 'x-portkey-api-key': tokens.valid }, secret: tokens.valid, jwtless: true }),
      401,
      'invalid_api_key',
    ],
  ])('%s', async (_name, make, status, code) => {
    const { headers, secret, path = WHOAMI, method = 'GET', jwtless = false } = make()
    const res = await send((jwtless ? plain : app).url + path, headers, { method })
    const secrets = [secret, ...(secret.startsWith('eyJ') ? [secret.split('.')[2]!] : [])]
    expectRejection(res, status, code, secrets)
  })

  test.each<FailureMode>(['error', 'unavailable', 'garbled', 'reset', 'hang'])(
    'a key service outage (%s): 503 without the key',
    async (mode) => {
      const key = fresh()
      stub.fail(mode, { times: 2 })
      try {
        expectRejection(await send(app.url + WHOAMI, { 'x-portkey-api-key': key }), 503, 'auth_unavailable', [key])
      } finally {
        stub.heal()
      }
    },
  )

  test('an admitted context holds neither the key nor the token', async () => {
    for (const secret of [K.live, tokens.valid]) {
      const res = await send(app.url + WHOAMI, { 'x-portkey-api-key': secret })
      expect(res.status).toBe(200)
      expect(res.text).not.toContain(secret)
      expect(JSON.stringify(res.headers)).not.toContain(secret)
      expect(res.text).not.toContain(secret.split('.').at(-1)!)
    }
  })
})
