import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { KEY_DETAILS_PATH, VIRTUAL_KEYS_PATH } from '../lookup/control-plane.js'
import type { KeyRecord, VirtualKeyRecord } from '../types.js'
import { answerAdmin, foreignHost, STUB_ADMIN_PATH } from './stub-admin.js'

/** How the stub misbehaves while failing: a 500, a 503, a hang, a 200 that is not JSON, or a reset connection. */
export type FailureMode = 'error' | 'unavailable' | 'hang' | 'garbled' | 'reset'

/**
 * Decides whether a caller may use a virtual key: by its key id (`null` for a JWT, which the stub does not
 * verify) and its organisation (the key record's, or the JWT's `portkey_oid` / `organisation_id` claim read
 * without verification; `null` when it has none).
 */
export type VirtualKeyAccess = (slug: string, callerKeyId: string | null, organisationId: string | null) => boolean

/** One call the stub received. */
export interface StubCall {
  /** The request's method. */
  readonly method: string
  /** The request's path, without the query string. */
  readonly path: string
  /** The request's headers, as Node gives them (the caller's credential among them). */
  readonly headers: IncomingHttpHeaders
}

/** Options of `startControlPlaneStub()`. */
export interface ControlPlaneStubOptions {
  /** Known API keys and their records, by raw key. @default {} */
  keys?: Record<string, KeyRecord>
  /**
   * Virtual keys by slug. Like Portkey, the stub answers them to any known caller (401 otherwise,
   * 404 for an unknown slug) and leaves the workspace check to the verifier. @default {}
   */
  virtualKeys?: Record<string, VirtualKeyRecord>
  /**
   * A JWKS to serve at `/.well-known/jwks.json` (`stub.jwksUrl`); its JWT callers may look up virtual keys.
   * @default `{ keys: [] }`
   */
  jwks?: { keys: object[] }
  /**
   * Which callers may use which virtual key, as a data plane sees it when two keys of one workspace have
   * different access: a refused caller gets 404, as for an unknown slug. @default every known caller
   */
  virtualKeyAccess?: VirtualKeyAccess
  /** Delay before each answer, in milliseconds. @default 0 */
  delayMs?: number
  /** Port to listen on, on 127.0.0.1. @default 0 (a free port) */
  port?: number
  /**
   * Serve admin endpoints under `/_stub/` that change `keys` and `virtualKeys` over HTTP, as
   * `portkey-auth-stub` does: `GET /_stub` (every record), `PUT | PATCH | DELETE /_stub/keys/{raw key}` and
   * `/_stub/virtual-keys/{slug}`. They answer only a `Host` of 127.0.0.1 or localhost at the stub's port, and
   * no request with an `Origin`; they are neither counted in `calls()` nor delayed nor failed. @default false
   */
  admin?: boolean
}

/** A running stub of Portkey's control plane. */
export interface ControlPlaneStub {
  /** Base URL to give as `controlPlaneUrl`, e.g. `http://127.0.0.1:41234`. */
  readonly url: string
  /** URL of the JWKS the stub serves, for `jwt.jwksUrl`. */
  readonly jwksUrl: string
  /** The JWKS served; replace it to rotate keys. */
  jwks: { keys: object[] }
  /** Known API keys by raw key: add, change or delete records while it runs. */
  readonly keys: Map<string, KeyRecord>
  /** Virtual keys by slug: add, change or delete them while it runs. */
  readonly virtualKeys: Map<string, VirtualKeyRecord>
  /** Who may use which virtual key; replace it while it runs. `null`: every known caller. */
  virtualKeyAccess: VirtualKeyAccess | null
  /** Delay before each answer, in milliseconds; change it while it runs. */
  delayMs: number
  /** The calls received (the latest 1,000), oldest first. */
  readonly log: readonly StubCall[]
  /** How many calls were received, to `path` only when given (e.g. `'/v2/api-keys/self/details'`). */
  calls(path?: string): number
  /** Calls being answered now. */
  readonly inFlight: number
  /** The most calls in flight at once since the stub started, or since `resetCounts()`. */
  readonly peakInFlight: number
  /**
   * Makes calls fail in `mode`: every call, the next `times` calls, or a random `rate` (0..1) of them.
   * @example stub.fail('hang'); stub.fail('error', { times: 1 }); stub.fail('reset', { rate: 0.3 })
   */
  fail(mode: FailureMode, options?: { times?: number; rate?: number }): void
  /** Stops failing. */
  heal(): void
  /** Sets counters and the log back to zero. */
  resetCounts(): void
  /** Stops the server, dropping hanging calls. */
  close(): Promise<void>
}

