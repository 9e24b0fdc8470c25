import { type Agent, type IncomingHttpHeaders, type OutgoingHttpHeaders, request } from 'node:http'
import express, { type Express } from 'express'
import Koa from 'koa'
import { expect, onTestFinished } from 'vitest'
import { startRawServer } from './core-helpers.js'
import type { AppSpec, BuiltApp, Capabilities } from './apps.js'
import type { AuthErrorBody, AuthErrorCode } from '../../src/errors.js'
import type { MiddlewareOptions } from '../../src/adapters/middleware-options.js'
import type { PortkeyAuth, Quota } from '../../src/types.js'
import type { Verifier } from '../../src/verifier/create-verifier.js'
import { type ControlPlaneStub, type ControlPlaneStubOptions, keyRecord, startControlPlaneStub } from '../../src/testing/index.js'

/** A server listening on 127.0.0.1. */
export interface Running {
  /** Base URL, e.g. `http://127.0.0.1:41234`, no trailing slash. */
  readonly url: string
  /** Stops listening and drops open connections (kept-alive ones included). */
  close(): Promise<void>
}

/** Starts an Express 5 app set up by `setup` (middleware, routes, error handlers). */
export function startExpress(setup: (app: Express) => void): Promise<Running> {
  const app = express()
  setup(app)
  return startRawServer(app)
}

/** Starts a Koa 3 app set up by `setup`. Errors Koa would log are kept quiet (tests assert them). */
export function startKoa(setup: (app: Koa) => void): Promise<Running> {
  const app = new Koa()
  app.silent = true
  setup(app)
  return startRawServer(app.callback())
}

/** Closes `resource` when the current test ends, passed or failed. */
export function closeAfterTest<T extends { close(): Promise<void> }>(resource: T): T {
  onTestFinished(() => resource.close())
  return resource
}

/** Starts a control-plane stub that is closed when the current test ends. */
export async function useStub(options?: ControlPlaneStubOptions): Promise<ControlPlaneStub> {
  return closeAfterTest(await startControlPlaneStub(options))
}

/** An app guarded by `portkeyAuth`, whose only route (`/whoami`, any method) answers `{ portkey, quota }`. */
export interface GuardedApp extends Running {
  /** The contexts the route handler received, in order: a rejected request adds none. */
  readonly seen: PortkeyAuth[]
  /** The quotas beside them (the adapter's `quotaOf()`, the Web handler's `quota`), in the same order. */
  readonly quotas: (Quota | null)[]
}

export const WHOAMI = '/whoami'

/**
 * An adapter, registered once (by its test folder's app module, all imported by test/support/adapters.ts): what
 * `useGuardedApp()`, `useApp()` and the adapter contract need of it.
 */
interface ContractFramework {
  /** The adapter's factory, called for its construction errors (TypeError) only. */
  portkeyAuth(options?: MiddlewareOptions | Verifier): unknown
  /** The adapter's `requirePermissions()`, called for its construction errors only. */
  requirePermissions(...scopes: string[]): unknown
  /**
   * Serves `/whoami` (any method) behind `portkeyAuth(guard)`, answering `{ portkey, quota }`; pushes each context
   * it sees to `seen`, and the quota beside it to `quotas`.
   */
  start(guard: MiddlewareOptions | Verifier | undefined, seen: PortkeyAuth[], quotas: (Quota | null)[]): Promise<Running>
  /** Builds the app `spec` describes with this framework's router, middleware and error handling. */
  build(spec: AppSpec): Promise<BuiltApp>
  /** What this adapter does differently by design. */
  capabilities: Capabilities
}

const CONTRACT_FRAMEWORKS = new Map<string, ContractFramework>()

/** Makes a framework known to `useGuardedApp()`, `useApp()` and the adapter contract (its app module calls this). */
export function registerFramework(name: string, framework: ContractFramework): void {
  CONTRACT_FRAMEWORKS.set(name, framework)
}

