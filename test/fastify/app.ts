import type { AddressInfo } from 'node:net'
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import { portkeyAuth, portkeyOf } from '../../src/fastify/index.js'
import { closeAfterTest, registerFramework, type Running, WHOAMI } from '../support/servers.js'

/**
 * Starts a Fastify app (5, or 4 in the project that aliases it) set up by `setup`, listening on 127.0.0.1,
 * closed when the current test ends. Its logger is off: tests assert what it would log.
 */
export async function startFastify(
  setup: (app: FastifyInstance) => void | Promise<void>,
  options: FastifyServerOptions = {},
): Promise<Running & { readonly app: FastifyInstance }> {
  const app = Fastify({ forceCloseConnections: true, ...options })
  await setup(app)
  await app.listen({ host: '127.0.0.1', port: 0 })
  const { port } = app.server.address() as AddressInfo
  // Closed once, whoever asks first (useGuardedApp closes what it starts as well).
  let closed: Promise<void> | undefined
  return closeAfterTest({ app, url: `http://127.0.0.1:${port}`, close: () => (closed ??= app.close()) })
}

// Importing this module makes 'fastify' known to useGuardedApp() and the adapter contract.
registerFramework('fastify', {
  // The plugin run on a throwaway instance, so that its construction errors are thrown here, as a factory would.
  portkeyAuth: (options) =>
    portkeyAuth(Fastify(), options ?? {}, (error) => {
      if (error) throw error
    }),
  start: (guard, seen) =>
    startFastify(async (app) => {
      await app.register(portkeyAuth, guard ?? {})
      app.all(WHOAMI, (request) => {
        seen.push(portkeyOf(request))
        return { portkey: request.portkey }
      })
    }),
})
