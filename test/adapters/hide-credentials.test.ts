import { request } from 'node:http'
import { describe, expect, test } from 'vitest'
import type { Decision } from '../../src/types.js'
import type { MiddlewareOptions } from '../../src/adapters/middleware-options.js'
import { createVerifier } from '../../src/verifier/create-verifier.js'
import { type ControlPlaneStub, KEY_DETAILS_PATH, keyRecord } from '../../src/testing/index.js'
import { ADAPTERS, type AdapterName, capabilities } from '../support/adapters.js'
import { type HeaderViews, useApp } from '../support/apps.js'
import { startRawServer } from '../support/core-helpers.js'
import { closeAfterTest, expectRejection, type RawResponse, send, useStub } from '../support/servers.js'

const KEY = 'pk-hide-live-0123456789abcdef'
const UNKNOWN = 'pk-hide-unknown-0123456789abcdef'

/** What a handler (or the upstream behind it) saw of a request's headers. */
interface Seen {
  headers: Record<string, unknown>
  rawHeaders: string[]
  /** The Web Request's headers, where the handler gets one (Hono, the Web adapter). */
  web?: Record<string, string>
}
const seenOf = (views: HeaderViews): Seen =>
  JSON.parse(JSON.stringify({ headers: views.headers, rawHeaders: views.raw ?? [], web: views.web })) as Seen

/** How the app forwards a request upstream: its parsed headers, or its raw header lines (names as sent). */
type Forward = 'headers' | 'rawHeaders'

function forwardedHeaders(seen: Seen, how: Forward): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {}
  if (how === 'headers') {
    for (const [name, value] of Object.entries(seen.headers)) if (value !== undefined) out[name] = value as string | string[]
  } else {
    for (let i = 0; i < seen.rawHeaders.length; i += 2) out[seen.rawHeaders[i]!] = seen.rawHeaders[i + 1]!
  }
  for (const name of Object.keys(out)) if (/^(host|connection|content-length)$/i.test(name)) delete out[name]
  return out
}

/** Sends the request on to `upstream` the way a proxying route would, and resolves to what the upstream saw. */
function proxy(upstream: string, seen: Seen, how: Forward): Promise<Seen> {
  return new Promise((resolve, reject) => {
    const out = request(upstream, { headers: forwardedHeaders(seen, how), agent: false }, (res) => {
      let text = ''
      res.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')))
      res.on('end', () => resolve(JSON.parse(text) as Seen))
    })
    out.on('error', reject)
    out.end()
  })
}

/** An upstream that answers with the headers it received. */
async function useUpstream() {
  return closeAfterTest(
    await startRawServer((req, res) =>
      res.setHeader('content-type', 'application/json').end(JSON.stringify({ headers: req.headers, rawHeaders: req.rawHeaders })),
    ),
  )
}

/**
 * An app with `portkeyAuth(options)` in front of `/proxy`, whose handler records what it sees and forwards the
 * request to an upstream. Its onError records what a rejected request still holds.
 */
async function useProxyApp(framework: AdapterName, options: MiddlewareOptions, how: Forward = 'headers') {
  const upstream = await useUpstream()
  const handler: Seen[] = []
  const atUpstream: Seen[] = []
  const rejected: Seen[] = []
  const app = await useApp(framework, {
    auth: options,
    onError: {
      via: 'option',
      answer: (error, seen) => {
        rejected.push(seenOf(seen.views()))
        const { status, headers, message, type, code } = error
        return {
          status,
          headers: headers as Record<string, string>,
          body: { status: 'failure', message, error: { message, type, code } },
        }
      },
    },
    routes: [
      {
        method: 'GET',
        path: '/proxy',
        answer: async (seen) => {
          const views = seenOf(seen.views())
          handler.push(views)
          atUpstream.push(await proxy(upstream.url, views, how))
          return { ok: true }
        },
      },
    ],
  })
  return { app, handler, atUpstream, rejected }
}

const mentions = (seen: Seen, secret: string) =>
  JSON.stringify(seen).includes(secret) ||
  seen.rawHeaders.some((value, i) => i % 2 === 0 && value.toLowerCase() === 'x-portkey-api-key')

const stubWithKey = (): Promise<ControlPlaneStub> => useStub({ keys: { [KEY]: keyRecord({ id: 'key_hide' }) } })

/** The request a client sends: the credential under a mixed-case name, plus headers that must pass through. */
const clientHeaders = (key: string, name = 'X-Portkey-Api-Key') => ({
  [name]: key,
  authorization: 'Bearer sk-provider-key',
  'x-trace': 'trace-1',
})

describe.each(ADAPTERS.filter((adapter) => !capabilities(adapter).hideCredentials))('%s: hideCredentials', (framework) => {
  // A Web Request's headers may be immutable (Deno, Workers): the app forwards a request built without the key.
  test('true is refused when the guard is made, with a TypeError saying what to do instead', async () => {
    const stub = await stubWithKey()
    await expect(useProxyApp(framework, { controlPlaneUrl: stub.url, hideCredentials: true })).rejects.toThrow(
      /hideCredentials is not supported: .* build the headers of a forwarded request without x-portkey-api-key/,
    )
  })

  test('by default the handler does see it', async () => {
    const stub = await stubWithKey()
    const { app, handler, atUpstream } = await useProxyApp(framework, { controlPlaneUrl: stub.url })
    expect((await send(`${app.url}/proxy`, clientHeaders(KEY))).status).toBe(200)
    expect(handler[0]?.headers['x-portkey-api-key']).toBe(KEY)
    expect(atUpstream[0]?.headers['x-portkey-api-key']).toBe(KEY)
  })
})

