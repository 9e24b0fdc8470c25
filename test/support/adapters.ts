// Every adapter, registered once by its test folder's app module for useGuardedApp(), useApp() and the
// adapter contract: importing this module registers all five. A suite that loops over ADAPTERS runs on all five.
import '../express/app.js'
import '../koa/app.js'
import '../fastify/app.js'
import '../hono/server.js'
import '../web/server.js'

import type { Capabilities } from './apps.js'
import { contractFramework } from './servers.js'

const ALL = ['express', 'koa', 'fastify', 'hono', 'web'] as const

export type AdapterName = (typeof ALL)[number]

/**
 * The five adapters, by the name `useGuardedApp()` knows them by; in the project of the previous framework
 * majors (env `ADAPTERS`), only those that have one.
 */
export const ADAPTERS: readonly AdapterName[] = process.env.ADAPTERS
  ? ALL.filter((name) => process.env.ADAPTERS!.split(',').includes(name))
  : ALL

/** What `adapter` does differently by design (see `Capabilities`). */
export const capabilities = (adapter: AdapterName): Capabilities => contractFramework(adapter).capabilities
