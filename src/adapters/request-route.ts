import type { RequestRoute } from '../types.js'

const SLASH = 0x2f
const QUERY = 0x3f
const FRAGMENT = 0x23
const BACKSLASH = 0x5c

/**
 * The path of an absolute URL exactly as written in it: from the `/` that ends the authority up to the
 * query or fragment, with nothing decoded or resolved. `new URL(url).pathname` would resolve `..` and
 * `%2e` segments (and turn `\` into `/`), so the scope map would check a path other than the one in the
 * request; this keeps every encoded character for its ambiguity check to refuse. Anything odd (no
 * `scheme://`, an authority ended by `?`, `#` or `\`, no path) gives `''`, which the scope map refuses.
 */
export function rawPath(url: string): string {
  const authority = typeof url === 'string' ? url.indexOf('://') : -1
  if (authority === -1) return ''
  let start = -1
  for (let i = authority + 3; i < url.length; i++) {
    const code = url.charCodeAt(i)
    if (code === SLASH) {
      start = i
      break
    }
    if (code === QUERY || code === FRAGMENT || code === BACKSLASH) return ''
  }
  if (start === -1) return ''
  for (let i = start; i < url.length; i++) {
    const code = url.charCodeAt(i)
    if (code === QUERY || code === FRAGMENT) return url.slice(start, i)
  }
  return url.slice(start)
}

/**
 * The method and the path a Web `Request` is routed on, for the scope map and `publicRoutes`. Hono routes
 * on `request.url` decoded (its `getPath`), Next.js and the other file-system routers on its pathname: both
 * start from this raw path, which runtimes have already normalised when they built the `Request` (dot
 * segments resolved), so the check sees what the router sees, before any decoding.
 */
export function requestRoute(request: Request): RequestRoute {
  return { method: request.method, path: rawPath(request.url) }
}
