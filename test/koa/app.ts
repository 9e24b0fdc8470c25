import Koa, { type Context } from 'koa'
import { AuthError } from '../../src/errors.js'
import { portkeyAuth, quotaOf, requirePermissions } from '../../src/koa/index.js'
import { type Answer, type AppSpec, asOptions, type BuiltApp, nodeViews, readJson, type Seen } from '../support/apps.js'
import { mount } from '../support/koa-mount.js'
import { startRawServer } from '../support/core-helpers.js'
import { registerFramework, startKoa, WHOAMI } from '../support/servers.js'

const seenOf = (ctx: Context): Seen => ({
  portkey: ctx.state.portkey,
  quota: quotaOf(ctx),
  method: ctx.method,
  path: ctx.path,
  node: ctx.req,
  views: () => nodeViews(ctx.req),
  json: () => readJson(ctx.req),
})

function write(ctx: Context, { status, headers = {}, body }: Answer): void {
  ctx.status = status
  ctx.set(headers)
  ctx.body = body
}

const matches = (method: string | undefined, actual: string) =>
  method === undefined || method === actual || (method === 'GET' && actual === 'HEAD')

/** The app `spec` describes, in Koa (3, or 2 in the project that aliases it): routes matched on `ctx.path`, as routers do. */
async function build(spec: AppSpec): Promise<BuiltApp> {
  const app = new Koa()
  app.silent = true
  const { before, onError } = spec
  if (onError?.via === 'app') {
    app.use(async (ctx, next) => {
      try {
        await next()
      } catch (error) {
        if (!(error instanceof AuthError)) throw error
        write(ctx, onError.answer(error, seenOf(ctx)))
      }
    })
  }
  if (before) app.use((ctx, next) => (before(seenOf(ctx)), next()))
  const inner = spec.prefix === undefined ? app : new Koa()
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
                    : (error, ctx) => write(ctx, onError.answer(error, seenOf(ctx))),
              },
        )
  if (auth) inner.use(auth)
  inner.use(async (ctx) => {
    const route = spec.routes.find(({ method, path }) => matches(method, ctx.method) && (path === undefined || path === ctx.path))
    if (route === undefined) return
    const answer = async () => {
      ctx.body = await route.answer(seenOf(ctx))
    }
    if (route.scopes) await requirePermissions(...route.scopes)(ctx as never, answer)
    else await answer()
  })
  if (inner !== app) app.use(mount(spec.prefix!, inner))
  return { ...(await startRawServer(app.callback())), verifier: auth?.verifier }
}

// Importing this module makes 'koa' known to useGuardedApp(), useApp() and the adapter contract.
registerFramework('koa', {
  portkeyAuth,
  requirePermissions,
  start: (guard, seen, quotas) =>
    startKoa((app) => {
      app.use(portkeyAuth(guard)).use((ctx) => {
        if (ctx.path !== WHOAMI) return
        seen.push(ctx.state.portkey)
        quotas.push(quotaOf(ctx))
        ctx.body = { portkey: ctx.state.portkey, quota: quotaOf(ctx) }
      })
    }),
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
