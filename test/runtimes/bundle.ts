import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'
import { build, type Plugin } from 'esbuild'

// Bundles a fixture Worker the way users' tools do, from the BUILT package: the fixtures import
// 'portkey-auth/web' and 'portkey-auth/hono', which esbuild resolves to dist/ through package.json "exports"
// (a self-reference: the fixtures are inside the package). dist/ is built by `npm test` (pretest).
export const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url))

/**
 * How the bundle is made:
 * - `workers`: wrangler 4.86 (esbuild 0.27.3): ESM, target es2022, esbuild's default (browser) platform,
 *   conditions workerd/worker/browser, keepNames; external only `cloudflare:*`.
 * - `edge-light`: Next.js's edge runtime: conditions edge-light/worker/browser, as one script (edge-runtime
 *   evaluates a script, not a module) whose fetch listener calls the Worker's `fetch`.
 */
export type Flavour = 'workers' | 'edge-light'

export interface BundleOptions {
  flavour?: Flavour
  minify?: boolean
  /**
   * Leave `node:*` imports in the bundle, as wrangler does (native in workerd with nodejs_compat; without it
   * wrangler only warns and the Worker fails when it loads them), so that the runtime, not the bundler, says
   * what it refuses. Without this, a `node:*` import fails the build: the package must need none.
   */
  keepNodeImports?: boolean
}

export interface Bundle {
  readonly code: string
  /** Minified size in bytes, and gzipped (zlib's default level). */
  readonly bytes: number
  readonly gzipBytes: number
  /** The `node:*` modules left as imports (with keepNodeImports), sorted. */
  readonly nodeImports: readonly string[]
}

const CONDITIONS: Record<Flavour, string[]> = {
  workers: ['workerd', 'worker', 'browser'],
  'edge-light': ['edge-light', 'worker', 'browser'],
}

/** Bundles `fixture` (a file name in test/runtimes/fixtures). */
export async function bundleWorker(fixture: string, options: BundleOptions = {}): Promise<Bundle> {
  const { flavour = 'workers', minify = false, keepNodeImports = false } = options
  const nodeImports = new Set<string>()
  const plugins: Plugin[] = []
  if (keepNodeImports) {
    plugins.push({
      name: 'node-imports-as-wrangler',
      setup(b) {
        b.onResolve({ filter: /^node:/ }, (args) => {
          nodeImports.add(args.path)
          return { path: args.path, external: true }
        })
      },
    })
  }
  const entry =
    flavour === 'workers'
      ? { entryPoints: [`${FIXTURES}${fixture}`] }
      : {
          stdin: {
            contents: `import worker from './${fixture}'\naddEventListener('fetch', (event) => event.respondWith(worker.fetch(event.request)))\n`,
            resolveDir: FIXTURES,
            sourcefile: `edge-${fixture}`,
          },
        }
  const result = await build({
    ...entry,
    bundle: true,
    write: false,
    format: flavour === 'workers' ? 'esm' : 'iife',
    target: 'es2022',
    conditions: CONDITIONS[flavour],
    keepNames: true,
    minify,
    external: ['cloudflare:*'],
    plugins,
    logLevel: 'silent',
  })
  const contents = result.outputFiles[0]!.contents
  return {
    code: result.outputFiles[0]!.text,
    bytes: contents.byteLength,
    gzipBytes: gzipSync(contents).byteLength,
    nodeImports: [...nodeImports].sort(),
  }
}
