import type { IncomingMessage } from 'node:http'
import { afterAll, beforeAll } from 'vitest'
import type { MiddlewareOptions } from '../../src/adapters/middleware-options.js'
import type { AuthError } from '../../src/errors.js'
import type { PortkeyAuth, Quota } from '../../src/types.js'
import type { Verifier } from '../../src/verifier/create-verifier.js'
import { type ControlPlaneStub, type ControlPlaneStubOptions, startControlPlaneStub } from '../../src/testing/index.js'
import { closeAfterTest, contractFramework, type Running } from './servers.js'

// An app described once, without a framework, and built by each registered adapter with its own router,
// middleware and error handling: a suite that loops over ADAPTERS writes its app once.

/** The request's header views as a handler (or an error handler) reads them. */
export interface HeaderViews {
  /** Node's `headers` (the Web adapter: the Request's headers, as an object). */
  headers: Record<string, unknown>
  /** Node's `headersDistinct`: absent where the handler gets a Web Request only. */
  distinct?: Record<string, unknown>
  /** Node's `rawHeaders`: absent where the handler gets a Web Request only. */
  raw?: string[]
  /** The Web Request's headers, where the handler gets one (Hono's `c.req.raw`, the Web adapter's request). */
  web?: Record<string, string>
}

/** What a handler (or an error handler) sees of a request, the same on every adapter. */
export interface Seen {
  readonly portkey: PortkeyAuth | undefined
  /** The quota attached beside it (the adapter's `quotaOf()`, the Web handler's `quota`): `null` when none. */
  readonly quota: Quota | null
  readonly method: string
  /**
   * The path the app got, undecoded: Express `req.baseUrl + req.path`, Koa `ctx.path` (under a mount, the
   * mounted app's own), Fastify the target's path as sent, Hono and the Web adapter the Request URL's pathname
   * (which the runtime parsed: dot segments resolved).
   */
  readonly path: string
  /** Node's request, where the adapter has one (all but the Web adapter). */
  readonly node: IncomingMessage | undefined
  views(): HeaderViews
  /** The body, parsed as JSON. */
  json(): Promise<unknown>
}

/** A response an error handler writes. */
export interface Answer {
  status: number
  headers?: Record<string, string>
  body: unknown
}

interface Route {
  /** Only this method (`GET` takes `HEAD` too); any when absent. */
  method?: string
  /** The path, routed by the framework's router (Koa and Web: matched exactly); every path when absent (the catch-all, last). */
  path?: string
  /** A `requirePermissions(...scopes)` in front of the handler. */
  scopes?: string[]
  /** Answers 200 with this JSON body. */
  answer(seen: Seen): unknown
}

export interface AppSpec {
  /** `portkeyAuth()`'s options (or a verifier); `null` leaves it out. */
  auth: MiddlewareOptions | Verifier | null
  /** Routes in order; a request none matches gets a 404. */
  routes: readonly Route[]
  /** Runs on every request before `portkeyAuth()`. */
  before?: (seen: Seen) => void
  /**
   * Who answers a rejection, with `answer`: `portkeyAuth()`'s `onError` ('option'), or the app's own error
   * handling ('app': Express `next(error)`, Koa, Fastify and Hono a throw; the Web adapter has none, so its
   * `onError`). Absent: the adapter's default answer.
   */
  onError?: { via: 'option' | 'app'; answer(error: AuthError, seen: Seen): Answer }
  /** Mounts `portkeyAuth()` and the routes under this prefix (only where `capabilities.mount`). */
  prefix?: string
}

/** An app built from an `AppSpec`. */
export interface BuiltApp extends Running {
  /** The verifier of its `portkeyAuth()` (`undefined` without one). */
  readonly verifier: Verifier | undefined
}

