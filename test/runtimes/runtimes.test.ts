import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import type { AuthErrorBody } from '../../src/errors.js'
import {
  type ControlPlaneStub,
  createTestIssuer,
  JWKS_PATH,
  KEY_DETAILS_PATH,
  keyRecord,
  startControlPlaneStub,
  type TestIssuer,
} from '../../src/testing/index.js'
import { type Bundle, bundleWorker } from './bundle.js'
import { type Running, type Settings, startBun, startDeno, startEdgeRuntime, startWorkerd } from './runtimes.js'

// Issue 23: portkey-auth/web and portkey-auth/hono in the real edge runtimes. Each fixture Worker
// (fixtures/web-worker.js, fixtures/hono-worker.js), bundled from the built package as wrangler or Next.js
// bundles it, runs on workerd (Miniflare) with and without nodejs_compat, Vercel's edge-runtime, Deno and Bun,
// against the control-plane stub in this process. Run by .ci/run (test/runtimes/vitest.config.ts), not `npm test`.

const LIVE = 'pk-rt-live-0123456789abcdef'
const CACHED = 'pk-rt-cached-0123456789abcdef'
const LIMITED = 'pk-rt-limited-0123456789abcdef'
const UNKNOWN = 'pk-rt-unknown-0123456789abcdef'
const PATH = '/v1/whoami'

type Start = (bundles: { workers: Bundle; edge: Bundle }, settings: Settings) => Promise<Running>
const RUNTIMES: [string, Start][] = [
  ['workerd (Miniflare), nodejs_compat', ({ workers }, s) => startWorkerd(workers.code, s, { nodejsCompat: true })],
  ['workerd (Miniflare), no nodejs_compat', ({ workers }, s) => startWorkerd(workers.code, s, { nodejsCompat: false })],
  ['edge-runtime (Vercel Edge)', ({ edge }, s) => startEdgeRuntime(edge.code, s)],
  ['Deno', ({ workers }, s) => startDeno(workers.code, s)],
  ['Bun', ({ workers }, s) => startBun(workers.code, s)],
]
const ENTRIES = [
  ['portkey-auth/web', 'web-worker.js'],
  ['portkey-auth/hono', 'hono-worker.js'],
] as const

let issuer: TestIssuer
let forger: TestIssuer
const bundles = new Map<string, { workers: Bundle; edge: Bundle }>()

beforeAll(async () => {
  issuer = await createTestIssuer('rt-key')
  // Another key pair under the same kid, iss and aud: its tokens must be refused.
  forger = await createTestIssuer('rt-key')
  for (const [, fixture] of ENTRIES) {
    // node:* imports left in, as wrangler leaves them: the runtime says whether it has them.
    const [workers, edge] = await Promise.all([
      bundleWorker(fixture, { keepNodeImports: true }),
      bundleWorker(fixture, { flavour: 'edge-light', keepNodeImports: true }),
    ])
    bundles.set(fixture, { workers, edge })
  }
})

