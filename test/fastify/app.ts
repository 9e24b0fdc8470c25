import type { AddressInfo } from 'node:net'
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify'
import { AuthError } from '../../src/errors.js'
import { portkeyAuth, portkeyOf, quotaOf, requirePermissions } from '../../src/fastify/index.js'
import type { Verifier } from '../../src/verifier/verifier.js'
import { type Answer, type AppSpec, asOptions, type BuiltApp, nodeViews, type Seen } from '../support/apps.js'
import { closeAfterTest, registerFramework, type Running, WHOAMI } from '../support/servers.js'

/**
 * Serves a Fastify app (5, or 4 in the project that aliases it) set up by `setup`, listening on 127.0.0.1. Its
 * logger is off: tests assert what it would log.
 */
async function serveFastify(
  setup: (app: FastifyInstance) => void | Promise<void>,
  options: FastifyServerOptions = {},
): Promise<Running & { readonly app: FastifyInstance }> {
  const app = Fastify({ forceCloseConnections: true, ...options })
  await setup(app)
  await app.listen({ host: '127.0.0.1', port: 0 })
  const { port } = app.server.address() as AddressInfo
  // Closed once, whoever asks first (useGuardedApp closes what it starts as well).
  let closed: Promise<void> | undefined
  return { app, url: `http://127.0.0.1:${port}`, close: () => (closed ??= app.close()) }
}

/** `serveFastify()`, closed when the current test ends. */
export async function startFastify(
  setup: (app: FastifyInstance) => void | Promise<void>,
  options: FastifyServerOptions = {},
): Promise<Running & { readonly app: FastifyInstance }> {
  return closeAfterTest(await serveFastify(setup, options))
}

/**
 * The path Fastify's router routes on: the target's as sent (no URL parser: it would resolve dot segments), cut
 * at ';' where the router does (Fastify 4's default).
 */
function routedPath(request: FastifyRequest): string {
  const path = request.url.replace(/^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i, '').split(/[?#]/)[0] || '/'
  const { useSemicolonDelimiter } = request.server.initialConfig as { useSemicolonDelimiter?: boolean }
  return useSemicolonDelimiter === true ? path.split(';')[0]! : path
}

const seenOf = (request: FastifyRequest): Seen => ({
  portkey: request.portkey,
  quota: quotaOf(request),
  method: request.method,
  path: routedPath(request),
  node: request.raw,
  views: () => nodeViews(request.raw),
  json: async () => request.body,
})

const write = (reply: FastifyReply, { status, headers = {}, body }: Answer) => reply.code(status).headers(headers).send(body)

/** The app `spec` describes, in Fastify: routes on its router, the catch-all its not-found handler. */
async function build(spec: AppSpec): Promise<BuiltApp> {
  const { before, onError } = spec
  const options =
    spec.auth === null
      ? undefined
      : onError === undefined
        ? spec.auth
        : {
            ...asOptions(spec.auth),
            onError:
              onError.via === 'app'
                ? (error: AuthError) => {
                    throw error
                  }
                : (error: AuthError, request: FastifyRequest, reply: FastifyReply) =>
                    write(reply, onError.answer(error, seenOf(request))),
          }
  let verifier: Verifier | undefined
  const routes = async (scope: FastifyInstance) => {
    if (options !== undefined) {
      await scope.register(portkeyAuth, options)
      verifier = scope.portkeyVerifier
    }
    for (const route of spec.routes) {
      const preHandler = route.scopes ? [requirePermissions(...route.scopes)] : []
      const handler = async (request: FastifyRequest) => route.answer(seenOf(request))
      if (route.path === undefined) scope.setNotFoundHandler({ preHandler }, handler)
      else if (route.method === undefined) scope.all(route.path, { preHandler }, handler)
      else scope.route({ method: route.method as 'GET', url: route.path, preHandler, handler })
    }
  }
  const running = await serveFastify(async (app) => {
    if (onError?.via === 'app') {
      app.setErrorHandler((error, request, reply) => {
        if (!(error instanceof AuthError)) throw error
        return write(reply, onError.answer(error, seenOf(request)))
      })
    }
    if (before) app.addHook('onRequest', (request, _reply, done) => void (before(seenOf(request)), done()))
    if (spec.prefix === undefined) await routes(app)
    else await app.register(routes, { prefix: spec.prefix })
  })
  return { ...running, verifier }
}

// Importing this module makes 'fastify' known to useGuardedApp(), useApp() and the adapter contract.
registerFramework('fastify', {
  // The plugin run on a throwaway instance, so that its construction errors are thrown here, as a factory would.
  portkeyAuth: (options) =>
    portkeyAuth(Fastify(), options ?? {}, (error) => {
      if (error) throw error
    }),
  requirePermissions,
  start: (guard, seen, quotas) =>
    serveFastify(async (app) => {
      await app.register(portkeyAuth, guard ?? {})
      app.all(WHOAMI, (request) => {
        seen.push(portkeyOf(request))
        quotas.push(quotaOf(request))
        return { portkey: request.portkey, quota: quotaOf(request) }
      })
    }),
  build,
  capabilities: {
    publicRoutes: true,
    hideCredentials: true,
    nodeRequest: true,
    mount: true,
    verifierPerSettings: false,
    middlewareHandle: false,
  },
})
