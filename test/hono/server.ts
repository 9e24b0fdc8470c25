import type { Server } from 'node:http'
import { serve } from '@hono/node-server'
import { Hono } from 'hono'
import type { Context, MiddlewareHandler } from 'hono'
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import { AuthError } from '../../src/errors.js'
import { nodeRequest } from '../../src/hono/node-request.js'
import { portkeyAuth, portkeyOf, quotaOf, requirePermissions } from '../../src/hono/index.js'
import { type Answer, type AppSpec, asOptions, type BuiltApp, nodeViews, type Seen } from '../support/apps.js'
import { registerFramework, type Running, WHOAMI } from '../support/servers.js'
import { serveNatively } from '../web/server.js'

/**
 * Serves a Hono app on 127.0.0.1, on a free port, as a user runs it: through @hono/node-server on Node, with
 * `Bun.serve` or `Deno.serve` when the suite runs under Bun or Deno.
 */
export function startHono(app: { fetch: Hono['fetch'] }): Promise<Running> {
  const native = serveNatively((request) => app.fetch(request))
  if (native !== undefined) return Promise.resolve(native)
  return new Promise((resolve, reject) => {
    const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, ({ port }) =>
      resolve({
        url: `http://127.0.0.1:${port}`,
        close() {
          server.closeAllConnections()
          return new Promise((done) => server.close(() => done()))
        },
      }),
    ) as Server
    server.once('error', reject)
  })
}

const seenOf = (c: Context): Seen => {
  const node = nodeRequest(c.env) as Seen['node']
  return {
    portkey: c.get('portkey'),
    quota: quotaOf(c),
    method: c.req.method,
    // The path of the Request's URL, undecoded (c.req.path is decoded).
    path: new URL(c.req.url).pathname,
    node,
    // Node's views under @hono/node-server, and the Request Hono hands to handlers.
    views: () => ({ ...(node ? nodeViews(node) : { headers: {} }), web: Object.fromEntries(c.req.raw.headers) }),
    json: () => c.req.json(),
  }
}

// Hono's overloads type a fixed number of handlers.
type All = (path: string, ...handlers: MiddlewareHandler[]) => unknown
type On = (method: string, path: string, ...handlers: MiddlewareHandler[]) => unknown

const write = (c: Context, { status, headers = {}, body }: Answer) => c.json(body, status as ContentfulStatusCode, headers)

/** The app `spec` describes, in Hono: routes on its router, mounted with `app.route()`. */
async function build(spec: AppSpec): Promise<BuiltApp> {
  const { before, onError } = spec
  const app = new Hono()
  const inner = spec.prefix === undefined ? app : new Hono()
  if (onError?.via === 'app') {
    app.onError((error, c) => {
      if (!(error instanceof AuthError)) throw error
      return write(c, onError.answer(error, seenOf(c)))
    })
  }
  if (before) app.use((c, next) => (before(seenOf(c)), next()))
  const auth =
    spec.auth === null
      ? undefined
      : portkeyAuth(
          onError === undefined
            ? spec.auth
            : {
                ...asOptions(spec.auth),
                onError:
                  onError.via === 'app'
                    ? (error) => {
                        throw error
                      }
                    : (error, c) => write(c, onError.answer(error, seenOf(c))),
              },
        )
  if (auth) inner.use(auth)
  for (const route of spec.routes) {
    const guards = route.scopes ? [requirePermissions(...route.scopes)] : []
    const handler: MiddlewareHandler = async (c) => c.json((await route.answer(seenOf(c))) as object)
    if (route.method === undefined) (inner.all as All)(route.path ?? '*', ...guards, handler)
    else (inner.on as On)(route.method, route.path ?? '*', ...guards, handler)
  }
  if (inner !== app) app.route(spec.prefix!, inner)
  return { ...(await startHono(app)), verifier: auth?.verifier }
}

// Importing this module makes 'hono' known to useGuardedApp(), useApp() and the adapter contract.
registerFramework('hono', {
  portkeyAuth,
  requirePermissions,
  start: (guard, seen, quotas) =>
    startHono(
      // A plain new Hono(): use() alone types c.get('portkey') and c.get('portkeyQuota').
      new Hono().use(portkeyAuth(guard)).all(WHOAMI, (c) => {
        seen.push(portkeyOf(c))
        quotas.push(quotaOf(c))
        return c.json({ portkey: c.get('portkey'), quota: c.get('portkeyQuota') ?? null })
      }),
    ),
  build,
  capabilities: {
    publicRoutes: true,
    hideCredentials: true,
    nodeRequest: true,
    mount: true,
    verifierPerSettings: false,
    middlewareHandle: true,
  },
})
