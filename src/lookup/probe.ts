import { KEY_DETAILS_PATH } from './control-plane.js'
import { readCapped } from './capped-body.js'
import { networkFailure } from '../network-error.js'

/** One part of the set-up, checked by `verifier.probe()`. */
export interface ProbeCheck {
  /** What was checked. */
  readonly name: 'control plane' | 'jwks' | 'redis'
  /** Whether it can be reached and answers like itself. */
  readonly ok: boolean
  /**
   * What was found, in a sentence for a log or a readiness endpoint; never a credential. A passed check
   * ends with its time (`401 from /v2/api-keys/self/details in 12 ms`); a failed one says what is wrong.
   */
  readonly detail: string
  /** How long the check took, in milliseconds. */
  readonly durationMs: number
}

/**
 * What `verifier.probe()` found: `ok` when every check is. Serializes (`JSON.stringify`) to
 * `{ ok, checks }`, ready for a readiness endpoint's body.
 */
export interface ProbeResult {
  /** Whether every check passed. */
  readonly ok: boolean
  /** The parts in use, in this order: control plane, then JWKS and Redis when configured. */
  readonly checks: readonly ProbeCheck[]
  /** One line per check, e.g. `control plane: ok (401 from /v2/api-keys/self/details in 12 ms)`. */
  toString(): string
}

/** What the probe looks at; a part that is `null` is not in use and not checked. */
export interface ProbeTargets {
  /** The control plane's base URL; `null` with a custom `lookup` (nothing to reach). */
  readonly controlPlaneUrl: string | null
  /** Sent as `Authorization`, as the real look-up sends it; never echoed in a detail. */
  readonly clientAuth: string | undefined
  /** The JWKS URL; `null` without JWT or with an inline key set. */
  readonly jwksUrl: string | null
  /** Pings Redis: true when it answered; `null` without Redis. */
  readonly redis: (() => Promise<boolean>) | null
  /** Time allowed for each check, in milliseconds. */
  readonly timeoutMs: number
}

/** Most bytes read of the control plane's answer: its answer to a call without a key is a short JSON error. */
const CONTROL_PLANE_PEEK_BYTES = 4 * 1024
/** Most bytes read of a JWKS: a few RSA keys take a few KB; this leaves room for many. */
const JWKS_PEEK_BYTES = 256 * 1024

/** A check's finding before it is timed; `timed` adds the duration to a passed check's detail. */
interface Finding {
  readonly ok: boolean
  readonly detail: string
  readonly timed?: boolean
}

/** Checks every part in use, in parallel. Never throws: whatever goes wrong becomes a failed check. */
export async function probe(targets: ProbeTargets): Promise<ProbeResult> {
  const { controlPlaneUrl, clientAuth, jwksUrl, redis, timeoutMs } = targets
  const checks = await Promise.all([
    run('control plane', () =>
      controlPlaneUrl === null
        ? { ok: true, detail: 'custom lookup: not checked' }
        : checkControlPlane(controlPlaneUrl, clientAuth, timeoutMs),
    ),
    ...(jwksUrl === null ? [] : [run('jwks', () => checkJwks(jwksUrl, timeoutMs))]),
    ...(redis === null ? [] : [run('redis', () => checkRedis(redis, timeoutMs))]),
  ])
  const lines = checks.map((check) => `${check.name}: ${check.ok ? 'ok' : 'FAILED'} (${check.detail})`).join('\n')
  return Object.freeze({
    ok: checks.every((check) => check.ok),
    checks: Object.freeze(checks),
    toString: () => lines,
  })
}

async function run(name: ProbeCheck['name'], check: () => Finding | Promise<Finding>): Promise<ProbeCheck> {
  const started = performance.now()
  let finding: Finding
  try {
    finding = await check()
  } catch (error) {
    // A bug here must not break a readiness endpoint: it fails this check, and says so.
    finding = { ok: false, detail: `probe failed (${errorClass(error)})` }
  }
  const durationMs = Math.round(performance.now() - started)
  const detail = finding.ok && finding.timed ? `${finding.detail} in ${durationMs} ms` : finding.detail
  return Object.freeze({ name, ok: finding.ok, detail, durationMs })
}

/**
 * Calls the key-details endpoint with no key: Portkey's key service answers 401 (or 403) with a JSON
 * error, which proves the URL reaches it without needing a key the probe would have to hold.
 */
async function checkControlPlane(baseUrl: string, clientAuth: string | undefined, timeoutMs: number): Promise<Finding> {
  const headers: Record<string, string> = { accept: 'application/json' }
  if (clientAuth !== undefined) headers.authorization = clientAuth
  const signal = AbortSignal.timeout(timeoutMs)
  let response: Response
  try {
    response = await fetch(baseUrl + KEY_DETAILS_PATH, { headers, signal, redirect: 'manual' })
  } catch (error) {
    return { ok: false, detail: fetchFailure(error, baseUrl, timeoutMs) }
  }
  if (await redirected(response)) return { ok: false, detail: REDIRECT }
  const { status } = response
  const from = `${status} from ${KEY_DETAILS_PATH}`
  if (status === 404) {
    await response.body?.cancel()
    return { ok: false, detail: `404 on ${KEY_DETAILS_PATH}: is controlPlaneUrl the base URL, without /v1 or /v2?` }
  }
  if (status >= 500) {
    await response.body?.cancel()
    return { ok: false, detail: `failing: ${from}` }
  }
  if (status >= 200 && status < 300) {
    await response.body?.cancel()
    return { ok: false, detail: `${from} to a call without a key: not Portkey's key service` }
  }
  if (status !== 401 && status !== 403) {
    await response.body?.cancel()
    return { ok: false, detail: `${from}, expected 401 or 403 to a call without a key` }
  }
  const body = await readJson(response, CONTROL_PLANE_PEEK_BYTES, signal, timeoutMs)
  if (typeof body === 'string') return { ok: false, detail: `${from} ${body}: not Portkey's key service` }
  if (body.value === null || typeof body.value !== 'object') {
    return { ok: false, detail: `${from} with a JSON body that is not an object: not Portkey's key service` }
  }
  return { ok: true, detail: from, timed: true }
}

