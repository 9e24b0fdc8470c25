import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { afterAll, describe, expect, test } from 'vitest'

// Each example as a user runs it (`node examples/<name>.js`, importing the built package), on a free port.
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
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: '0' }
  for (const name of ['PORTKEY_CONTROL_PLANE_URL', 'PORTKEY_CLIENT_AUTH', 'PORTKEY_JWKS_URL', 'UPSTREAM_URL']) delete env[name]
  const child = spawn(process.execPath, [`examples/${example}.js`], { env, stdio: ['ignore', 'pipe', 'inherit'] })
  running.push(child)
  let output = ''
  for await (const chunk of child.stdout!) {
    output += String(chunk)
    if (output.includes('Ctrl-C to stop.')) break
  }
  const url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output)?.[1]
  expect(url, output).toBeDefined()
  return { url: url!, output }
}

interface Answer {
  status: number
  // The examples answer several shapes; the assertions say which fields matter.
  body: Record<string, any>
}

async function call(url: string, headers: Record<string, string>, init: { body?: unknown } = {}): Promise<Answer> {
  const response = await fetch(url, {
    method: init.body === undefined ? 'GET' : 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  })
  return { status: response.status, body: (await response.json()) as Answer['body'] }
}

describe('examples/express-backend.js (npm start)', async () => {
  const { url, output } = await start('express-backend')
  const chat = (headers: Record<string, string>) =>
    call(`${url}/v1/chat/completions`, headers, { body: { model: 'gpt-4o-mini', messages: [] } })

  test('prints the demo keys and a curl line', () => {
    expect(output).toContain('pk-demo-workspace')
    expect(output).toMatch(/curl -s http:\/\/127\.0\.0\.1:\d+\/v1\/chat\/completions/)
  })

  test('a demo key gets an OpenAI-shaped completion showing its context', async () => {
    const { status, body } = await chat({ 'x-portkey-api-key': 'pk-demo-workspace' })
    expect(status).toBe(200)
    expect(body.object).toBe('chat.completion')
    expect(body.choices[0].message.content).toContain('ws_demo')
    expect(body.portkey).toMatchObject({ keyId: 'key_demo_workspace', workspaceId: 'ws_demo', virtualKey: null })
  })

  test('a virtual key is resolved', async () => {
    const { status, body } = await chat({ 'x-portkey-api-key': 'pk-demo-workspace', 'x-portkey-virtual-key': 'openai-demo' })
    expect(status).toBe(200)
    expect(body.portkey.virtualKey).toEqual({ slug: 'openai-demo', provider: 'openai', status: 'active', rateLimits: [] })
  })

  test.each([
    ['pk-nope', 401, 'invalid_api_key'],
    ['pk-demo-readonly', 403, 'insufficient_scope'],
    ['pk-demo-exhausted', 412, 'usage_limit_exceeded'],
    ['pk-demo-expired', 401, 'expired_api_key'],
  ])('%s is refused with %i %s', async (key, status, code) => {
    const response = await chat({ 'x-portkey-api-key': key })
    expect(response.status).toBe(status)
    expect(response.body.error.code).toBe(code)
  })
})

describe('examples/koa-backend.js', async () => {
  const { url } = await start('koa-backend')

  test('admits a key, guards /v1/logs by scope, refuses an exhausted key', async () => {
    expect(await call(`${url}/whoami`, { 'x-portkey-api-key': 'pk-demo-workspace' })).toMatchObject({
      status: 200,
      body: { keyId: 'key_demo_workspace', workspaceId: 'ws_demo' },
    })
    expect(await call(`${url}/v1/logs`, { 'x-portkey-api-key': 'pk-demo-readonly' })).toMatchObject({
      status: 200,
      body: { object: 'list' },
    })
    expect(await call(`${url}/whoami`, { 'x-portkey-api-key': 'pk-demo-exhausted' })).toMatchObject({
      status: 412,
      body: { error: { code: 'usage_limit_exceeded' } },
    })
  })
})

