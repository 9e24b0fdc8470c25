import type { Context } from 'hono'
import type { HeaderViews } from '../adapters/hide-credential.js'

// `#hono-node-request` in the edge bundles (package.json "imports": workerd, worker, edge-light): there is
// no Node request behind Hono's there (./node-request.ts reads it under @hono/node-server), so neither its code nor
// its checks are bundled into a Worker.

/** The headers the app sees: the Web `Request`'s. */
export const honoHeaders = (c: Context): Headers => c.req.raw.headers

/** No Node request on the edge. */
export const nodeRequest = (_env: unknown): HeaderViews | undefined => undefined
