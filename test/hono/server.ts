import type { Server } from 'node:http'
import { serve } from '@hono/node-server'
import { Hono } from 'hono'
import { registerFramework, type Running, WHOAMI } from '../support/servers.js'
import { serveNatively } from '../web/server.js'
import { portkeyAuth, portkeyOf } from '../../src/hono/index.js'

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

// Importing this module makes 'hono' known to useGuardedApp() and the adapter contract.
registerFramework('hono', {
  portkeyAuth,
  start: (guard, seen) =>
    startHono(
      // A plain new Hono(): use() alone types c.get('portkey').
      new Hono().use(portkeyAuth(guard)).all(WHOAMI, (c) => {
        seen.push(portkeyOf(c))
        return c.json({ portkey: c.get('portkey') })
      }),
    ),
})
