import type { Context } from 'hono'
import type { IncomingHeaders } from '../types.js'
import type { HeaderViews } from '../adapters/hide-credential.js'

// `#hono-node-request` on Node, Bun and Deno (@hono/node-server runs on Node); the edge bundles (package.json
// "imports": workerd, worker, edge-light) get ./node-request-edge.ts, where no Node request exists.

/**
 * @hono/node-server hands Hono a lightweight `Request` that builds its Web `Headers` from Node's request on
 * first read (`newHeadersFromIncoming`, ~10 µs). Reading Node's header object instead is free, but only
 * right while the app has not changed the request: a middleware before this one may have read and edited
 * `c.req.raw.headers` (which builds the Headers and keeps it) or put another `Request` in `c.req.raw`.
 * The stand-in keeps Node's request and its built Headers under two symbols of its own; they are learnt from
 * the first stand-in seen, and without them (another version of the server) the Web Headers are read.
 */
interface StandIn {
  readonly incoming: symbol
  readonly headers: symbol
}

let standIn: StandIn | null | undefined

/** The headers the app sees: Node's object while the stand-in is untouched, else `c.req.raw.headers`. */
export function honoHeaders(c: Context): IncomingHeaders | Headers {
  const raw = c.req.raw
  const node = nodeRequest(c.env)
  if (node === undefined) return raw.headers
  standIn ??= learn(raw, node)
  const untouched =
    standIn !== null &&
    (raw as unknown as Record<symbol, unknown>)[standIn.incoming] === node &&
    (raw as unknown as Record<symbol, unknown>)[standIn.headers] === undefined
  return untouched ? (node.headers as IncomingHeaders) : raw.headers
}

/**
 * The stand-in's two symbols: the one holding Node's request, and the one its `headers` getter fills, found by
 * reading `headers` on a bare copy (one Headers built, once per process). `null` when the request is not such
 * a stand-in.
 */
function learn(raw: Request, node: object): StandIn | null {
  const own = Object.getOwnPropertySymbols(raw)
  const incoming = own.find((symbol) => (raw as unknown as Record<symbol, unknown>)[symbol] === node)
  if (incoming === undefined) return null
  // A bare copy holding Node's request alone (the headers getter needs nothing else): whatever it adds is theirs.
  const copy = Object.create(Object.getPrototypeOf(raw) as object) as Record<symbol, unknown>
  copy[incoming] = node
  try {
    void (copy as unknown as Request).headers
  } catch {
    return null
  }
  const added = Object.getOwnPropertySymbols(copy).filter((symbol) => symbol !== incoming && copy[symbol] instanceof Headers)
  return added.length === 1 ? { incoming, headers: added[0]! } : null
}

/** Node's request, as @hono/node-server passes it in `env.incoming`; `undefined` anywhere else. */
export function nodeRequest(env: unknown): HeaderViews | undefined {
  const incoming = typeof env === 'object' && env !== null ? (env as { incoming?: unknown }).incoming : undefined
  if (typeof incoming !== 'object' || incoming === null) return undefined
  const { headers, rawHeaders } = incoming as Partial<HeaderViews>
  return typeof headers === 'object' && headers !== null && Array.isArray(rawHeaders) ? (incoming as HeaderViews) : undefined
}