describe.each(ENTRIES)('%s', (_entry, fixture) => {
  describe.each(RUNTIMES)('on %s', (_runtime, start) => {
    let stub: ControlPlaneStub
    let running: Running | undefined
    // A runtime that refuses the Worker fails each case with its message (rather than skipping them).
    let refused: unknown

    beforeAll(async () => {
      stub = await startControlPlaneStub({
        jwks: issuer.jwks,
        keys: {
          [LIVE]: keyRecord({ id: 'key_rt_live', workspace_id: 'ws_rt' }),
          [CACHED]: keyRecord({ id: 'key_rt_cached', workspace_id: 'ws_rt' }),
          // One request a day: the second is refused 429 until the day ends.
          [LIMITED]: keyRecord({ id: 'key_rt_limited', rate_limits: [{ type: 'requests', unit: 'rpd', value: 1 }] }),
        },
      })
      const settings: Settings = {
        PORTKEY_CONTROL_PLANE_URL: stub.url,
        PORTKEY_JWKS_URL: stub.jwksUrl,
        PORTKEY_JWT_ISSUER: issuer.issuer,
        PORTKEY_JWT_AUDIENCE: issuer.audience,
      }
      try {
        running = await start(bundles.get(fixture)!, settings)
      } catch (error) {
        refused = error
      }
    }, 60_000)
    afterAll(async () => {
      await running?.close()
      await stub?.close()
    })

    /** The Worker's answer, its body read; a 500 shows the runtime's error in the failure. */
    async function send(headers: Record<string, string> = {}) {
      if (running === undefined) throw refused
      const res = await running.fetch(PATH, headers)
      const text = await res.text()
      let body: any
      try {
        body = JSON.parse(text)
      } catch {
        body = text
      }
      return { status: res.status, headers: res.headers, body, text }
    }
    const lookUps = (key: string) =>
      stub.log.filter((call) => call.path === KEY_DETAILS_PATH && call.headers['x-portkey-api-key'] === key).length
    const expectRejection = (res: Awaited<ReturnType<typeof send>>, status: number, code: string) => {
      expect({ status: res.status, body: res.text.slice(0, 2000) }).toMatchObject({ status })
      expect(res.headers.get('content-type')).toMatch(/^application\/json/)
      const body = res.body as AuthErrorBody
      expect(body).toEqual({ status: 'failure', message: expect.any(String), error: expect.objectContaining({ code }) })
    }

    test('a valid key is admitted: 200, and the handler sees its context', async () => {
      const res = await send({ 'x-portkey-api-key': LIVE })
      expect({ status: res.status, body: res.body }).toEqual({
        status: 200,
        body: { keyId: 'key_rt_live', method: 'api_key', workspaceId: 'ws_rt' },
      })
      expect(lookUps(LIVE)).toBe(1)
    })

    test('an unknown key is refused: 401 with the JSON error body', async () => {
      const res = await send({ 'x-portkey-api-key': UNKNOWN })
      expectRejection(res, 401, 'invalid_api_key')
      expect(res.headers.get('www-authenticate')).toMatch(/^Portkey realm="portkey"/)
      expect(lookUps(UNKNOWN)).toBe(1)
    })

    test('a missing key is refused: 401, with no look-up', async () => {
      const before = stub.calls()
      const res = await send()
      expectRejection(res, 401, 'missing_api_key')
      expect(stub.calls()).toBe(before)
    })

    test('a cached key is served with no second look-up', async () => {
      for (let i = 0; i < 3; i++) {
        const res = await send({ 'x-portkey-api-key': CACHED })
        expect({ status: res.status, body: res.body }).toMatchObject({ status: 200, body: { keyId: 'key_rt_cached' } })
      }
      expect(lookUps(CACHED)).toBe(1)
    })

    test("a JWT is verified against the stub's JWKS; a forged one is refused", async () => {
      const claims = { portkey_oid: 'org_rt', portkey_workspace: 'ws_rt_jwt', scope: 'portkey.completions.write', sub: 'u1' }
      const res = await send({ 'x-portkey-api-key': await issuer.sign(claims) })
      expect({ status: res.status, body: res.body }).toMatchObject({
        status: 200,
        body: { method: 'jwt', workspaceId: 'ws_rt_jwt' },
      })
      expect(stub.calls(JWKS_PATH)).toBeGreaterThanOrEqual(1)
      const forged = await send({ 'x-portkey-api-key': await forger.sign(claims) })
      expect(forged.status).toBe(401)
      expect((forged.body as AuthErrorBody).status).toBe('failure')
    })

    test("a key's rate limit answers 429 with Retry-After", async () => {
      const first = await send({ 'x-portkey-api-key': LIMITED })
      expect({ status: first.status, body: first.body }).toMatchObject({ status: 200, body: { keyId: 'key_rt_limited' } })
      const second = await send({ 'x-portkey-api-key': LIMITED })
      expectRejection(second, 429, 'rate_limit_exceeded')
      expect(second.headers.get('retry-after')).toMatch(/^[1-9]\d*$/)
      expect(lookUps(LIMITED)).toBe(1)
    })
  })
})

// The Workers quick starts of docs/runtimes.md, run as written: the bindings passed as options (with and without
// nodejs_compat), and, with nodejs_compat, no options at all (process.env filled from the bindings).
describe.each([
  ['the quick start (options from env)', 'readme-worker.js', true],
  ['the quick start (options from env)', 'readme-worker.js', false],
  ['no options, process.env', 'readme-worker-env.js', true],
] as const)('docs/runtimes.md, Workers: %s, nodejs_compat %s', (_name, fixture, nodejsCompat) => {
  let stub: ControlPlaneStub
  let running: Running

  beforeAll(async () => {
    stub = await startControlPlaneStub({ keys: { [LIVE]: keyRecord({ id: 'key_rt_live', workspace_id: 'ws_readme' }) } })
    const { code } = await bundleWorker(fixture, { keepNodeImports: true })
    running = await startWorkerd(code, { PORTKEY_CONTROL_PLANE_URL: stub.url }, { nodejsCompat })
  }, 60_000)
  afterAll(async () => {
    await running?.close()
    await stub?.close()
  })

  test('admits a key the control plane knows, once looked up, and refuses one it does not', async () => {
    for (let i = 0; i < 2; i++) {
      const res = await running.fetch(PATH, { 'x-portkey-api-key': LIVE })
      expect({ status: res.status, body: await res.json() }).toEqual({ status: 200, body: { workspace: 'ws_readme' } })
    }
    const unknown = await running.fetch(PATH, { 'x-portkey-api-key': UNKNOWN })
    expect(unknown.status).toBe(401)
    expect(stub.calls(KEY_DETAILS_PATH)).toBe(2)
  })
})
