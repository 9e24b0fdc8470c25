/** Option checks shared by every factory: each throws a `TypeError` that names the option. */

/** An integer within `[min, max]`. */
export function integer(name: string, value: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new TypeError(`portkey-auth: ${name} must be an integer from ${min} to ${max}, got ${String(value)}`)
  }
  return value
}

/** A finite number within `[min, max]`; fractions allowed. */
export function numberIn(name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    throw new TypeError(`portkey-auth: ${name} must be a number from ${min} to ${max}, got ${String(value)}`)
  }
  return value
}

/** An absolute http(s) URL with no query string or fragment. */
export function httpUrl(name: string, value: unknown): URL {
  let url: URL | undefined
  try {
    url = typeof value === 'string' ? new URL(value) : undefined
  } catch {
    // reported below
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.search !== '' || url.hash !== '') {
    throw new TypeError(`portkey-auth: ${name} must be an http(s) URL without query or fragment, got ${JSON.stringify(value)}`)
  }
  return url
}
