import { hideCredential } from './hide-credential.js'
import type { MiddlewareFeatures } from './middleware-options.js'
import { compilePublicRoutes } from './public-routes.js'

/**
 * What the adapters of servers (Express, Koa, Fastify, Hono) give beyond the check: `publicRoutes` and
 * `hideCredentials`. The Web adapter gives neither (a Web `Request`'s headers cannot always be changed, and a
 * handler that needs no key is left unwrapped), so its bundles carry neither's code.
 */
export const SERVER_FEATURES: MiddlewareFeatures = { names: 'node', publicRoutes: compilePublicRoutes, hideCredential }
