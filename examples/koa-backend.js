// The same guard in Koa: ctx.state.portkey holds the caller's context.
// Run: node examples/koa-backend.js
import Koa from 'koa'
import { portkeyAuth, requirePermissions } from 'portkey-auth/koa'
import { announce, listening, stopOnSignal, useLocalControlPlane } from './support/local-control-plane.js'

const { stub } = await useLocalControlPlane()

const app = new Koa()
app.use(portkeyAuth())
app.use(async (ctx, next) => {
  if (ctx.path === '/v1/logs') return requirePermissions('logs.read')(ctx, next)
  await next()
})
app.use((ctx) => {
  const { keyId, workspaceId, scopes } = ctx.state.portkey
  ctx.body = ctx.path === '/v1/logs' ? { object: 'list', data: [], workspaceId } : { keyId, workspaceId, scopes }
})

const server = app.listen(Number(process.env.PORT ?? 8787), '127.0.0.1')
await listening(server)
announce('Koa backend', server, (url) => [
  `curl -s ${url}/whoami -H 'x-portkey-api-key: pk-demo-workspace'`,
  `curl -s ${url}/v1/logs -H 'x-portkey-api-key: pk-demo-readonly'`,
  `curl -s ${url}/whoami -H 'x-portkey-api-key: pk-demo-exhausted'   # 412 usage_limit_exceeded`,
])
stopOnSignal(server, stub)
