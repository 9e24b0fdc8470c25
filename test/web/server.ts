import type { IncomingMessage, ServerResponse } from 'node:http'
import { Readable } from 'node:stream'
import { sendRaw } from '../support/raw-socket.js'
import { startRawServer } from '../support/core-helpers.js'
import { registerFramework, type Running, WHOAMI } from '../support/servers.js'
import { type Answer, type AppSpec, asOptions, type BuiltApp, type Seen } from '../support/apps.js'
import type { PortkeyAuth, Quota } from '../../src/types.js'
import { requirePermissions, type WebAuthOptions, withPortkeyAuth } from '../../src/web/index.js'
import { rawPath } from '../../src/adapters/request-route.js'

/** A handler taking a Web Request, as Next.js, Remix, Bun.serve and Deno.serve call it. */
export type FetchHandler = (request: Request) => Response | Promise<Response>

/** A server built like a runtime's: Node's request becomes a Web Request, the handler's Response is written back. */
export interface WebServer extends Running {
  /** What the handler threw (the bridge answers 500). */
  readonly errors: unknown[]
}

/**
 * Node's request as a Web `Request`, as a runtime builds it: the URL parsed (so normalised) from the target
 * (origin-form on the Host header, or absolute-form), each header line appended (repeats joined with ', ').
 */
export function toRequest(req: IncomingMessage): Request {
  const target = req.url ?? '/'
  const url = target.startsWith('/') ? `http://${req.headers.host}${target}` : target
  const headers = new Headers()
  for (let i = 0; i < req.rawHeaders.length; i += 2) headers.append(req.rawHeaders[i]!, req.rawHeaders[i + 1]!)
  const hasBody = req.method !== 'GET' && req.method !== 'HEAD'
  return new Request(url, {
    method: req.method,
    headers,
    ...(hasBody ? { body: Readable.toWeb(req) as ReadableStream, duplex: 'half' } : {}),
  } as RequestInit)
}

async function write(response: Response, res: ServerResponse): Promise<void> {
  res.statusCode = response.status
  for (const [name, value] of response.headers) res.appendHeader(name, value)
  res.end(Buffer.from(await response.arrayBuffer()))
}

// Under Bun or Deno (the suite runs there too: `bun --bun node_modules/vitest/vitest.mjs run test/web test/hono`,
// or `deno run -A node_modules/vitest/vitest.mjs run …`), their own servers.
interface Runtimes {
  Bun?: {
    serve(options: { port: number; hostname: string; fetch: FetchHandler; error(error: unknown): Response }): {
      port: number
      stop(force: boolean): Promise<void>
    }
  }
  Deno?: {
    serve(
      options: { port: number; hostname: string; onListen(): void; onError(error: unknown): Response },
      handler: FetchHandler,
    ): { addr: { port: number }; shutdown(): Promise<void> }
  }
}

/** The runtime the suite runs on. */
export const RUNTIME: 'bun' | 'deno' | 'node' =
  (globalThis as Runtimes).Bun !== undefined ? 'bun' : (globalThis as Runtimes).Deno !== undefined ? 'deno' : 'node'

/** Serves `handler` with `Bun.serve` or `Deno.serve` on 127.0.0.1, on a free port; `undefined` on Node. */
export function serveNatively(handler: FetchHandler): WebServer | undefined {
  const errors: unknown[] = []
  const failed = (error: unknown) => {
    errors.push(error)
    return new Response('Internal Server Error', { status: 500, headers: { 'content-type': 'text/plain' } })
  }
  const { Bun, Deno } = globalThis as Runtimes
  if (Bun !== undefined) {
    const server = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: handler, error: failed })
    return { url: `http://127.0.0.1:${server.port}`, close: () => server.stop(true), errors }
  }
  if (Deno !== undefined) {
    const server = Deno.serve({ port: 0, hostname: '127.0.0.1', onListen() {}, onError: failed }, handler)
    return { url: `http://127.0.0.1:${server.addr.port}`, close: () => server.shutdown(), errors }
  }
  return undefined
}

/**
 * Serves `handler` on 127.0.0.1, on a free port: through a tiny node:http → Request → Response bridge on Node,
 * and through `Bun.serve` or `Deno.serve` when the suite runs under Bun or Deno.
 */
