import express, { type NextFunction, type Request, type Response } from 'express'
import type { AuthError } from '../../src/errors.js'
import { portkeyAuth, portkeyOf, quotaOf, requirePermissions } from '../../src/express/index.js'
import { type Answer, type AppSpec, asOptions, type BuiltApp, nodeViews, readJson, type Seen } from '../support/apps.js'
import { startRawServer } from '../support/core-helpers.js'
import { registerFramework, startExpress, WHOAMI } from '../support/servers.js'

const seenOf = (req: Request): Seen => ({
  portkey: req.portkey,
  quota: quotaOf(req),
  method: req.method,
  path: req.baseUrl + req.path,
  node: req,
  views: () => nodeViews(req),
  json: () => readJson(req),
})

const write = (res: Response, { status, headers = {}, body }: Answer) => void res.status(status).set(headers).json(body)

/** The app `spec` describes, in Express (5, or 4 in the project that aliases it). */
async function build(spec: AppSpec): Promise<BuiltApp> {
  const app = express()
  const inner = spec.prefix === undefined ? app : express.Router()
  const { before, onError } = spec
  if (before) app.use((req, _res, next) => void (before(seenOf(req)), next()))
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
                    ? (error, _req, _res, next) => next(error)
                    : (error, req, res) => write(res, onError.answer(error, seenOf(req))),
              },
        )
  if (auth) inner.use(auth)
  for (const route of spec.routes) {
    const guards = route.scopes ? [requirePermissions(...route.scopes)] : []
    const handler = async (req: Request, res: Response) => void res.json(await route.answer(seenOf(req)))
    if (route.path === undefined) inner.use(...guards, handler)
    else if (route.method === undefined) inner.all(route.path, ...guards, handler)
    else inner[route.method.toLowerCase() as 'get'](route.path, ...guards, handler)
  }
  if (inner !== app) app.use(spec.prefix!, inner)
  if (onError?.via === 'app') {
    app.use((error: AuthError, req: Request, res: Response, _next: NextFunction) =>
      write(res, onError.answer(error, seenOf(req))),
    )
  }
  return { ...(await startRawServer(app)), verifier: auth?.verifier }
}

// Importing this module makes 'express' known to useGuardedApp(), useApp() and the adapter contract.
registerFramework('express', {
  portkeyAuth,
  requirePermissions,
  start: (guard, seen, quotas) =>
    startExpress((app) => {
      app.use(portkeyAuth(guard))
      app.all(WHOAMI, (req, res) => {
        seen.push(portkeyOf(req))
        quotas.push(quotaOf(req))
        res.json({ portkey: req.portkey, quota: quotaOf(req) })
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
