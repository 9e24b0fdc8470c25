const SLASH = 0x2f

/** What a refused path is told: the routes of the scope map (or of the rate limits) cannot be checked against it. */
export const AMBIGUOUS_PATH =
  'The request path cannot be matched to a route safely: ' +
  'send it without dot segments, backslashes, encoded slashes or needlessly encoded characters.'

const DOT_SEGMENT = /\/\.\.?(?:\/|$)/
// A malformed escape, or one of '/', '\\' or an unreserved character (letters, digits, '-', '.', '_', '~'):
// routers, proxies and upstreams disagree on whether to decode those before routing.
const RISKY_ESCAPE = /%(?![0-9a-f]{2})|%(?:2[d-f]|3\d|[46][1-9a-f]|5[0-9acf]|7[0-9ae])/i

/** Whether every router, proxy and upstream reads `path` as the same route. Cheap for the usual path. */
export function unambiguous(path: string): boolean {
  if (typeof path !== 'string' || path.charCodeAt(0) !== SLASH) return false
  // A query or a fragment is no part of a path: a caller's own integration that passed `req.url` must not match less.
  if (path.includes('?') || path.includes('#')) return false
  if (path.indexOf('%') === -1 && path.indexOf('\\') === -1 && path.indexOf('/.') === -1) return true
  return !path.includes('\\') && !DOT_SEGMENT.test(path) && !RISKY_ESCAPE.test(path)
}
