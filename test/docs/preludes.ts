/**
 * Context a code fragment of the docs may use without showing it, by name: `<!-- check: prelude=express -->`
 * (several: `prelude=express,placeholders`). Each is a TypeScript module of `export declare const` lines,
 * written beside the blocks as `preludes/<name>.mts` and type-checked itself; a block using it gets one invisible
 * first line importing the names it does not declare itself (so line numbers still map, and `.js` blocks can use
 * them too). Only values: a type a block needs is imported by the block, as a reader would.
 */
export const PRELUDES: Record<string, string> = {
  /** An Express app, and the arguments of a route handler. */
  express: `
import type { Express, NextFunction, Request, Response } from 'express'
export declare const app: Express
export declare const req: Request
export declare const res: Response
export declare const next: NextFunction
`,
  /** A Koa app, and the arguments of a middleware. */
  koa: `
import type Koa from 'koa'
export declare const app: Koa
export declare const ctx: Koa.Context
export declare const next: Koa.Next
`,
  /** A Fastify instance (the root one, or a plugin's), and the arguments of a hook. */
  fastify: `
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
export declare const app: FastifyInstance
export declare const request: FastifyRequest
export declare const reply: FastifyReply
`,
  /** A Hono app typed with the package's \`PortkeyEnv\`, and a handler's context. */
  hono: `
import type { Context, Hono } from 'hono'
import type { PortkeyEnv } from 'portkey-auth/hono'
export declare const app: Hono<PortkeyEnv>
export declare const c: Context<PortkeyEnv>
`,
  /** A Web-standard \`Request\` (a Next.js route handler, a Worker's fetch, SvelteKit's \`event.request\`). */
  web: `
export declare const request: Request
`,
  /** A verifier from \`createVerifier()\`, and a caller's context (\`req.portkey\` where it is known to be set). */
  verifier: `
import type { PortkeyAuth, Verifier } from 'portkey-auth'
export declare const verifier: Verifier
export declare const portkey: PortkeyAuth
`,
  /** An OpenAI SDK client, and a chat completion request's body. */
  openai: `
import type OpenAI from 'openai'
export declare const openai: OpenAI
export declare const body: OpenAI.Chat.ChatCompletionCreateParamsNonStreaming
`,
  /** Stand-ins for the reader's own code, which a fragment names but never defines: loosely typed on purpose. */
  placeholders: `
export declare const listLogs: any
export declare const listModels: any
export declare const verifyInternalJwt: any
export declare const metrics: any
export declare const revokedKey: string
export declare const tokens: number
`,
}
