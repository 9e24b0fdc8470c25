import Fastify from 'fastify'
import { afterEach, describe, expect, test, vi } from 'vitest'
import { portkeyAuth as expressAuth } from '../../src/express/index.js'
import { portkeyAuth as fastifyAuth } from '../../src/fastify/index.js'
import { portkeyAuth as honoAuth } from '../../src/hono/index.js'
import { portkeyAuth as koaAuth } from '../../src/koa/index.js'
import { KEY_DETAILS_PATH, keyRecord } from '../../src/testing/index.js'
import { withPortkeyAuth } from '../../src/web/index.js'
import { verifyWithQuota } from '../support/core-helpers.js'
import { useStub } from '../support/servers.js'

// Issue 23, item 4: middlewares and handlers made without verifier options share the process's one verifier
// from the environment: one cache and one count of each rate limit, on every adapter.

const KEY = 'pk-environment-0123456789abcdef'

afterEach(() => {
  vi.unstubAllEnvs()
})

describe('one verifier per process from the environment', () => {
  test('every adapter made without options (or with middleware options only) shares it: one look-up, one count', async () => {
    const stub = await useStub({
      keys: { [KEY]: keyRecord({ id: 'key_env', rate_limits: [{ type: 'requests', unit: 'rpm', value: 100 }] }) },
    })
    vi.stubEnv('PORTKEY_CONTROL_PLANE_URL', stub.url)
    const fastify = Fastify()
    await fastify.register(fastifyAuth)
    const verifiers = [
      expressAuth().verifier,
      expressAuth({ hideCredentials: true, publicRoutes: ['/health'] }).verifier,
      koaAuth().verifier,
      fastify.portkeyVerifier,
      honoAuth().verifier,
      withPortkeyAuth(() => new Response()).verifier,
      withPortkeyAuth(() => new Response()).verifier,
    ]
    expect(new Set(verifiers).size).toBe(1)
    const [verifier] = verifiers
    const first = await verifyWithQuota(verifier!, { 'x-portkey-api-key': KEY })
    const second = await verifyWithQuota(verifier!, { 'x-portkey-api-key': KEY })
    expect(stub.calls(KEY_DETAILS_PATH)).toBe(1)
    expect(second.auth).toBe(first.auth)
    expect(second.quota!.remaining).toBe(first.quota!.remaining - 1)
  })

  test('verifier options make a verifier of their own; another environment, another shared one', async () => {
    const stub = await useStub()
    vi.stubEnv('PORTKEY_CONTROL_PLANE_URL', stub.url)
    const shared = expressAuth().verifier
    expect(expressAuth({ timeoutMs: 1_000 }).verifier).not.toBe(shared)
    const other = await useStub()
    vi.stubEnv('PORTKEY_CONTROL_PLANE_URL', other.url)
    expect(koaAuth().verifier).not.toBe(shared)
    vi.stubEnv('PORTKEY_CONTROL_PLANE_URL', stub.url)
    expect(koaAuth().verifier).toBe(shared)
  })
})