describe.each(ADAPTERS.filter((adapter) => capabilities(adapter).hideCredentials))('%s: hideCredentials', (framework) => {
  test.each<[Forward, string]>([
    ['headers', 'X-Portkey-Api-Key'],
    ['headers', 'x-portkey-api-key'],
    ['rawHeaders', 'X-PORTKEY-API-KEY'],
  ])('true: neither the handler nor an upstream it forwards %s to sees the credential (sent as %s)', async (how, name) => {
    const stub = await stubWithKey()
    const { app, handler, atUpstream } = await useProxyApp(framework, { controlPlaneUrl: stub.url, hideCredentials: true }, how)
    for (let i = 0; i < 3; i++) {
      const res = await send(`${app.url}/proxy`, clientHeaders(KEY, name))
      expect(res.status).toBe(200)
    }
    expect(handler).toHaveLength(3)
    expect(atUpstream).toHaveLength(3)
    for (const seen of [...handler, ...atUpstream]) {
      expect(seen.headers['x-portkey-api-key']).toBeUndefined()
      expect(mentions(seen, KEY)).toBe(false)
      // Only the credential goes: the other headers pass through, name and value.
      expect(seen.headers).toMatchObject({ authorization: 'Bearer sk-provider-key', 'x-trace': 'trace-1' })
    }
    // Requests 2 and 3 came from the cache: hiding happens on the cached path too.
    expect(stub.calls(KEY_DETAILS_PATH)).toBe(1)
  })

  test.each<[string, MiddlewareOptions | undefined]>([
    ['by default', undefined],
    ['with hideCredentials: false', { hideCredentials: false }],
  ])('%s the handler and the upstream do see it', async (_name, extra) => {
    const stub = await stubWithKey()
    const { app, handler, atUpstream } = await useProxyApp(framework, { controlPlaneUrl: stub.url, ...extra })
    expect((await send(`${app.url}/proxy`, clientHeaders(KEY))).status).toBe(200)
    expect(handler[0]?.headers['x-portkey-api-key']).toBe(KEY)
    expect(handler[0]?.rawHeaders).toEqual(expect.arrayContaining(['X-Portkey-Api-Key', KEY]))
    if (handler[0]?.web) expect(handler[0].web['x-portkey-api-key']).toBe(KEY)
    expect(atUpstream[0]?.headers['x-portkey-api-key']).toBe(KEY)
  })

  test('with a shared verifier ({ verifier, hideCredentials: true }) it hides as well', async () => {
    const stub = await stubWithKey()
    const verifier = createVerifier({ controlPlaneUrl: stub.url })
    const { app, handler, atUpstream } = await useProxyApp(framework, { verifier, hideCredentials: true })
    expect((await send(`${app.url}/proxy`, clientHeaders(KEY))).status).toBe(200)
    expect(mentions(handler[0]!, KEY) || mentions(atUpstream[0]!, KEY)).toBe(false)
  })

  test.each<[string, Record<string, string | string[]>, number, string]>([
    ['an unknown key', clientHeaders(UNKNOWN), 401, 'invalid_api_key'],
    ['a malformed key', clientHeaders(`${UNKNOWN}\u00e9`), 401, 'invalid_api_key'],
    ['a repeated header', { 'x-portkey-api-key': [UNKNOWN, UNKNOWN] }, 400, 'invalid_request'],
  ])(
    'a rejected request (%s) never reaches the handler, and its onError sees no credential either',
    async (_name, headers, status, code) => {
      const stub = await stubWithKey()
      const { app, handler, rejected } = await useProxyApp(framework, { controlPlaneUrl: stub.url, hideCredentials: true })
      const res: RawResponse = await send(`${app.url}/proxy`, headers)
      expectRejection(res, status, code as never, [UNKNOWN])
      expect(handler).toHaveLength(0)
      expect(rejected).toHaveLength(1)
      expect(rejected[0]!.headers['x-portkey-api-key']).toBeUndefined()
      expect(mentions(rejected[0]!, UNKNOWN)).toBe(false)
    },
  )

  test('onDecision given to portkeyAuth hears every request over HTTP, without the key', async () => {
    const stub = await stubWithKey()
    const events: Decision[] = []
    const { app } = await useProxyApp(framework, {
      controlPlaneUrl: stub.url,
      hideCredentials: true,
      onDecision: (event) => events.push(event),
    })
    const sent = [KEY, KEY, UNKNOWN, `${KEY} spaced`]
    for (const key of sent) await send(`${app.url}/proxy`, { 'x-portkey-api-key': key })
    await send(`${app.url}/proxy`)
    expect(events.map(({ admitted, status, code, keyId, cache }) => ({ admitted, status, code, keyId, cache }))).toEqual([
      { admitted: true, status: 200, code: null, keyId: 'key_hide', cache: 'miss' },
      { admitted: true, status: 200, code: null, keyId: 'key_hide', cache: 'hit' },
      { admitted: false, status: 401, code: 'invalid_api_key', keyId: null, cache: 'miss' },
      { admitted: false, status: 401, code: 'invalid_api_key', keyId: null, cache: 'none' },
      { admitted: false, status: 401, code: 'missing_api_key', keyId: null, cache: 'none' },
    ])
    for (const event of events) {
      expect(event.durationMs).toBeGreaterThanOrEqual(0)
      for (const key of sent) expect(JSON.stringify(event)).not.toContain(key)
    }
  })
})
