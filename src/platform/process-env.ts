/** Environment variables by name, as `process.env` holds them. */
export type Environment = Readonly<Record<string, string | undefined>>

/**
 * The process's environment where the runtime has one (Node, Bun, Deno, Workers with `nodejs_compat`), else
 * none: read through `globalThis`, so that a runtime without `process` (a Worker without `nodejs_compat`,
 * Vercel's Edge runtime) reads an empty environment instead of failing. There, options are passed explicitly.
 */
export function processEnv(): Environment {
  return (globalThis as { process?: { env?: Environment } }).process?.env ?? {}
}
