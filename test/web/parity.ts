import { Hono } from 'hono'
import { beforeAll, describe, expect, test } from 'vitest'
import type { MiddlewareOptions } from '../../src/adapters/middleware-options.js'
import { portkeyAuth as expressAuth } from '../../src/express/index.js'
import { portkeyAuth as honoAuth } from '../../src/hono/index.js'
import {
  type ControlPlaneStub,
  type ControlPlaneStubOptions,
  createTestIssuer,
  keyRecord,
  type TestIssuer,
  virtualKeyRecord,
} from '../../src/testing/index.js'
import { type WebAuthOptions, withPortkeyAuth } from '../../src/web/index.js'
import { startHono } from '../hono/server.js'
import { sendRaw } from '../support/raw-socket.js'
import {
  closeAfterTest,
  LIVE,
  OTHER,
  type RawResponse,
  type Running,
  seedKeys,
  startExpress,
  UNKNOWN,
  useStub,
} from '../support/servers.js'
import { startWeb } from './server.js'

// The same requests, byte for byte, to an Express app and to a Hono (or Web) app with the same options, each
// against its own stub seeded alike: every answer (status, body, the headers that carry meaning) and the
// control-plane calls made must be the same. Each app answers every path with { portkey } once admitted.

export type ParityFramework = 'hono' | 'web'

type Start = (options: MiddlewareOptions) => Promise<Running>

const STARTERS: Record<'express' | ParityFramework, Start> = {
  express: (options) =>
    startExpress((app) => {
      app.use(expressAuth(options))
      app.use((req, res) => void res.json({ portkey: req.portkey ?? null }))
    }),
  hono: (options) => startHono(new Hono().use(honoAuth(options)).all('*', (c) => c.json({ portkey: c.get('portkey') ?? null }))),
  web: (options) => startWeb(withPortkeyAuth((_request, { portkey }) => Response.json({ portkey }), options as WebAuthOptions)),
}

interface Call {
  target: string
  method?: string
  headers?: Record<string, string>
  /** Runs on the stub before this request is sent (e.g. to make it fail). */
  before?: (stub: ControlPlaneStub) => void
}

interface Scenario {
  name: string
  stub: () => ControlPlaneStubOptions
  options?: (stub: ControlPlaneStub) => MiddlewareOptions
  calls: () => Promise<Call[]> | Call[]
  /** Only for these frameworks (publicRoutes and hideCredentials are not the Web adapter's). */
  only?: ParityFramework[]
}

const WRITER = 'pk-writer-0123456789abcdef'
const READER = 'pk-reader-0123456789abcdef'
const ORG = 'pk-org-0123456789abcdef'

const scoped = () => ({
  [WRITER]: keyRecord({ id: 'key_writer', scopes: ['completions.write'] }),
  [READER]: keyRecord({ id: 'key_reader', scopes: ['logs.read'] }),
  [ORG]: keyRecord({
    id: 'key_org',
    type: 'organisation-service',
    workspace_id: null,
    scopes: ['completions.write', 'logs.read'],
  }),
})

const key = (value: string, extra: Record<string, string> = {}) => ({ 'x-portkey-api-key': value, ...extra })

let issuer: TestIssuer
let forger: TestIssuer

const CLAIMS = { portkey_oid: 'org_jwt', portkey_workspace: 'ws_test', scope: 'portkey.completions.write', sub: 'user_1' }
const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url')

