import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync } from 'node:fs'
import { afterAll, describe, expect, test, vi } from 'vitest'

// examples/hono.js and examples/web-handler.js as a user runs them (`node examples/<name>.js`, importing the
// built package), on a free port, against the local control-plane stand-in they start themselves.
const running: ChildProcess[] = []

afterAll(async () => {
  for (const child of running) {
    if (child.exitCode !== null) continue
    child.kill('SIGTERM')
    await once(child, 'exit')
  }
})

/** Starts an example and resolves to its URL and everything it printed up to "Ctrl-C to stop.". */
async function start(example: string): Promise<{ url: string; output: string }> {
  // Another process may be rebuilding dist/ (rm -rf, then tsc): wait for the entry points to be back.
  await vi.waitFor(() => expect(existsSync('dist/hono/index.js') && existsSync('dist/web/index.js')).toBe(true), {
    timeout: 60_000,
    interval: 200,
  })
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: '0' }
  for (const name of ['PORTKEY_CONTROL_PLANE_URL', 'PORTKEY_CLIENT_AUTH', 'PORTKEY_JWKS_URL']) delete env[name]
  const child = spawn(process.execPath, [`examples/${example}.js`], { env, stdio: ['ignore', 'pipe', 'pipe'] })
  running.push(child)
  let errors = ''
  child.stderr!.on('data', (chunk) => void (errors += String(chunk)))
  let output = ''
  for await (const chunk of child.stdout!) {
    output += String(chunk)
    if (output.includes('Ctrl-C to stop.')) break
  }
  const url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output)?.[1]
  expect(url, `${output}\n${errors}`).toBeDefined()
  return { url: url!, output }
}

interface Answer {
  status: number
  body: Record<string, any>
}

async function call(
  url: string,
  key: string | undefined,
  init: { method?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<Answer> {
  const response = await fetch(url, {
    method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
    headers: { 'content-type': 'application/json', ...(key === undefined ? {} : { 'x-portkey-api-key': key }), ...init.headers },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  })
  return { status: response.status, body: (await response.json()) as Answer['body'] }
}

describe.each(['hono', 'web-handler'])('examples/%s.js', async (example) => {
  const { url, output } = await start(example)
  const chat = (key: string | undefined, headers: Record<string, string> = {}) =>
    call(`${url}/v1/chat/completions`, key, { body: { model: 'gpt-4o-mini', messages: [] }, headers })

  test('prints the demo keys and curl lines', () => {
    expect(output).toContain('pk-demo-workspace')
    expect(output).toMatch(/curl -s http:\/\/127\.0\.0\.1:\d+\/v1\/chat\/completions/)
  })

  test('a demo key gets an OpenAI-shaped completion showing its context; /health needs no key', async () => {
    const { status, body } = await chat('pk-demo-workspace')
    expect(status).toBe(200)
    expect(body).toMatchObject({ object: 'chat.completion', model: 'gpt-4o-mini' })
    expect(body.choices[0].message.content).toContain('ws_demo')
    expect(body.portkey).toMatchObject({ keyId: 'key_demo_workspace', workspaceId: 'ws_demo', virtualKey: null })
    expect(await call(`${url}/health`, undefined)).toEqual({ status: 200, body: { ok: true } })
  })

  test('a virtual key is resolved', async () => {
    const { status, body } = await chat('pk-demo-workspace', { 'x-portkey-virtual-key': 'openai-demo' })
    expect(status).toBe(200)
    expect(body.portkey.virtualKey).toEqual({ slug: 'openai-demo', provider: 'openai', status: 'active', rateLimits: [] })
  })

  test('the app’s own scope check: logs.read reads /v1/audit', async () => {
    expect(await call(`${url}/v1/audit`, 'pk-demo-readonly')).toMatchObject({
      status: 200,
      body: { object: 'list', workspaceId: 'ws_demo' },
    })
  })

  test.each([
    [undefined, 401, 'missing_api_key'],
    ['pk-nope', 401, 'invalid_api_key'],
    ['pk-demo-readonly', 403, 'insufficient_scope'],
    ['pk-demo-exhausted', 412, 'usage_limit_exceeded'],
    ['pk-demo-expired', 401, 'expired_api_key'],
  ])('%s is refused with %i %s', async (key, status, code) => {
    const response = await chat(key)
    expect(response.status).toBe(status)
    expect(response.body.error.code).toBe(code)
  })
})

describe('examples/web-handler.js: authenticate() in a fetch handler', async () => {
  const { url } = await start('web-handler')

  test('answers the context of any other path, or the rejection', async () => {
    expect(await call(`${url}/whoami`, 'pk-demo-workspace')).toMatchObject({
      status: 200,
      body: { keyId: 'key_demo_workspace', workspaceId: 'ws_demo', scopes: ['completions.write', 'logs.read'] },
    })
    expect(await call(`${url}/whoami`, 'pk-demo-exhausted')).toMatchObject({
      status: 412,
      body: { error: { code: 'usage_limit_exceeded' } },
    })
  })
})
