import { connect } from 'node:net'
import { describe, expect, test } from 'vitest'
import type { AuthErrorCode } from '../../src/errors.js'
import type { IncomingHeaders } from '../../src/types.js'
import { createVerifier } from '../../src/verifier/create-verifier.js'
import { KEY_DETAILS_PATH, keyRecord, VIRTUAL_KEYS_PATH, virtualKeyRecord } from '../../src/testing/index.js'
import { expectAuthError } from '../support/core-helpers.js'
import { expectRejection, type RawResponse, type Running, useGuardedApp, useStub, WHOAMI } from '../support/servers.js'
import { ADAPTERS, type AdapterName } from '../support/adapters.js'

// Issue 11, item 8: Node joins a repeated `x-portkey-provider` into one comma-separated value, so
// `openai` + `@victim` reached the verifier as `openai, @victim` (no '@' in front: no virtual-key check),
// while code downstream (rawHeaders, headersDistinct, a proxy) may still read `@victim`.

const LIVE = 'pk-live-0123456789abcdef'

/** Header lines exactly as written on the wire, in order, repeated names included. */
type Lines = readonly (readonly [string, string])[]

/**
 * Writes one HTTP/1.1 request byte for byte on a fresh socket, so that repeated header lines reach the
 * server as the client wrote them, and reads the answer until the server closes the connection.
 */
function sendRaw(app: Running, lines: Lines): Promise<RawResponse> {
  const { hostname, port } = new URL(app.url)
  const head = [
    `GET ${WHOAMI} HTTP/1.1`,
    `Host: ${hostname}:${port}`,
    'Connection: close',
    ...lines.map(([name, value]) => `${name}: ${value}`),
  ]
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port) })
    const chunks: Buffer[] = []
    socket.on('data', (chunk: Buffer) => chunks.push(chunk))
    socket.on('error', reject)
    socket.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8')
      const split = raw.indexOf('\r\n\r\n')
      const [statusLine = '', ...headerLines] = raw.slice(0, split).split('\r\n')
      const headers: Record<string, string> = {}
      for (const line of headerLines) {
        const colon = line.indexOf(':')
        headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim()
      }
      let text = raw.slice(split + 4)
      // Every adapter answers these refusals with a content-length; a chunked answer would need decoding.
      if (headers['transfer-encoding'] === 'chunked') reject(new Error('chunked answer: not expected here'))
      if (headers['content-length'] !== undefined)
        text = Buffer.from(text).subarray(0, Number(headers['content-length'])).toString('utf8')
      resolve({ status: Number(statusLine.split(' ')[1]), headers, text, json: <T>() => JSON.parse(text) as T })
    })
    socket.write(`${head.join('\r\n')}\r\n\r\n`)
  })
}

const keys = () => ({ [LIVE]: keyRecord({ id: 'key_live', workspace_id: 'ws_test' }) })
// `victim` belongs to another workspace: naming it must never go unchecked.
const virtualKeys = () => ({
  victim: virtualKeyRecord({ slug: 'victim', ai_provider_name: 'anthropic', workspace_id: 'ws_victim' }),
  mine: virtualKeyRecord({ slug: 'mine', ai_provider_name: 'openai', workspace_id: 'ws_test' }),
})

const REPEATED: { name: string; lines: Lines }[] = [
  {
    name: "x-portkey-provider 'openai' then '@victim'",
    lines: [
      ['x-portkey-provider', 'openai'],
      ['x-portkey-provider', '@victim'],
    ],
  },
  {
    name: "x-portkey-provider '@victim' then 'openai'",
    lines: [
      ['x-portkey-provider', '@victim'],
      ['x-portkey-provider', 'openai'],
    ],
  },
  {
    name: "x-portkey-provider 'openai' twice",
    lines: [
      ['x-portkey-provider', 'openai'],
      ['X-Portkey-Provider', 'openai'],
    ],
  },
  {
    name: "an empty x-portkey-provider then '@victim'",
    lines: [
      ['x-portkey-provider', ''],
      ['x-portkey-provider', '@victim'],
    ],
  },
  { name: "one x-portkey-provider 'openai,@victim'", lines: [['x-portkey-provider', 'openai,@victim']] },
  { name: "one x-portkey-provider 'openai, @victim'", lines: [['x-portkey-provider', 'openai, @victim']] },
  {
    name: "x-portkey-virtual-key 'mine' then 'victim'",
    lines: [
      ['x-portkey-virtual-key', 'mine'],
      ['x-portkey-virtual-key', 'victim'],
    ],
  },
  { name: "one x-portkey-virtual-key 'mine,victim'", lines: [['x-portkey-virtual-key', 'mine,victim']] },
  {
    name: "x-portkey-virtual-key 'mine' beside x-portkey-provider 'openai' and '@victim'",
    lines: [
      ['x-portkey-virtual-key', 'mine'],
      ['x-portkey-provider', 'openai'],
      ['x-portkey-provider', '@victim'],
    ],
  },
]

