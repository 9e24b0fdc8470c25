/** Option checks shared by every factory: each throws a `TypeError` that names the option and where its value came from. */

/** `"2000" (a string)`, `2000`, `null`, `[…] (an array)`: a value as a message shows it, with its type when that is the mistake. */
export function describe(value: unknown): string {
  if (typeof value === 'string') return `${JSON.stringify(value)} (a string)`
  if (typeof value === 'number' || typeof value === 'boolean' || value == null) return String(value)
  if (Array.isArray(value)) return 'an array'
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`
}

/** `timeoutMs`, or `controlPlaneUrl (from env PORTKEY_CONTROL_PLANE_URL)` when the environment gave it. */
export const named = (name: string, env?: string) => (env === undefined ? name : `${name} (from env ${env})`)

/** An integer within `[min, max]`. */
export function integer(name: string, value: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new TypeError(`portkey-auth: ${name} must be an integer from ${min} to ${max}, got ${describe(value)}`)
  }
  return value
}

/** A finite number within `[min, max]`; fractions allowed. */
export function numberIn(name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    throw new TypeError(`portkey-auth: ${name} must be a number from ${min} to ${max}, got ${describe(value)}`)
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
    const got = typeof value === 'string' ? JSON.stringify(withoutUserInfo(value)) : describe(value)
    throw new TypeError(`portkey-auth: ${name} must be an http(s) URL without query or fragment, got ${got}`)
  }
  // A password in the URL would be quoted by fetch's errors, probe() and logs: refused, and never echoed.
  if (url.username !== '' || url.password !== '') {
    throw new TypeError(
      `portkey-auth: ${name} must not carry a user name or password (got ${JSON.stringify(withoutUserInfo(value as string))}); ` +
        'send the control plane credentials with clientAuth (env PORTKEY_CLIENT_AUTH) instead',
    )
  }
  return url
}

/**
 * A URL-like string with everything between its scheme and its last `@` (user info: a name, a password, which may
 * hold a `/`, `?` or `#` the URL parser would stop at) replaced by `***`. Over-redacts a path with an `@` in it.
 */
export function withoutUserInfo(text: string): string {
  const at = text.lastIndexOf('@')
  if (at === -1) return text
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(text)?.[0] ?? ''
  return `${scheme}***${text.slice(at)}`
}

/**
 * Refuses names `options` has and `known` lacks — in JavaScript a misspelt option (`timeoutMS`,
 * `cache.ttl`) would otherwise be ignored and its default used — naming the closest known one.
 * `elsewhere` names options that belong to another function, to say so.
 */
export function knownNames(
  where: string,
  options: object,
  known: readonly string[],
  elsewhere: Readonly<Record<string, string>> = {},
) {
  for (const name of Object.keys(options)) {
    if (known.includes(name)) continue
    const path = where === '' ? name : `${where}.${name}`
    if (name in elsewhere) throw new TypeError(`portkey-auth: ${path} is an option of ${elsewhere[name]}, not of this function`)
    // A typo of another function's option (the middleware's `publicRoute`) is named as that option.
    const guess = closest(name, [...known, ...Object.keys(elsewhere)])
    const of = guess !== undefined && guess in elsewhere ? ` (an option of ${elsewhere[guess]})` : ''
    const hint =
      guess === undefined
        ? `known options: ${known.join(', ')}`
        : `did you mean ${where === '' ? guess : `${where}.${guess}`}${of}?`
    throw new TypeError(`portkey-auth: unknown option ${path}: ${hint}`)
  }
}

/** The known name nearest to `name`: the same but for case, else within a few edits, else one it starts or ends. */
function closest(name: string, known: readonly string[]): string | undefined {
  const lower = name.toLowerCase()
  let best: string | undefined
  let bestDistance = Math.max(2, Math.floor(name.length / 3)) + 1
  for (const candidate of known) {
    const distance = editDistance(lower, candidate.toLowerCase())
    if (distance < bestDistance) [best, bestDistance] = [candidate, distance]
  }
  return best ?? known.find((candidate) => candidate.toLowerCase().startsWith(lower) || lower.startsWith(candidate.toLowerCase()))
}

/** Levenshtein distance, for option names (a few dozen characters at most). */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    const current = [i]
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1))
    }
    previous = current
  }
  return previous[b.length]!
}
