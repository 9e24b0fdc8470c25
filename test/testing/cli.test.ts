import { once } from 'node:events'
import { createServer } from 'node:net'
import { describe, expect, test } from 'vitest'
import { demoKeys, demoVirtualKeys } from '../../src/testing/demo-keys.js'
import { KEY_DETAILS_PATH, VIRTUAL_KEYS_PATH } from '../../src/testing/index.js'
import { createVerifier } from '../../src/verifier/create-verifier.js'
import { details, run, start } from '../support/stub-cli.js'

// `portkey-auth-stub` with its demo keys, run as a user runs it (test/support/stub-cli.ts). The --keys file
// and the admin endpoints: cli-keys.test.ts.

/** A port that was free a moment ago, on 127.0.0.1. */
async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as { port: number }
  await new Promise((done) => server.close(done))
  return port
}

describe('portkey-auth-stub: serving the demo keys', () => {
  test('prints its 127.0.0.1 URL, each demo key with what it gets, and how to point the middleware at it', async () => {
    const { url, stdout } = await start()
    const output = stdout()
    for (const key of Object.keys(demoKeys())) expect(output).toContain(key)
    for (const slug of Object.keys(demoVirtualKeys())) expect(output).toContain(slug)
    expect(output).toMatch(/pk-demo-workspace +admitted: workspace ws_demo, scopes completions\.write, logs\.read/)
    expect(output).toMatch(/pk-demo-exhausted +refused \(412 usage_limit_exceeded\)/)
    expect(output).toMatch(/pk-demo-expired +refused \(401 expired_api_key\)/)
    // Under each key: its id, its rate limits and the virtual keys of its workspace (an admitted key only).
    expect(output).toMatch(
      /pk-demo-workspace +admitted.*\n +id key_demo_workspace; rate limits 600 requests a minute; virtual keys openai-demo\n/,
    )
    expect(output).toMatch(/pk-demo-exhausted +refused.*\n +id key_demo_exhausted\n/)
    expect(output).toContain(`curl -s ${url}${KEY_DETAILS_PATH} -H 'x-portkey-api-key: pk-demo-workspace'`)
    expect(output).toContain(`PORTKEY_CONTROL_PLANE_URL=${url} `)
  })

  test('answers a demo key with its record, and an unknown key with 401', async () => {
    const { url } = await start()
    const known = await details(url, 'pk-demo-workspace')
    expect(known.status).toBe(200)
    expect(await known.json()).toStrictEqual(demoKeys()['pk-demo-workspace'])
    const unknown = await details(url, 'pk-not-a-demo-key')
    expect(unknown.status).toBe(401)
    const virtualKey = await fetch(`${url}${VIRTUAL_KEYS_PATH}openai-demo`, {
      headers: { 'x-portkey-api-key': 'pk-demo-workspace' },
    })
    expect(await virtualKey.json()).toStrictEqual(demoVirtualKeys()['openai-demo'])
  })

  test('a verifier pointed at it admits a demo key, with its virtual key, and refuses the spent one', async () => {
    const { url } = await start()
    const verifier = createVerifier({ controlPlaneUrl: url })
    try {
      const auth = await verifier.verify({ 'x-portkey-api-key': 'pk-demo-workspace', 'x-portkey-virtual-key': 'openai-demo' })
      expect(auth).toMatchObject({ keyId: 'key_demo_workspace', workspaceId: 'ws_demo', organisationId: 'org_demo' })
      expect(auth.virtualKey).toEqual({ slug: 'openai-demo', provider: 'openai', status: 'active', rateLimits: [] })
      await expect(verifier.verify({ 'x-portkey-api-key': 'pk-demo-exhausted' })).rejects.toMatchObject({
        code: 'usage_limit_exceeded',
        status: 412,
      })
    } finally {
      await verifier.close()
    }
  })

  test('listens on 127.0.0.1 only: not on the IPv6 loopback', async () => {
    const { url } = await start()
    const port = new URL(url).port
    await expect(fetch(`http://[::1]:${port}${KEY_DETAILS_PATH}`, { signal: AbortSignal.timeout(2_000) })).rejects.toThrow()
  })
})

describe('portkey-auth-stub: ports', () => {
  test('takes its port from env PORT when --port is not given', async () => {
    const port = await freePort()
    const { url } = await start([], { PORT: String(port) })
    expect(url).toBe(`http://127.0.0.1:${port}`)
  })

  test('a port in use: exits 1 saying so', async () => {
    const { url } = await start()
    const cli = run(['--port', new URL(url).port])
    expect(await cli.exit).toEqual({ code: 1, signal: null })
    expect(cli.stderr()).toMatch(/in use/)
  })

  test.each(['--port x', '--port 65536', '--port -1', '--port=', '--nope', 'extra', '--keys'])(
    'bad usage (%s) exits 2',
    async (args) => {
      const cli = run(args.split(' '))
      expect(await cli.exit).toEqual({ code: 2, signal: null })
      expect(cli.stderr()).toContain('--help')
      expect(cli.stdout()).toBe('')
    },
  )
})

describe('portkey-auth-stub: usage and stopping', () => {
  test('--help prints usage and exits 0 without listening', async () => {
    const cli = run(['--help'])
    expect(await cli.exit).toEqual({ code: 0, signal: null })
    expect(cli.stdout()).toMatch(/^Usage: portkey-auth-stub \[--port N\]/)
    expect(cli.stdout()).toContain('PORTKEY_CONTROL_PLANE_URL')
    expect(cli.stdout()).not.toContain('listening on')
  })

  test.each(['SIGTERM', 'SIGINT'] as const)('%s stops it cleanly: exit code 0, port closed', async (signal) => {
    const cli = await start()
    cli.child.kill(signal)
    expect(await cli.exit).toEqual({ code: 0, signal: null })
    expect(cli.stdout()).toContain(`stopped (${signal})`)
    await expect(details(cli.url, 'pk-demo-workspace')).rejects.toThrow()
  })
})
