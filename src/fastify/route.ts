import type { FastifyRequest } from 'fastify'
import type { RequestRoute } from '../types.js'

const SLASH = 0x2f

// The scheme and authority of an absolute-form target ('http://host:port/path'), which the router drops.
const ABSOLUTE_FORM = /^https?:\/\/[^/?#]*/i

/** The router settings `initialConfig` shows: top-level in Fastify 4, also under `routerOptions` in Fastify 5. */
interface RouterConfig {
  readonly useSemicolonDelimiter?: unknown
  readonly routerOptions?: { readonly useSemicolonDelimiter?: unknown }
}

/**
 * Whether the app's router ends the path at a `;` as at a `?` (`useSemicolonDelimiter`: on by default in
 * Fastify 4, off in Fastify 5). `null` when its config does not say for sure: Fastify 5 shows `routerOptions`
 * with their defaults (`false`) filled in, also where its router takes the (deprecated) top-level setting.
 */
function semicolonEndsPath(config: RouterConfig): boolean | null {
  const top = config.useSemicolonDelimiter
  const nested = config.routerOptions?.useSemicolonDelimiter
  if (nested === true || (nested === false && top !== true)) return nested
  return nested === undefined && typeof top === 'boolean' ? top : null
}

/**
 * The method and the path Fastify's router routes the request on: the target before its query (`?`) and
 * fragment (`#`), and before a `;` where the router cuts there too; for an absolute-form target, from the
 * `/` after its authority. Nothing is decoded, as the scope map wants. A target the router could read some
 * other way (no path, or a `;` whose meaning the config leaves open) gives `''`, which the map refuses.
 */
export function fastifyRoute(request: FastifyRequest): RequestRoute {
  return { method: request.method, path: routePath(request.url, request.server.initialConfig as RouterConfig) }
}

function routePath(target: unknown, config: RouterConfig): string {
  if (typeof target !== 'string') return ''
  let start = 0
  if (target.charCodeAt(0) !== SLASH) {
    const origin = ABSOLUTE_FORM.exec(target)
    if (origin === null || target.charCodeAt(origin[0].length) !== SLASH) return ''
    start = origin[0].length
  }
  const end = before(target, '#', start, before(target, '?', start, target.length))
  const semicolon = before(target, ';', start, end)
  if (semicolon === end) return target.slice(start, end)
  const cuts = semicolonEndsPath(config)
  return cuts === null ? '' : target.slice(start, cuts ? semicolon : end)
}

/** The index of the first `char` in `text` from `start`, if it comes before `end`; else `end`. */
function before(text: string, char: string, start: number, end: number): number {
  const at = text.indexOf(char, start)
  return at !== -1 && at < end ? at : end
}
