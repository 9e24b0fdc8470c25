import type { Context } from 'hono'
import type { HeaderViews } from '../adapters/hide-credential.js'
import { nodeRequest } from '#hono-node-request'

/**
 * For `hideCredentials`: the request's header views, for the shared `hideCredential()` to take the credential
 * out of. Its `headers` stand for the Web `Request` Hono hands to handlers (`c.req.raw`, which `c.req.header()`
 * reads): a header deleted from them leaves `c.req.raw` too, and under @hono/node-server Node's request in
 * `c.env.incoming`, whose `headersDistinct` and `rawHeaders` are the other two views. So whichever headers
 * the shared rule removes, it removes from every copy.
 *
 * A request's headers are changed in place where the runtime allows it (Node, Bun). Where they are immutable
 * (Deno, Cloudflare Workers) `c.req.raw` is replaced by a copy without the header, which takes over the body;
 * a body already read by then cannot be carried over, and the `TypeError` that says so fails the request.
 */
export function credentialViews(c: Context): HeaderViews {
  const node = nodeRequest(c.env)
  // Read before the shared code shrinks rawHeaders: Node builds both lazily from it.
  const nodeHeaders = node?.headers
  const headersDistinct = node?.headersDistinct
  const headers = new Proxy<Record<string, unknown>>(
    {},
    {
      get: (_target, name) => (typeof name === 'string' ? (c.req.raw.headers.get(name) ?? undefined) : undefined),
      has: (_target, name) => typeof name === 'string' && c.req.raw.headers.has(name),
      deleteProperty: (_target, name) => {
        if (typeof name !== 'string') return true
        removeHeader(c, name)
        if (nodeHeaders !== undefined) delete nodeHeaders[name]
        return true
      },
    },
  )
  return { headers, headersDistinct, rawHeaders: node?.rawHeaders ?? [] }
}

function removeHeader(c: Context, name: string): void {
  const request = c.req.raw
  deleteFrom(request, name)
  if (request.headers.has(name)) c.req.raw = without(request, name)
  // @hono/node-server's request is a stand-in that builds a full Request on first use of its body or signal
  // and keeps it, with a copy of the headers, under a symbol; `new Request(c.req.raw)` gives that one.
  for (const symbol of Object.getOwnPropertySymbols(request)) {
    const inner = (request as unknown as Record<symbol, unknown>)[symbol]
    if (inner instanceof Request && inner !== request) deleteFrom(inner, name)
  }
}

function deleteFrom(request: Request, name: string): void {
  try {
    request.headers.delete(name)
  } catch {
    // Immutable headers: the request is replaced.
  }
}

function without(request: Request, name: string): Request {
  const headers = new Headers(request.headers)
  headers.delete(name)
  // duplex: Node requires it to pass a streamed body on; other runtimes ignore it.
  return new Request(request, { headers, duplex: 'half' } as RequestInit)
}
