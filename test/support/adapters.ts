// Every adapter, registered for useGuardedApp(): importing this module registers the three whose test folders
// do (Express and Koa register in servers.ts). A suite that loops over ADAPTERS runs on all five.
import '../fastify/app.js'
import '../hono/server.js'
import '../web/server.js'

/** The five adapters, by the name `useGuardedApp()` knows them by. */
export const ADAPTERS = ['express', 'koa', 'fastify', 'hono', 'web'] as const

export type AdapterName = (typeof ADAPTERS)[number]
