import { execFile } from 'node:child_process'
import { once } from 'node:events'
import { readdir, readFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:net'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'

// Where the examples listen: run beside `npx portkey-auth-stub` (8788 unless PORT says otherwise), they must not
// take its port; and on a port that is taken, they say so in a line instead of a stack trace.
const run = promisify(execFile)
const examples = (await readdir('examples')).filter((file) => file.endsWith('.js')).map((file) => file.slice(0, -3))

describe('examples/*.js: the port each listens on', () => {
  test('each defaults to the demo port, 8787, and the gateway (which may front a local upstream on it) to 8789; none to the stub command port', async () => {
    const stubPort = Number(/const DEFAULT_PORT = (\d+)/.exec(await readFile('src/testing/cli.ts', 'utf8'))?.[1])
    expect(stubPort).toBe(8788)
    const defaults = Object.fromEntries(
      await Promise.all(
        examples.map(async (name) => {
          const source = await readFile(`examples/${name}.js`, 'utf8')
          return [name, Number(/process\.env\.PORT \?\? (\d+)/.exec(source)?.[1])] as const
        }),
      ),
    )
    expect(defaults).toEqual({
      'express-backend': 8787,
      'express-gateway': 8789,
      fastify: 8787,
      hono: 8787,
      jwt: 8787,
      'koa-backend': 8787,
      prometheus: 8787,
      'web-handler': 8787,
    })
    expect(Object.values(defaults)).not.toContain(stubPort)
  })

  describe('on a port that is taken', () => {
    let taken: Server
    let port: number
    beforeAll(async () => {
      taken = createServer().listen(0, '127.0.0.1')
      await once(taken, 'listening')
      port = (taken.address() as { port: number }).port
    })
    afterAll(() => void taken?.close())

    test.concurrent.for(examples)('%s exits with one line naming the port and PORT=', async (name, { expect }) => {
      const env: NodeJS.ProcessEnv = { ...process.env, PORT: String(port) }
      for (const variable of ['PORTKEY_CONTROL_PLANE_URL', 'PORTKEY_CLIENT_AUTH', 'PORTKEY_JWKS_URL', 'UPSTREAM_URL'])
        delete env[variable]
      const result: { stderr: string; code?: number } = await run(process.execPath, [`examples/${name}.js`], {
        env,
        timeout: 15_000,
      }).then(
        () => ({ stderr: '', code: 0 }),
        (error: { stderr: string; code: number }) => error,
      )
      expect(result.code).toBe(1)
      expect(result.stderr.trim().split('\n')).toEqual([
        `Cannot listen on 127.0.0.1:${port}: it is in use (EADDRINUSE). Pick another port with PORT=, e.g. PORT=0 node examples/${name}.js for any free one.`,
      ])
    })
  })
})
