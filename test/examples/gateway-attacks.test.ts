import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import type { IncomingMessage } from 'node:http'
import { afterAll, beforeEach, describe, expect, test } from 'vitest'
import { sendRaw } from '../support/raw-socket.js'
import { startRawServer } from '../support/core-helpers.js'
import { expectRejection, type RawResponse } from '../support/servers.js'

// examples/express-gateway.js must forward exactly the path it checked, to the upstream it was given and
// nowhere else. Targets are written raw on a socket: clients would resolve dot segments and strip the
// absolute form before sending them.

interface Arrival {
  method: string
  url: string
  host: string
  authorization: string | undefined
}

/** A server that records what reaches it and answers 200 with `name`. */
async function recorder(name: string) {
  const arrivals: Arrival[] = []
  const server = await startRawServer((req: IncomingMessage, res) => {
    arrivals.push({ method: req.method!, url: req.url!, host: req.headers.host ?? '', authorization: req.headers.authorization })
    req.resume().on('end', () => res.setHeader('content-type', 'application/json').end(JSON.stringify({ upstream: name })))
  })
  return { ...server, arrivals }
}

const upstream = await recorder('upstream')
const elsewhere = await recorder('elsewhere')
let gateway: ChildProcess | undefined

afterAll(async () => {
  if (gateway && gateway.exitCode === null) {
    gateway.kill('SIGTERM')
    await once(gateway, 'exit')
  }
  await upstream.close()
  await elsewhere.close()
})

/** Starts the example as a user runs it, with UPSTREAM_URL naming the recording upstream. */
async function startGateway(): Promise<string> {
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: '0', UPSTREAM_URL: upstream.url }
  for (const name of ['PORTKEY_CONTROL_PLANE_URL', 'PORTKEY_CLIENT_AUTH', 'PORTKEY_JWKS_URL']) delete env[name]
  gateway = spawn(process.execPath, ['examples/express-gateway.js'], { env, stdio: ['ignore', 'pipe', 'inherit'] })
  let output = ''
  for await (const chunk of gateway.stdout!) {
    output += String(chunk)
    if (output.includes('Ctrl-C to stop.')) break
  }
  const url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output)?.[1]
  expect(url, output).toBeDefined()
  return url!
}

const url = await startGateway()

beforeEach(() => {
  upstream.arrivals.length = 0
  elsewhere.arrivals.length = 0
})

/** pk-demo-workspace holds completions.write; pk-demo-readonly holds logs.read only. */
const post = (target: string, key: string): Promise<RawResponse> =>
  sendRaw(url, target, {
    method: 'POST',
    headers: { 'x-portkey-api-key': key, authorization: 'Bearer sk-provider-key', 'content-type': 'application/json' },
    body: '{"model":"m"}',
  })

describe('examples/express-gateway.js under attack', () => {
  test('baseline: a key with completions.write is forwarded; one without is refused 403', async () => {
    const forwarded = await post('/v1/chat/completions?stream=false', 'pk-demo-workspace')
    expect(forwarded.status).toBe(200)
    // The upstream's hop-by-hop headers stay between the gateway and the upstream: the client asked to close, and
    // an upstream's `connection: keep-alive` copied back would hold its socket open until the server's timeout.
    expect(forwarded.headers.connection).toBe('close')
    expect(forwarded.headers['keep-alive']).toBeUndefined()
    expectRejection(await post('/v1/chat/completions', 'pk-demo-readonly'), 403, 'insufficient_scope', ['pk-demo-readonly'])
    expect(upstream.arrivals.map(({ method, url }) => ({ method, url }))).toEqual([
      { method: 'POST', url: '/v1/chat/completions?stream=false' },
    ])
  })

  test.each([
    '/v1/x/../chat/completions',
    '/v1/x/%2e%2e/chat/completions',
    '/v1/x/%2E%2e/chat/completions',
    '/v1/./chat/completions',
    '/v1/x/..%2fchat/completions',
    '/v1/chat/%63ompletions',
  ])('POST %s: a key without completions.write never reaches upstream chat completions', async (target) => {
    const res = await post(target, 'pk-demo-readonly')
    expectRejection(res, 400, 'invalid_request', ['pk-demo-readonly'])
    expect(upstream.arrivals).toEqual([])
  })

  test('POST /v1//chat/completions (which many upstreams merge into one slash) needs completions.write too', async () => {
    expectRejection(await post('/v1//chat/completions', 'pk-demo-readonly'), 403, 'insufficient_scope', ['pk-demo-readonly'])
    expect(upstream.arrivals).toEqual([])
  })

  test('an absolute-form target naming another host is forwarded to the configured upstream only', async () => {
    const res = await post(`${elsewhere.url}/v1/chat/completions?stream=false#frag`, 'pk-demo-workspace')
    expect({ status: res.status, body: res.json() }).toEqual({ status: 200, body: { upstream: 'upstream' } })
    expect(elsewhere.arrivals).toEqual([])
    expect(upstream.arrivals).toEqual([
      {
        method: 'POST',
        url: '/v1/chat/completions?stream=false',
        host: new URL(upstream.url).host,
        authorization: 'Bearer sk-provider-key',
      },
    ])
  })

  test('the path goes upstream exactly as it was checked, fragment dropped, query kept byte for byte', async () => {
    for (const target of ['/v1/models/gpt-4o%20mini?a=%2e%2e&b=/../x', '/v1/chat/completions#/../../admin']) {
      expect((await post(target, 'pk-demo-workspace')).status).toBe(200)
    }
    expect(upstream.arrivals.map((arrival) => arrival.url)).toEqual([
      '/v1/models/gpt-4o%20mini?a=%2e%2e&b=/../x',
      '/v1/chat/completions',
    ])
  })
})
