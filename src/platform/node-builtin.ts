type Runtime = { getBuiltinModule?(id: string): unknown }

/**
 * A Node built-in module where the runtime has Node's (Node, Bun, Deno, a Worker with `nodejs_compat`), else
 * `undefined` (a Worker without it, Vercel's Edge runtime). Reached through `process.getBuiltinModule()`, never
 * imported: no bundler resolves it and no runtime without it fails to load the package.
 */
export function nodeBuiltin<T>(id: `node:${string}`): T | undefined {
  const runtime = (globalThis as { process?: Runtime }).process
  return typeof runtime?.getBuiltinModule === 'function' ? (runtime.getBuiltinModule(id) as T | undefined) : undefined
}