const LOG_LIMIT = 1_000

/** Path of the JWKS the stub serves. */
export const JWKS_PATH = '/.well-known/jwks.json'

// The stub does not verify tokens (the verifier under test does); a JWT-shaped caller is let through.
const JWT_SHAPED = /^[\w-]+\.[\w-]+\.[\w-]*$/

/**
 * Starts a real `node:http` server on 127.0.0.1 that answers like Portkey's control plane for the records
 * it holds: for your own tests and demos, with no network and no Portkey account.
 *
 * @example
 * ```ts
 * const stub = await startControlPlaneStub({ keys: { 'pk-test': keyRecord({ id: 'key_1' }) } })
 * app.use(portkeyAuth({ controlPlaneUrl: stub.url }))
 * // ... stub.calls(KEY_DETAILS_PATH) === 1
 * await stub.close()
 * ```
 */
export async function startControlPlaneStub(options: ControlPlaneStubOptions = {}): Promise<ControlPlaneStub> {
  const calls = new CallLog()
  let failure: { mode: FailureMode; times: number; rate: number } | null = null
  const failing = (): FailureMode | null => {
    if (failure === null || (failure.rate < 1 && Math.random() >= failure.rate)) return null
    const { mode } = failure
    if (--failure.times <= 0) failure = null
    return mode
  }

  const admin = options.admin ?? false
  const server = createServer((req, res) => {
    const path = URL.parse(req.url ?? '/', 'http://stub')?.pathname
    if (path === undefined) return void res.writeHead(400).end()
    // The stub command (admin endpoints on) answers its own address only, on every path (DNS rebinding).
    if (admin && foreignHost(stub, req)) return void res.writeHead(403).end()
    if (admin && (path === STUB_ADMIN_PATH || path.startsWith(`${STUB_ADMIN_PATH}/`))) {
      answerAdmin(stub, req, res, path)
      return
    }
    calls.record(req, res, path)
    const reply = () => {
      const mode = failing()
      if (mode === null) answerAsPortkey(stub, req, res, path)
      else misbehave(mode, req, res)
    }
    if (stub.delayMs > 0) setTimeout(reply, stub.delayMs)
    else reply()
  })
  server.keepAliveTimeout = 60_000
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve())
  })
  const { port } = server.address() as AddressInfo

  const stub: ControlPlaneStub = {
    url: `http://127.0.0.1:${port}`,
    jwksUrl: `http://127.0.0.1:${port}${JWKS_PATH}`,
    jwks: options.jwks ?? { keys: [] },
    keys: new Map(Object.entries(options.keys ?? {})),
    virtualKeys: new Map(Object.entries(options.virtualKeys ?? {})),
    virtualKeyAccess: options.virtualKeyAccess ?? null,
    delayMs: options.delayMs ?? 0,
    log: calls.log,
    calls: (path) => calls.count(path),
    get inFlight() {
      return calls.inFlight
    },
    get peakInFlight() {
      return calls.peakInFlight
    },
    fail(mode, { times = Infinity, rate = 1 } = {}) {
      if (!(times >= 1) || !(rate > 0 && rate <= 1)) throw new RangeError('stub.fail: times must be >= 1 and rate in (0, 1]')
      failure = { mode, times, rate }
    },
    heal() {
      failure = null
    },
    resetCounts: () => calls.reset(),
    close() {
      server.closeAllConnections()
      return new Promise((resolve) => server.close(() => resolve()))
    },
  }
  return stub
}