export async function startWeb(handler: FetchHandler): Promise<WebServer> {
  const native = serveNatively(handler)
  if (native !== undefined) return native
  const errors: unknown[] = []
  const running = await startRawServer((req, res) => {
    let request: Request
    try {
      request = toRequest(req)
    } catch {
      res.writeHead(400).end('Bad Request')
      return
    }
    Promise.resolve()
      .then(() => handler(request))
      .then(
        (response) => write(response, res),
        (error: unknown) => {
          errors.push(error)
          res.writeHead(500, { 'content-type': 'text/plain' }).end('Internal Server Error')
        },
      )
  })
  return { ...running, errors }
}

/**
 * The `request.url` this runtime's server (or, on Node, the bridge) builds for a raw request target: Node and Bun
 * resolve dot segments, Deno.serve keeps the target as sent.
 */
export async function servedUrl(target: string): Promise<string> {
  const server = await startWeb((request) => new Response(request.url))
  try {
    return (await sendRaw(server.url, target)).text
  } finally {
    await server.close()
  }
}

const seenOf = (request: Request, portkey: PortkeyAuth | undefined, quota: Quota | null = null): Seen => ({
  portkey,
  quota,
  method: request.method,
  path: new URL(request.url).pathname,
  node: undefined,
  views: () => ({ headers: Object.fromEntries(request.headers), web: Object.fromEntries(request.headers) }),
  json: () => request.json(),
})

const respond = ({ status, headers = {}, body }: Answer) => Response.json(body, { status, headers })

const matches = (method: string | undefined, actual: string) =>
  method === undefined || method === actual || (method === 'GET' && actual === 'HEAD')

/**
 * The app `spec` describes, as one guarded handler (a runtime's fetch handler) that routes on the method and the
 * URL's pathname. There is no mounting, and no error handling of the app's own: `onError` answers.
 */
async function build(spec: AppSpec): Promise<BuiltApp> {
  if (spec.prefix !== undefined) throw new Error('web: a handler is not mounted under a prefix')
  const { onError } = spec
  const route = async (request: Request, portkey: PortkeyAuth | undefined, quota: Quota | null = null) => {
    const pathname = new URL(request.url).pathname
    const found = spec.routes.find(
      ({ method, path }) => matches(method, request.method) && (path === undefined || path === pathname),
    )
    if (found === undefined) return Response.json({ error: 'not found' }, { status: 404 })
    const refused = found.scopes ? await requirePermissions(...found.scopes)(request) : null
    return refused ?? Response.json(await found.answer(seenOf(request, portkey, quota)))
  }
  // `before` runs in the runtime's handler, before the guarded one.
  const serve = (handler: FetchHandler) => startWeb((request) => (spec.before?.(seenOf(request, undefined)), handler(request)))
  if (spec.auth === null) return { ...(await serve((request) => route(request, undefined))), verifier: undefined }
  const options =
    onError === undefined
      ? spec.auth
      : {
          ...asOptions(spec.auth),
          onError: (error: Parameters<typeof onError.answer>[0], request: Request) =>
            respond(onError.answer(error, seenOf(request, undefined))),
        }
  const guarded = withPortkeyAuth((request, { portkey, quota }) => route(request, portkey, quota), options as WebAuthOptions)
  return { ...(await serve(guarded)), verifier: guarded.verifier }
}

// Importing this module makes 'web' known to useGuardedApp(), useApp() and the adapter contract.
registerFramework('web', {
  portkeyAuth: (options) => withPortkeyAuth(() => new Response(), options as WebAuthOptions),
  requirePermissions,
  start: (guard, seen, quotas) =>
    startWeb(
      withPortkeyAuth((request, { portkey, quota }) => {
        if (rawPath(request.url) !== WHOAMI) return Response.json({ error: 'not found' }, { status: 404 })
        seen.push(portkey)
        quotas.push(quota)
        return Response.json({ portkey, quota })
      }, guard as WebAuthOptions),
    ),
  build,
  capabilities: {
    publicRoutes: false,
    hideCredentials: false,
    nodeRequest: false,
    mount: false,
    verifierPerSettings: true,
    middlewareHandle: true,
  },
})