describe.each(ADAPTERS)('%s: repeated virtual-key headers sent raw over a socket', (framework: AdapterName) => {
  async function setup() {
    const stub = await useStub({ keys: keys(), virtualKeys: virtualKeys() })
    const app = await useGuardedApp(framework, { controlPlaneUrl: stub.url })
    return { stub, app }
  }

  test('the raw client works: one header each gets through, and @victim alone is refused 403', async () => {
    const { app } = await setup()
    const ok = await sendRaw(app, [
      ['x-portkey-api-key', LIVE],
      ['x-portkey-provider', '@mine'],
    ])
    expect(ok.status).toBe(200)
    expect(ok.json()).toMatchObject({ portkey: { virtualKey: { slug: 'mine' } } })
    expectRejection(
      await sendRaw(app, [
        ['x-portkey-api-key', LIVE],
        ['x-portkey-provider', '@victim'],
      ]),
      403,
      'virtual_key_not_allowed',
      [LIVE],
    )
    expect(app.seen).toHaveLength(1)
  })

  test.each(REPEATED)('$name → 400 invalid_request, the handler is not reached', async ({ lines }) => {
    const { stub, app } = await setup()
    const res = await sendRaw(app, [['x-portkey-api-key', LIVE], ...lines])
    expectRejection(res, 400, 'invalid_request', [LIVE])
    expect(app.seen).toHaveLength(0)
    expect(stub.log.filter((call) => call.path.startsWith(VIRTUAL_KEYS_PATH))).toHaveLength(0)
  })

  test('refused the same way when the key is already cached', async () => {
    const { stub, app } = await setup()
    expect((await sendRaw(app, [['x-portkey-api-key', LIVE]])).status).toBe(200)
    const res = await sendRaw(app, [
      ['x-portkey-api-key', LIVE],
      ['x-portkey-provider', 'openai'],
      ['x-portkey-provider', '@victim'],
    ])
    expectRejection(res, 400, 'invalid_request', [LIVE])
    expect(app.seen).toHaveLength(1)
    expect(stub.calls(KEY_DETAILS_PATH)).toBe(1)
  })
})

describe('verifier.verify() with array-valued headers', () => {
  test.each<{ name: string; headers: IncomingHeaders; code: AuthErrorCode; status: number }>([
    {
      name: "x-portkey-provider ['openai', '@victim']",
      headers: { 'x-portkey-provider': ['openai', '@victim'] },
      code: 'invalid_request',
      status: 400,
    },
    {
      name: "x-portkey-provider ['@victim', 'openai']",
      headers: { 'x-portkey-provider': ['@victim', 'openai'] },
      code: 'invalid_request',
      status: 400,
    },
    {
      name: "x-portkey-provider ['openai']",
      headers: { 'x-portkey-provider': ['openai'] },
      code: 'invalid_request',
      status: 400,
    },
    { name: 'x-portkey-provider []', headers: { 'x-portkey-provider': [] }, code: 'invalid_request', status: 400 },
    {
      name: "x-portkey-provider 'openai, @victim'",
      headers: { 'x-portkey-provider': 'openai, @victim' },
      code: 'invalid_request',
      status: 400,
    },
    {
      name: "x-portkey-virtual-key ['mine', 'victim']",
      headers: { 'x-portkey-virtual-key': ['mine', 'victim'] },
      code: 'invalid_request',
      status: 400,
    },
    {
      name: "x-portkey-virtual-key 'mine, victim'",
      headers: { 'x-portkey-virtual-key': 'mine, victim' },
      code: 'invalid_request',
      status: 400,
    },
  ])('$name → $status $code, no look-up of any virtual key', async ({ headers, code, status }) => {
    const stub = await useStub({ keys: keys(), virtualKeys: virtualKeys() })
    const verifier = createVerifier({ controlPlaneUrl: stub.url })
    await expectAuthError(() => verifier.verify({ 'x-portkey-api-key': LIVE, ...headers }), code, status)
    expect(stub.log.filter((call) => call.path.startsWith(VIRTUAL_KEYS_PATH))).toHaveLength(0)
    // The same headers with a single plain provider are admitted, so the refusal above is the repetition's.
    await expect(verifier.verify({ 'x-portkey-api-key': LIVE, 'x-portkey-provider': 'openai' })).resolves.toMatchObject({
      virtualKey: null,
    })
  })
})