/** A registered framework, or a clear failure. */
export function contractFramework(name: string): ContractFramework {
  const framework = CONTRACT_FRAMEWORKS.get(name)
  if (framework === undefined) throw new Error(`no framework registered as ${name}: import test/support/adapters.js`)
  return framework
}

/**
 * Starts an app of `framework` with `portkeyAuth(guard)` in front of `/whoami`, closed when the current
 * test ends. Every registered framework answers the same way, so one test body covers them all.
 */
export async function useGuardedApp(framework: string, guard?: MiddlewareOptions | Verifier): Promise<GuardedApp> {
  const [seen, quotas]: [PortkeyAuth[], (Quota | null)[]] = [[], []]
  const running = await contractFramework(framework).start(guard, seen, quotas)
  return closeAfterTest({ ...running, seen, quotas })
}

/** A response read in full. */
export interface RawResponse {
  readonly status: number
  readonly headers: IncomingHttpHeaders
  readonly text: string
  json<T = unknown>(): T
}

/**
 * Sends one request with plain `node:http`, on a fresh connection unless `init.agent` keeps them alive.
 * Unlike `fetch`, it sends a header given as an array as that many header lines, which is how a
 * duplicated credential is tested.
 */
export function send(
  url: string,
  headers: OutgoingHttpHeaders = {},
  init: { method?: string; body?: string; agent?: Agent } = {},
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: init.method ?? 'GET', headers, agent: init.agent ?? false }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('error', reject)
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: <T>() => JSON.parse(text) as T })
      })
    })
    req.on('error', reject)
    req.end(init.body)
  })
}

/** Sends `x-portkey-api-key: key` (no header at all when `key` is undefined) to `app`'s `/whoami`. */
export function sendKey(app: Running, key: string | string[] | undefined): Promise<RawResponse> {
  return send(app.url + WHOAMI, key === undefined ? {} : { 'x-portkey-api-key': key })
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

// ---------------------------------------------------------------------------------------------------
// The adapter contract: what both middlewares must do, written once and run by test/express and
// test/koa against their own framework, over real HTTP, with a real control-plane stub.
// ---------------------------------------------------------------------------------------------------

/** Keys the stub knows in most tests. */
export const LIVE = 'pk-live-0123456789abcdef'
export const OTHER = 'pk-other-0123456789abcdef'
export const UNKNOWN = 'pk-unknown-0123456789abcdef'

/** Fresh records each time: some dates are relative to now. */
export function seedKeys() {
  return {
    [LIVE]: keyRecord({ id: 'key_live' }),
    [OTHER]: keyRecord({ id: 'key_other' }),
    'pk-archived': keyRecord({ status: 'archived' }),
    'pk-status-expired': keyRecord({ status: 'expired' }),
    'pk-date-expired': keyRecord({ expires_at: new Date(Date.now() - 60_000).toISOString() }),
    'pk-exhausted': keyRecord({ status: 'exhausted' }),
  }
}

/** The `error.type` expected for each status (OpenAI's convention), written out here rather than imported. */
const TYPE_BY_STATUS: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  412: 'usage_limit_error',
  429: 'rate_limit_error',
  500: 'api_error',
  503: 'service_unavailable_error',
}

/**
 * Asserts a rejection: its status, the exact body `{ status, message, error: { message, type, code } }`,
 * and that none of `secrets` (the credential sent) shows in the body or the headers.
 */
export function expectRejection(
  res: RawResponse,
  status: number,
  code: AuthErrorCode,
  secrets: readonly string[] = [],
): AuthErrorBody {
  expect({ status: res.status, text: res.text }).toMatchObject({ status })
  expect(res.headers['content-type']).toMatch(/^application\/json/)
  const body = res.json<AuthErrorBody>()
  expect(body).toStrictEqual({
    status: 'failure',
    message: expect.stringMatching(/\S/),
    error: { message: body.message, type: TYPE_BY_STATUS[status], code },
  })
  for (const secret of secrets) {
    expect(res.text).not.toContain(secret)
    expect(JSON.stringify(res.headers)).not.toContain(secret)
  }
  return body
}
