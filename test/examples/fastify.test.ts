import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { afterAll, describe, expect, test } from 'vitest'

// examples/fastify.js as a user runs it (`node examples/fastify.js`, importing the built package), on a free port.
let child: ChildProcess | undefined

afterAll(async () => {
  if (child === undefined || child.exitCode !== null) return
  child.kill('SIGTERM')
  await once(child, 'exit')
})

/** Starts the example and resolves to its URL and everything it printed up to "Ctrl-C to stop.". */
async function start(): Promise<{ url: string; output: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: '0' }
  for (const name of ['PORTKEY_CONTROL_PLANE_URL', 'PORTKEY_CLIENT_AUTH', 'PORTKEY_JWKS_URL']) delete env[name]
  child = spawn(process.execPath, ['examples/fastify.js'], { env, stdio: ['ignore', 'pipe', 'inherit'] })
  let output = ''
  for await (const chunk of child.stdout!) {
    output += String(chunk)
    if (output.includes('Ctrl-C to stop.')) break
  }
  const url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output)?.[1]
  expect(url, output).toBeDefined()
  return { url: url!, output }
}

async function call(url: string, headers: Record<string, string> = {}, body?: unknown) {
  const response = await fetch(url, {
    method: body === undefined ? 'GET' : 'POST',
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  // The example answers several shapes; the assertions say which fields matter.
  return { status: response.status, body: (await response.json()) as Record<string, any> }
}

describe('examples/fastify.js', async () => {
  const { url, output } = await start()

  test('prints the demo keys and curl lines', () => {
    expect(output).toContain('pk-demo-workspace')
    expect(output).toMatch(/curl -s http:\/\/127\.0\.0\.1:\d+\/v1\/chat\/completions/)
  })

  test('a demo key is admitted, with its context and a virtual key', async () => {
    const chat = await call(`${url}/v1/chat/completions`, { 'x-portkey-api-key': 'pk-demo-workspace' }, { model: 'm' })
    expect(chat.status).toBe(200)
    expect(chat.body.choices[0].message.content).toContain('ws_demo')
    expect(chat.body.portkey).toMatchObject({ keyId: 'key_demo_workspace', workspaceId: 'ws_demo' })
    const whoami = await call(`${url}/v1/whoami`, {
      'x-portkey-api-key': 'pk-demo-workspace',
      'x-portkey-virtual-key': 'openai-demo',
    })
    expect(whoami.body).toMatchObject({ keyId: 'key_demo_workspace', virtualKey: { slug: 'openai-demo' } })
  })

  test('a missing key is 401 on /v1, and /health outside the plugin stays open', async () => {
    const missing = await call(`${url}/v1/whoami`)
    expect(missing.status).toBe(401)
    expect(missing.body.error.code).toBe('missing_api_key')
    expect(await call(`${url}/health`)).toEqual({ status: 200, body: { ok: true } })
  })

  test('scopes: the read-only key may read reports but not call completions', async () => {
    expect((await call(`${url}/v1/reports`, { 'x-portkey-api-key': 'pk-demo-readonly' })).status).toBe(200)
    const refused = await call(`${url}/v1/chat/completions`, { 'x-portkey-api-key': 'pk-demo-readonly' }, {})
    expect([refused.status, refused.body.error.code]).toEqual([403, 'insufficient_scope'])
  })
})
