// Every adapter, registered for useGuardedApp(): importing this module registers the three whose test folders
// do (Express and Koa register in servers.ts). A suite that loops over ADAPTERS runs on all five.
import '../fastify/app.js'
import '../hono/server.js'
import '../web/server.js'

const ALL = ['express', 'koa', 'fastify', 'hono', 'web'] as const

export type AdapterName = (typeof ALL)[number]

/**
 * The five adapters, by the name `useGuardedApp()` knows them by; in the project of the previous framework
 * majors (env `ADAPTERS`), only those that have one.
 */
export const ADAPTERS: readonly AdapterName[] = process.env.ADAPTERS
  ? ALL.filter((name) => process.env.ADAPTERS!.split(',').includes(name))
  : ALL
