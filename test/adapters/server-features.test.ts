import Fastify from 'fastify'
import { describe, expect, test } from 'vitest'
import { portkeyAuth as expressAuth } from '../../src/express/index.js'
import { portkeyAuth as fastifyAuth } from '../../src/fastify/index.js'
import { portkeyAuth as honoAuth } from '../../src/hono/index.js'
import { portkeyAuth as koaAuth } from '../../src/koa/index.js'
import { authenticate, withPortkeyAuth } from '../../src/web/index.js'

// Attack on SERVER_FEATURES: publicRoutes and hideCredentials are given by the server adapters only. Their options
// are still checked by name (a misspelling is named, never ignored: a public route or a credential left in place
// for want of a letter), and the Web adapter refuses both whatever the shape of the value.
const OFFLINE = 'http://127.0.0.1:9'
const SERVERS = [
  ['express', expressAuth],
  ['koa', koaAuth],
  ['hono', honoAuth],
] as const

async function registerFastify(options: object): Promise<unknown> {
  const app = Fastify()
  try {
    await app.register(fastifyAuth, options as never)
    await app.ready()
    return undefined
  } catch (error) {
    return error
  } finally {
    await app.close()
  }
}

describe('server adapters: the features are options, checked by name', () => {
  test.each(SERVERS)('%s: a misspelt publicRoutes or hideCredentials is refused, naming the option', (_name, make) => {
    expect(() => make({ controlPlaneUrl: OFFLINE, publicRoute: ['/health'] } as never)).toThrow(/publicRoutes/)
    expect(() => make({ controlPlaneUrl: OFFLINE, hideCredential: true } as never)).toThrow(/hideCredentials/)
    expect(() => make({ publicroutes: ['/health'] } as never)).toThrow(/publicRoutes/)
    expect(() => make({ controlPlaneUrl: OFFLINE, publicRoutes: ['/health'], hideCredentials: true })).not.toThrow()
  })

  test('fastify: the same, under its own names', async () => {
    expect(await registerFastify({ controlPlaneUrl: OFFLINE, publicRoute: ['/health'] })).toBeInstanceOf(TypeError)
    expect(String(await registerFastify({ controlPlaneUrl: OFFLINE, hideCredential: true }))).toMatch(/hideCredentials/)
    expect(String(await registerFastify({ controlPlaneUrl: OFFLINE, addhook: false }))).toMatch(/addHook/)
    expect(await registerFastify({ controlPlaneUrl: OFFLINE, publicRoutes: ['/health'], hideCredentials: true })).toBeUndefined()
  })
})

describe('web: publicRoutes and hideCredentials are refused, whatever the value', () => {
  test.each([
    ['publicRoutes: []', { publicRoutes: [] }],
    ['publicRoutes: null', { publicRoutes: null }],
    ["publicRoutes: ['/health']", { publicRoutes: ['/health'] }],
    ['hideCredentials: true', { hideCredentials: true }],
    ["hideCredentials: 'yes'", { hideCredentials: 'yes' }],
    ['a misspelt publicRoutes', { publicRoute: ['/health'] }],
  ])('%s', async (_name, options) => {
    expect(() => withPortkeyAuth(() => new Response('ok'), { controlPlaneUrl: OFFLINE, ...options } as never)).toThrow(TypeError)
    // authenticate() refuses them too (synchronously, or by its promise: either way, never a result).
    await expect(
      (async () => authenticate(new Request('http://x/health'), { controlPlaneUrl: OFFLINE, ...options } as never))(),
    ).rejects.toThrow(TypeError)
  })

  test('a request with no credential to a would-be public route is refused (401), never admitted', async () => {
    const handler = withPortkeyAuth(() => new Response('ok'), { controlPlaneUrl: OFFLINE, hideCredentials: false })
    const response = await handler(new Request('http://x/health'))
    expect(response.status).toBe(401)
  })
})