const SCENARIOS: Scenario[] = [
  {
    name: 'API keys: every refusal and an admission',
    stub: () => ({ keys: seedKeys() }),
    calls: () => [
      { target: '/whoami' },
      ...[LIVE, UNKNOWN, 'pk-archived', 'pk-status-expired', 'pk-date-expired', 'pk-exhausted', LIVE].map((value) => ({
        target: '/whoami',
        headers: key(value),
      })),
      { target: '/whoami', headers: key('') },
      { target: '/whoami', headers: key('pk-live 0123456789') },
      { target: '/whoami', headers: key(`${LIVE},${OTHER}`) },
      { target: '/whoami', headers: key('k'.repeat(4097)) },
      { target: '/whoami', method: 'POST', headers: key(LIVE) },
      { target: '/whoami', method: 'HEAD', headers: key(UNKNOWN) },
      { target: '/whoami', headers: key(OTHER), before: (stub) => stub.fail('error') },
      { target: '/whoami', headers: key(LIVE) },
    ],
  },
  {
    name: 'virtual keys',
    stub: () => ({
      keys: {
        [LIVE]: keyRecord({ id: 'key_live', workspace_id: 'ws_test' }),
        [ORG]: keyRecord({ id: 'key_org', type: 'organisation-service', workspace_id: null }),
      },
      virtualKeys: {
        'openai-prod': virtualKeyRecord({ slug: 'openai-prod', ai_provider_name: 'azure-openai' }),
        'other-ws': virtualKeyRecord({ slug: 'other-ws', workspace_id: 'ws_other' }),
        'vk-exhausted': virtualKeyRecord({ slug: 'vk-exhausted', status: 'exhausted' }),
        'vk-archived': virtualKeyRecord({ slug: 'vk-archived', status: 'archived' }),
        'vk-past': virtualKeyRecord({ slug: 'vk-past', expires_at: new Date(Date.now() - 60_000).toISOString() }),
      },
    }),
    calls: () => [
      ...['openai-prod', 'other-ws', 'vk-exhausted', 'vk-archived', 'vk-past', 'nope', 'bad slug', ''].map((slug) => ({
        target: '/whoami',
        headers: key(LIVE, { 'x-portkey-virtual-key': slug }),
      })),
      { target: '/whoami', headers: key(LIVE, { 'x-portkey-provider': '@openai-prod' }) },
      { target: '/whoami', headers: key(LIVE, { 'x-portkey-provider': 'openai' }) },
      { target: '/whoami', headers: key(LIVE, { 'x-portkey-provider': '@other-ws', 'x-portkey-virtual-key': 'openai-prod' }) },
      { target: '/whoami', headers: key(ORG, { 'x-portkey-virtual-key': 'openai-prod' }) },
      { target: '/whoami', headers: key(LIVE, { 'x-portkey-virtual-key': 'nope' }), before: (stub) => stub.fail('error') },
    ],
  },
  {
    name: 'JWTs',
    stub: () => ({ jwks: issuer.jwks, virtualKeys: { 'openai-prod': virtualKeyRecord({ slug: 'openai-prod' }) } }),
    options: (stub) => ({ jwt: { jwksUrl: stub.jwksUrl, issuer: issuer.issuer, audience: issuer.audience } }),
    calls: async () => {
      const now = Math.floor(Date.now() / 1000)
      const tokens = [
        await issuer.sign({ ...CLAIMS, jti: 'tok_1', exp: now + 900 }),
        await forger.sign(CLAIMS),
        await issuer.sign({ ...CLAIMS, exp: now - 60 }),
        `${b64({ alg: 'none', kid: issuer.kid })}.${b64({ ...CLAIMS, exp: now + 600 })}.`,
        await issuer.sign({ ...CLAIMS, aud: 'someone-else' }),
      ]
      return [
        ...tokens.map((token) => ({ target: '/whoami', headers: key(token) })),
        { target: '/whoami', headers: key(tokens[0]!, { 'x-portkey-virtual-key': 'openai-prod' }) },
        {
          target: '/whoami',
          headers: key(await issuer.sign({ portkey_oid: 'org_jwt' }), { 'x-portkey-virtual-key': 'openai-prod' }),
        },
      ]
    },
  },
  {
    name: "scopes: 'portkey', over raw request targets",
    stub: () => ({ keys: scoped() }),
    options: () => ({ scopes: 'portkey' }),
    calls: () => [
      ...[WRITER, READER, ORG].flatMap((value) => [
        { target: '/v1/chat/completions', method: 'POST', headers: key(value) },
        { target: '/v1/logs', headers: key(value) },
        { target: '/v1/logs', method: 'HEAD', headers: key(value) },
      ]),
      ...[
        '/V1/Chat/Completions',
        '/v1//chat/completions',
        '/v1/chat/completions/',
        '/api/v1/chat/completions',
        '/v1/chat/completions?stream=true#x',
        '/v1/chat/completions#x?y',
        'http://a/v1/chat/completions',
        '/v1/chat/completions?next=/../x%2f%2e',
        '/v1/chat/%63ompletions',
        '/%76%31/chat/completions',
        '/v1/chat%2fcompletions',
        '/v1/chat%5Ccompletions',
        '/v1/chat/completions%7e',
        '/v1/chat/completions%',
        '/v1/chat/completions%g0',
        '/v1/files/report%20final.pdf',
        '/.well-known/openid-configuration',
        '/v1/a.b/..c/.d',
      ].flatMap((target) => [WRITER, READER].map((value) => ({ target, method: 'POST', headers: key(value) }))),
    ],
  },
  {
    name: 'a custom scope map',
    stub: () => ({ keys: scoped() }),
    options: () => ({
      scopes: { 'POST /whoami': 'completions.write', 'GET /admin/*': ['admin', 'logs.read'], '/v2/:id/x': 'x' },
    }),
    calls: () =>
      [WRITER, READER].flatMap((value) => [
        { target: '/whoami', method: 'POST', headers: key(value) },
        { target: '/whoami', headers: key(value) },
        { target: '/admin/users', headers: key(value) },
        { target: '/v2/a%20b/x', method: 'PUT', headers: key(value) },
      ]),
  },
  {
    name: 'publicRoutes',
    only: ['hono'],
    stub: () => ({ keys: seedKeys() }),
    options: () => ({ publicRoutes: ['GET /health', '/docs/*'] }),
    calls: () => [
      ...[
        '/health',
        '/health?probe=1',
        '/HEALTH',
        '/health/',
        '//health',
        '/healthz',
        '/docs/',
        '/docs/a/b',
        '/docs',
        '/docs/%61',
        '/docs/a%252e',
        '/docs/%2e%2e/secret',
      ].map((target) => ({ target })),
      { target: '/health', method: 'HEAD' },
      { target: '/health', method: 'POST' },
      { target: '/health', headers: key(UNKNOWN) },
      { target: '/private', headers: key(LIVE) },
    ],
  },
]

