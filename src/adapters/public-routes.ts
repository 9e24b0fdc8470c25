import { describe } from '../options/validate.js'
import { unambiguous } from '../permissions/path-shape.js'
import type { RequestRoute } from '../types.js'

/** Whether a request may go on with no credential check: its route is one of the `publicRoutes`. */
export type PublicRouteTest = (route: RequestRoute) => boolean

/** The methods an entry allows; `null` for any. */
type Methods = ReadonlySet<string> | null

// 'GET /health', '/health', '/docs/*': an optional upper-case method, then a path of visible ASCII.
const ENTRY = /^(?:([A-Z]+) )?(\/[\x21-\x7e]*)$/

const ENCODED_PERCENT = /%25/

const SLASH = 0x2f
const SEMICOLON = 0x3b

/**
 * Whether `path`, which starts with a prefix entry's `start` (ending in '/'), names something under it: a
 * first segment after the prefix that is not empty and does not begin with ';'. The rest (`/docs/`,
 * `/docs//`, `/docs/;x`) is the prefix's own base route once a router folds a trailing or repeated slash or
 * ends the path at a ';' (Express and Koa routers by default, Fastify's `ignoreTrailingSlash` and
 * `useSemicolonDelimiter`, Hono's `strict: false`), and that route is not public.
 */
function namesChild(path: string, start: number): boolean {
  const first = path.charCodeAt(start)
  return start < path.length && first !== SLASH && first !== SEMICOLON
}

const allows = (methods: Methods, method: string) => methods === null || methods.has(method)

/**
 * Compiles the `publicRoutes` option once, when the middleware is made: `null` when it lists nothing (so the
 * request path pays nothing), else the per-request test. Throws a `TypeError` for a malformed entry.
 *
 * A route is public when its path is exactly an entry's path (case-sensitive, byte for byte: no trailing
 * slash, no decoding) or, for an entry ending in `/*`, names something under its prefix (a first segment
 * after it that is neither empty nor begins with `;`: `/docs/x`, never `/docs/`, `/docs//` or `/docs/;x`,
 * which folding routers send to `/docs`); and its method
 * is the entry's (a `GET` entry also covers `HEAD`, which routers answer with the GET handler), or any for an
 * entry without one. A path the scope map would refuse as ambiguous is never public, nor a path under a
 * prefix with an encoded `%` in it.
 */
export function compilePublicRoutes(entries: unknown): PublicRouteTest | null {
  if (entries === undefined) return null
  if (!Array.isArray(entries)) {
    throw new TypeError(
      `portkey-auth: publicRoutes must be an array of routes like '/health' or 'GET /health', got ${describe(entries)}`,
    )
  }
  const exact = new Map<string, Methods>()
  const prefixes = new Map<string, Methods>()
  for (const entry of entries as unknown[]) {
    const { method, path, prefix } = parseEntry(entry)
    const table = prefix ? prefixes : exact
    const known = table.get(path)
    if (method === null || known === null) table.set(path, null)
    else table.set(path, new Set([...(known ?? []), method, ...(method === 'GET' ? ['HEAD'] : [])]))
  }
  if (exact.size === 0 && prefixes.size === 0) return null
  const starts = [...prefixes.keys()]
  const startMethods = [...prefixes.values()]
  return function isPublic({ method, path }) {
    const methods = exact.get(path)
    if (methods !== undefined && allows(methods, method)) return unambiguous(path)
    for (let i = 0; i < starts.length; i++) {
      // The tail under a prefix is the client's: no '%25' either, which a second decoding turns into an escape.
      const start = starts[i]!
      if (path.startsWith(start) && allows(startMethods[i]!, method)) {
        return namesChild(path, start.length) && unambiguous(path) && !ENCODED_PERCENT.test(path)
      }
    }
    return false
  }
}

/** One entry, checked: its method (`null` for any) and its path, or the prefix before its `*`. */
function parseEntry(entry: unknown): { method: string | null; path: string; prefix: boolean } {
  const invalid = (why: string) =>
    new TypeError(
      `portkey-auth: publicRoutes entry ${typeof entry === 'string' ? JSON.stringify(entry) : describe(entry)} ${why}`,
    )
  const match = typeof entry === 'string' ? ENTRY.exec(entry) : null
  if (match === null) throw invalid("must look like '/health', 'GET /health' or '/docs/*'")
  const whole = match[2]!
  const prefix = whole.endsWith('/*')
  const path = prefix ? whole.slice(0, -1) : whole
  if (/[?#]/.test(path)) throw invalid('must be a path alone: the query string and fragment are never part of the route')
  if (path.includes('*')) throw invalid("may only end in '/*' (every path under a prefix), with no other '*'")
  if (/\/:/.test(path)) throw invalid('names a route parameter: list exact paths, or a prefix ending in /*')
  if (prefix && path === '/') throw invalid('would make every route public: leave those routes out of portkeyAuth() instead')
  if (!unambiguous(path)) throw invalid('has a dot segment, a backslash or an encoded character that routers read differently')
  return { method: match[1] ?? null, path, prefix }
}