/** The calls the stub received: counted by path, the latest `LOG_LIMIT` kept, and how many are open. */
class CallLog {
  readonly log: StubCall[] = []
  readonly #counts = new Map<string, number>()
  #total = 0
  inFlight = 0
  peakInFlight = 0

  record(req: IncomingMessage, res: ServerResponse, path: string): void {
    this.#total++
    this.#counts.set(path, (this.#counts.get(path) ?? 0) + 1)
    this.log.push({ method: req.method ?? 'GET', path, headers: req.headers })
    if (this.log.length > LOG_LIMIT) this.log.shift()
    this.peakInFlight = Math.max(this.peakInFlight, ++this.inFlight)
    res.once('close', () => this.inFlight--)
  }

  count(path?: string): number {
    return path === undefined ? this.#total : (this.#counts.get(path) ?? 0)
  }

  reset(): void {
    this.#total = 0
    this.peakInFlight = this.inFlight
    this.#counts.clear()
    this.log.length = 0
  }
}

/** What Portkey's control plane answers for the records the stub holds. */
function answerAsPortkey(stub: ControlPlaneStub, req: IncomingMessage, res: ServerResponse, path: string): void {
  const [status, body] = portkeyAnswer(stub, req, path)
  send(res, status, body)
}

function portkeyAnswer(stub: ControlPlaneStub, req: IncomingMessage, path: string): [number, unknown] {
  const notFound = [404, { status: 'failure', message: 'Not found' }] as [number, unknown]
  const invalidKey = [401, { status: 'failure', message: 'Invalid API Key' }] as [number, unknown]
  if (req.method !== 'GET') return notFound
  if (path === JWKS_PATH) return [200, stub.jwks]
  const credential = String(req.headers['x-portkey-api-key'] ?? '')
  const caller = stub.keys.get(credential)
  if (path === KEY_DETAILS_PATH) return caller ? [200, caller] : invalidKey
  if (!path.startsWith(VIRTUAL_KEYS_PATH)) return notFound
  if (caller === undefined && !JWT_SHAPED.test(credential)) return invalidKey
  const slug = decoded(path.slice(VIRTUAL_KEYS_PATH.length))
  const virtualKey = slug === null ? undefined : stub.virtualKeys.get(slug)
  const organisationId = caller === undefined ? organisationOfToken(credential) : caller.organisation_id
  const allowed = virtualKey !== undefined && (stub.virtualKeyAccess?.(slug!, caller?.id ?? null, organisationId) ?? true)
  return allowed ? [200, virtualKey] : notFound
}

/** A JWT's organisation claim, read without verifying the token (the verifier under test does that). */
function organisationOfToken(token: string): string | null {
  try {
    const claims = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>
    const organisation = claims.portkey_oid ?? claims.organisation_id
    return typeof organisation === 'string' ? organisation : null
  } catch {
    return null
  }
}

/** A call the stub was told to fail. */
function misbehave(mode: FailureMode, req: IncomingMessage, res: ServerResponse): void {
  if (mode === 'hang') return
  if (mode === 'reset') req.socket.destroy()
  else if (mode === 'garbled') send(res, 200, '<html>upstream error</html>', 'text/html')
  else send(res, mode === 'error' ? 500 : 503, { status: 'failure' })
}

function send(res: ServerResponse, status: number, body: unknown, type = 'application/json'): void {
  if (res.destroyed) return
  const text = typeof body === 'string' ? body : JSON.stringify(body)
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(text) }).end(text)
}

/** A path segment decoded, or `null` for a malformed percent-encoding (which names no virtual key). */
function decoded(segment: string): string | null {
  try {
    return decodeURIComponent(segment)
  } catch {
    return null
  }
}