describe('examples/express-gateway.js', async () => {
  const { url } = await start('express-gateway')

  test('forwards /v1/* upstream without the Portkey key, with the provider key', async () => {
    const { status, body } = await call(
      `${url}/v1/chat/completions`,
      {
        'x-portkey-api-key': 'pk-demo-workspace',
        authorization: 'Bearer sk-provider-key',
        // None of these is the gateway's to pass on: a spoofed client address, a caller-chosen config, a cookie.
        'x-forwarded-for': '10.0.0.1',
        'x-portkey-config': 'pc-attacker',
        cookie: 'session=1',
      },
      { body: { model: 'm' } },
    )
    expect(status).toBe(200)
    expect(body).toMatchObject({ upstream: 'echo', method: 'POST', url: '/v1/chat/completions', body: '{"model":"m"}' })
    expect(body.headers['x-portkey-api-key']).toBeUndefined()
    expect(JSON.stringify(body)).not.toContain('pk-demo-workspace')
    expect(body.headers.authorization).toBe('Bearer sk-provider-key')
    expect(body.headers['x-portkey-workspace-id']).toBe('ws_demo')
    for (const name of ['x-forwarded-for', 'x-portkey-config', 'cookie']) expect(body.headers[name]).toBeUndefined()
  })

  test('a request without a valid key never reaches the upstream', async () => {
    const { status, body } = await call(`${url}/v1/chat/completions`, { 'x-portkey-api-key': 'pk-nope' }, { body: {} })
    expect(status).toBe(401)
    expect(body.upstream).toBeUndefined()
    expect(body.error.code).toBe('invalid_api_key')
  })
})

describe('examples/jwt.js', async () => {
  const { url, output } = await start('jwt')
  const token = /x-portkey-api-key: (eyJ[\w-]+\.[\w-]+\.[\w-]+)/.exec(output)?.[1]

  test('the printed token is verified locally; an API key still works beside it', async () => {
    expect(token).toBeDefined()
    expect(await call(`${url}/whoami`, { 'x-portkey-api-key': token! })).toMatchObject({
      status: 200,
      body: {
        method: 'jwt',
        organisationId: 'org_demo',
        workspaceId: 'ws_demo',
        userId: 'demo@example.com',
        scopes: ['completions.write'],
      },
    })
    expect(await call(`${url}/whoami`, { 'x-portkey-api-key': 'pk-demo-workspace' })).toMatchObject({
      status: 200,
      body: { method: 'api_key' },
    })
  })

  test('a tampered token is refused with 401 invalid_token', async () => {
    const response = await call(`${url}/whoami`, { 'x-portkey-api-key': `${token!.slice(0, -6)}AAAAAA` })
    expect(response).toMatchObject({ status: 401, body: { error: { code: 'invalid_token' } } })
  })
})

describe('examples/prometheus.js', async () => {
  const { url, output } = await start('prometheus')

  test('/metrics, scraped, counts the decisions by outcome and cache, and the look-ups; it holds no key', async () => {
    expect(output).toContain('/metrics')
    for (const key of ['pk-demo-workspace', 'pk-demo-workspace', 'pk-nope'])
      await call(`${url}/v1/whoami`, { 'x-portkey-api-key': key })
    const response = await fetch(`${url}/metrics`)
    expect(response.status).toBe(200)
    const text = await response.text()
    const series = (name: string, labels: string) =>
      text.split('\n').find((line) => line.startsWith(`${name}{`) && labels.split(',').every((label) => line.includes(label)))
    expect(text).toContain('# TYPE portkey_auth_decisions_total counter')
    expect(series('portkey_auth_decisions_total', 'portkey_auth_outcome="admitted",portkey_auth_cache="miss"')).toMatch(/ 1$/)
    expect(series('portkey_auth_decisions_total', 'portkey_auth_outcome="admitted",portkey_auth_cache="hit"')).toMatch(/ 1$/)
    expect(series('portkey_auth_decisions_total', 'error_type="invalid_api_key"')).toMatch(/ 1$/)
    expect(series('portkey_auth_lookup_duration_count', 'portkey_auth_lookup_result="found"')).toMatch(/ 1$/)
    expect(series('portkey_auth_breaker_status', 'portkey_auth_breaker_state="closed"')).toMatch(/ 1$/)
    expect(text).not.toContain('pk-demo')
    expect(text).not.toContain('pk-nope')
  })
})
