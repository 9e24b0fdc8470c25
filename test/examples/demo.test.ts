import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'

// The demo imports the built package (dist/), which `npm test` builds first.
let demo: ChildProcess
let url: string

beforeAll(async () => {
  demo = spawn(process.execPath, ['examples/demo.js'], { env: { ...process.env, PORT: '0' }, stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  for await (const chunk of demo.stdout!) {
    out += String(chunk)
    const match = /an AI backend on (http:\/\/127\.0\.0\.1:\d+)/.exec(out)
    if (match && out.includes('Ctrl-C')) {
      url = match[1]!
      break
    }
  }
  expect(out).toContain('pk-demo-workspace')
  expect(out).toContain('curl -s')
})

afterAll(async () => {
  demo.kill('SIGTERM')
  if (demo.exitCode === null) await once(demo, 'exit')
})

describe('npm start demo', () => {
  test('a demo key gets an OpenAI-shaped completion showing its context', async () => {
    const response = await fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'x-portkey-api-key': 'pk-demo-workspace', 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }),
    })
    expect(response.status).toBe(200)
    const body = (await response.json()) as { object: string; choices: { message: { content: string } }[]; portkey: unknown }
    expect(body.object).toBe('chat.completion')
    expect(body.choices[0]?.message.content).toContain('ws_demo')
    expect(body.portkey).toMatchObject({ keyId: 'key_demo_workspace', workspaceId: 'ws_demo', scopes: ['completions.write', 'logs.read'] })
  })

  test.each([
    ['pk-nope', 401, 'invalid_api_key'],
    ['pk-demo-exhausted', 412, 'usage_limit_exceeded'],
    ['pk-demo-expired', 401, 'expired_api_key'],
  ])('%s is refused with %i %s', async (key, status, code) => {
    const response = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'x-portkey-api-key': key } })
    expect(response.status).toBe(status)
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe(code)
  })
})