/** What must be the same: status, the JSON (or text) body, and the headers that mean something. */
function essentials(res: RawResponse) {
  const type = res.headers['content-type']?.split(';')[0] ?? null
  return {
    status: res.status,
    type,
    body: type === 'application/json' && res.text !== '' ? res.json() : res.text,
    wwwAuthenticate: res.headers['www-authenticate'] ?? null,
    retryAfter: res.headers['retry-after'] ?? null,
  }
}

/** Registers, for `framework`, the comparison of its answers with Express's. */
export function describeExpressParity(framework: ParityFramework): void {
  describe(`${framework}: the same answers as Express`, () => {
    beforeAll(async () => {
      ;[issuer, forger] = await Promise.all([createTestIssuer('parity-key'), createTestIssuer('parity-key')])
    })

    const scenarios = SCENARIOS.filter((scenario) => scenario.only === undefined || scenario.only.includes(framework))
    test.each(scenarios)('$name', async (scenario) => {
      const sides = await Promise.all(
        (['express', framework] as const).map(async (name) => {
          const stub = await useStub(scenario.stub())
          const app = closeAfterTest(await STARTERS[name]({ controlPlaneUrl: stub.url, ...scenario.options?.(stub) }))
          return { name, stub, app }
        }),
      )
      const calls = await scenario.calls()
      for (const call of calls) {
        const [expected, actual] = await Promise.all(
          sides.map(async ({ stub, app }) => {
            call.before?.(stub)
            return essentials(await sendRaw(app.url, call.target, { method: call.method ?? 'GET', headers: call.headers ?? {} }))
          }),
        )
        expect(actual, `${call.method ?? 'GET'} ${call.target}`).toStrictEqual(expected)
      }
      const [expressStub, stub] = sides.map((side) => side.stub.log.map((entry) => entry.path))
      expect(stub).toEqual(expressStub)
    })
  })
}