/** Fetches the JWKS as jose will: it must hold at least one key, or no token can be verified. */
async function checkJwks(jwksUrl: string, timeoutMs: number): Promise<Finding> {
  const signal = AbortSignal.timeout(timeoutMs)
  const path = new URL(jwksUrl).pathname
  let response: Response
  try {
    response = await fetch(jwksUrl, { headers: { accept: 'application/json' }, signal, redirect: 'manual' })
  } catch (error) {
    return { ok: false, detail: fetchFailure(error, jwksUrl, timeoutMs) }
  }
  if (await redirected(response)) return { ok: false, detail: REDIRECT }
  const from = `${response.status} from ${path}`
  if (response.status !== 200) {
    await response.body?.cancel()
    return { ok: false, detail: `${response.status >= 500 ? 'failing: ' : ''}${from}, expected 200 with a JSON Web Key Set` }
  }
  const body = await readJson(response, JWKS_PEEK_BYTES, signal, timeoutMs)
  if (typeof body === 'string') return { ok: false, detail: `${from} ${body}: not a JSON Web Key Set` }
  const keys = body.value !== null && typeof body.value === 'object' ? (body.value as { keys?: unknown }).keys : undefined
  if (!Array.isArray(keys)) return { ok: false, detail: `${from} has no "keys" list: not a JSON Web Key Set` }
  if (keys.length === 0) return { ok: false, detail: `${from} holds 0 keys: no token can be verified` }
  return { ok: true, detail: `${keys.length} ${keys.length === 1 ? 'key' : 'keys'} from ${path}`, timed: true }
}

async function checkRedis(ping: () => Promise<boolean>, timeoutMs: number): Promise<Finding> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), timeoutMs)
  })
  try {
    const answer = await Promise.race([ping(), late])
    if (answer === 'late') return { ok: false, detail: `no answer to PING within ${timeoutMs} ms` }
    return answer === true ? { ok: true, detail: 'PONG', timed: true } : { ok: false, detail: 'no answer to PING' }
  } catch (error) {
    return { ok: false, detail: `no answer to PING (${errorCode(error)})` }
  } finally {
    clearTimeout(timer)
  }
}

/**
 * The body as JSON (`{ value }`), or a phrase saying why not ("with an HTML page"). Reads at most
 * `maxBytes` and cancels the rest: the probe only needs to see what kind of answer this is.
 */
async function readJson(
  response: Response,
  maxBytes: number,
  signal: AbortSignal,
  timeoutMs: number,
): Promise<{ value: unknown } | string> {
  const type = response.headers.get('content-type') ?? 'no content-type'
  let text: string | null
  try {
    text = await readCapped(response, maxBytes)
  } catch (error) {
    return signal.aborted ? `but its body did not come within ${timeoutMs} ms` : `but its body was cut off (${reason(error)})`
  }
  if (text === null) return `with a body over ${maxBytes / 1024} KB (${type})`
  try {
    return { value: JSON.parse(text) }
  } catch {
    return /html/i.test(type) || /^\s*</.test(text) ? `with an HTML page (${type})` : `with a body that is not JSON (${type})`
  }
}

/** Why a fetch failed, in words; names the host (never the URL's user info) so a wrong one stands out. */
function fetchFailure(error: unknown, url: string, timeoutMs: number): string {
  if (networkFailure(error)?.code === 'timeout') return `unreachable: no answer within ${timeoutMs} ms`
  return `unreachable: ${reason(error)} (${new URL(url).host})`
}

const REDIRECT = 'answered with a redirect, which is not followed: give the final URL'

/**
 * Whether the answer is a redirect (fetched with `redirect: 'manual'`, which every runtime accepts: a 3xx, or
 * the opaque answer a browser-like runtime gives); its body is dropped then.
 */
async function redirected(response: Response): Promise<boolean> {
  if (response.type !== 'opaqueredirect' && (response.status < 300 || response.status > 399)) return false
  await response.body?.cancel()
  return true
}

/**
 * fetch() rejects with a bare "fetch failed"; what happened is in its cause. Said with a code or a class only:
 * a foreign error's message may quote a URL, a host's answer or a secret, and the probe's output is meant for
 * a readiness endpoint's body.
 */
function reason(error: unknown): string {
  const failure = networkFailure(error)
  if (failure !== null) return failure.words
  return errorCode(error instanceof Error && error.cause instanceof Error ? error.cause : error)
}

/** An error's `code` when it is a plain word (ECONNREFUSED, UND_ERR_SOCKET), else its class. */
function errorCode(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code
  return typeof code === 'string' && /^[A-Z][A-Z0-9_]{1,40}$/.test(code) ? code : errorClass(error)
}

/** An error's class name (a word), never its message. */
function errorClass(error: unknown): string {
  const name = error instanceof Error ? error.name : typeof error
  return /^\w{1,40}$/.test(name) ? name : 'Error'
}