/** What differs between adapters by design, so a shared suite tests each adapter's documented behaviour. */
export interface Capabilities {
  /** `publicRoutes` is taken (the Web adapter refuses it at creation: a handler needing no key is left unwrapped). */
  publicRoutes: boolean
  /** `hideCredentials` is taken (the Web adapter refuses it: a Web Request's headers may be immutable). */
  hideCredentials: boolean
  /** The handler reads Node's request, so Node's three header views (the Web adapter's handler gets a Request). */
  nodeRequest: boolean
  /** `portkeyAuth()` and routes can be mounted under a prefix. */
  mount: boolean
  /**
   * Guards made with the same settings share one verifier (the Web adapter: each route file of a Next.js app
   * wraps its own handler); elsewhere each middleware made from options has its own.
   */
  verifierPerSettings: boolean
  /** `portkeyAuth(options)` returns the middleware, which carries `verifier` (not Fastify: a plugin). */
  middlewareHandle: boolean
}

/** Reads `options` as the object form, for adding `onError` to a verifier passed alone. */
export function asOptions<T>(auth: MiddlewareOptions<T> | Verifier): MiddlewareOptions<T> {
  return typeof (auth as Partial<Verifier>).check === 'function' ? { verifier: auth as Verifier } : (auth as MiddlewareOptions<T>)
}

/** Writes Node's header views of `req`. */
export const nodeViews = (req: IncomingMessage): HeaderViews => ({
  headers: req.headers,
  distinct: req.headersDistinct,
  raw: req.rawHeaders,
})

/** Reads a Node request's body as JSON (`undefined` when empty). */
export async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = []
  for await (const chunk of req) chunks.push(chunk as Buffer)
  const text = Buffer.concat(chunks).toString('utf8')
  return text === '' ? undefined : JSON.parse(text)
}

/** What `startApp()` and `useApp()` take: an `AppSpec`, whose app may come with a control-plane stub of its own. */
export interface StartSpec extends Omit<AppSpec, 'auth'> {
  /** Starts a control-plane stub with these options before the app, closed after it (`app.stub`). */
  stub?: ControlPlaneStubOptions
  /** `AppSpec`'s `auth`, or a function of the stub `stub` started that gives it. */
  auth: AppSpec['auth'] | ((stub: ControlPlaneStub) => AppSpec['auth'])
}

/** An app started with a stub of its own. */
type StubbedApp = BuiltApp & { readonly stub: ControlPlaneStub }

/**
 * Starts the app `spec` describes on `adapter`, with its router, middleware and error handling (and, given
 * `spec.stub`, a control-plane stub first); the caller closes it (see `shared()`). An app that needs what only one
 * framework has (its error handler's signature, a mount, a plugin) is set up natively instead: `startExpress()`,
 * `startKoa()` (servers.ts), `startFastify()` (test/fastify/app.ts).
 */
export function startApp(adapter: string, spec: StartSpec & { stub: ControlPlaneStubOptions }): Promise<StubbedApp>
export function startApp(adapter: string, spec: StartSpec): Promise<BuiltApp>
export async function startApp(adapter: string, { stub: stubOptions, auth, ...spec }: StartSpec): Promise<BuiltApp | StubbedApp> {
  const { build } = contractFramework(adapter)
  if (stubOptions === undefined) {
    if (typeof auth === 'function') throw new Error('startApp(): auth is a function of the stub, but there is no stub')
    return build({ ...spec, auth })
  }
  const stub = await startControlPlaneStub(stubOptions)
  try {
    const app = await build({ ...spec, auth: typeof auth === 'function' ? auth(stub) : auth })
    return { ...app, stub, close: () => app.close().then(() => stub.close()) }
  } catch (error) {
    await stub.close()
    throw error
  }
}

/** `startApp()`, closed when the current test ends. */
export async function useApp(adapter: string, spec: StartSpec & { stub: ControlPlaneStubOptions }): Promise<StubbedApp>
export async function useApp(adapter: string, spec: StartSpec): Promise<BuiltApp>
export async function useApp(adapter: string, spec: StartSpec): Promise<BuiltApp> {
  return closeAfterTest(await startApp(adapter, spec))
}

/**
 * One resource for every test of the enclosing describe (made in beforeAll, closed in afterAll): starting an app
 * and a stub per test costs more than the test. The returned function reads it.
 */
export function shared<T extends { close(): Promise<void> }>(make: () => Promise<T>): () => T {
  let value: T | undefined
  beforeAll(async () => {
    value = await make()
  })
  afterAll(() => value?.close())
  return () => {
    if (value === undefined) throw new Error('shared(): read before beforeAll ran')
    return value
  }
}
