import { readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import ts from 'typescript'
import { describe, expect, test } from 'vitest'

// docs/api.md is generated from the TSDoc by tools/api-reference.js (`npm run docs:api`). These tests keep it
// current, complete (every export of every entry point: the built modules' own at run time, and the
// declarations'), and the options documented: each property says what it does, and an optional one its
// default. dist/ is built by `npm test` (pretest).
const ROOT = resolve(import.meta.dirname, '../..')
const RUN = 'run `npm run docs:api` and commit docs/api.md'

type Loaded = { checker: ts.TypeChecker; entries: { specifier: string; file: ts.SourceFile }[] }
type Generator = { OUTPUT: string; loadEntries(): Loaded; apiReference(loaded?: Loaded): string }
// tools/ is plain JavaScript type-checked on its own (`npm run typecheck:bench`): a computed specifier keeps
// this file's type check from looking for its declarations.
const GENERATOR: string = '../../tools/api-reference.js'
const { OUTPUT, loadEntries, apiReference } = (await import(GENERATOR)) as Generator

const loaded = loadEntries()
const { checker, entries } = loaded
const generated = apiReference(loaded)
let written = ''
try {
  written = readFileSync(join(ROOT, OUTPUT), 'utf8')
} catch {
  // Missing: the first test says what to run.
}

/** The part of docs/api.md about one entry point: from its heading to the next. */
function section(specifier: string): string {
  const start = written.indexOf(`\n## \`${specifier}\`\n`)
  const end = written.indexOf('\n## ', start + 1)
  return start === -1 ? '' : written.slice(start, end === -1 ? undefined : end)
}

/** The names an entry point's declarations export. */
function declaredNames(file: ts.SourceFile): string[] {
  const module = checker.getSymbolAtLocation(file)
  return module ? checker.getExportsOfModule(module).map((symbol) => symbol.name) : []
}

/** An export of an entry point, as its declarations have it (an alias followed to the declaration). */
function exported(specifier: string, name: string): ts.Symbol {
  const entry = entries.find((e) => e.specifier === specifier)
  const module = entry && checker.getSymbolAtLocation(entry.file)
  const symbol = module && checker.getExportsOfModule(module).find((s) => s.name === name)
  if (!symbol) throw new Error(`${specifier} exports no ${name}`)
  return symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol
}

test('docs/api.md is what the TSDoc gives', () => {
  expect(written, `${OUTPUT} is out of date with the TSDoc in src/: ${RUN}`).toBe(generated)
})

describe('docs/api.md documents every export of every entry point', () => {
  test('the entry points are those of package.json, less ./package.json', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { exports: Record<string, unknown> }
    const paths = Object.keys(pkg.exports).filter((path) => path !== './package.json')
    expect(entries.map((entry) => entry.specifier)).toEqual(paths.map((path) => `portkey-auth${path.slice(1)}`))
    for (const { specifier } of entries)
      expect(section(specifier), `${OUTPUT} has no section for ${specifier}: ${RUN}`).not.toBe('')
  })

  test.each(entries.map((entry) => [entry.specifier, entry] as const))('%s', async (specifier, entry) => {
    const runtime = Object.keys(await import(specifier))
    const declared = declaredNames(entry.file)
    // Every value the module exports at run time is declared (and so documented).
    expect(declared, `${specifier}: exported at run time but not declared`).toEqual(expect.arrayContaining(runtime))
    // Under its own heading, or in the list of those exported here and documented elsewhere.
    const lines = section(specifier).split('\n')
    const listed = (name: string) =>
      lines.some((line) => line === `### \`${name}\`` || line.startsWith(`- [\`${name}\`]`) || line.startsWith(`- \`${name}\` (`))
    const missing = [...new Set([...runtime, ...declared])].filter((name) => !listed(name))
    expect(missing, `${OUTPUT} does not document these exports of ${specifier}: ${RUN}`).toEqual([])
  })
})

// The options objects, and those of every adapter: each property they have, inherited ones included.
const OPTIONS: [string, string][] = [
  ['portkey-auth', 'VerifierOptions'],
  ['portkey-auth', 'MiddlewareOptions'],
  ['portkey-auth', 'CacheOptions'],
  ['portkey-auth', 'BreakerOptions'],
  ['portkey-auth', 'RateLimitOptions'],
  ['portkey-auth', 'JwtOptions'],
  ['portkey-auth', 'RedisOptions'],
  ['portkey-auth', 'RedisClusterSettings'],
  ['portkey-auth', 'RedisSentinelSettings'],
  ['portkey-auth', 'TelemetryProviders'],
  ['portkey-auth/express', 'ExpressAuthOptions'],
  ['portkey-auth/koa', 'KoaAuthOptions'],
  ['portkey-auth/fastify', 'FastifyAuthOptions'],
  ['portkey-auth/hono', 'HonoAuthOptions'],
  ['portkey-auth/web', 'WebAuthOptions'],
  ['portkey-auth/testing', 'ControlPlaneStubOptions'],
  ['portkey-auth/testing', 'TestIssuerOptions'],
]

describe('every option is documented, with its default', () => {
  test.each(OPTIONS)('%s: %s', (specifier, name) => {
    const type = checker.getDeclaredTypeOfSymbol(exported(specifier, name))
    const properties = checker.getPropertiesOfType(type)
    expect(properties.length, `${name} has no properties`).toBeGreaterThan(0)
    const undocumented = properties.filter((p) => ts.displayPartsToString(p.getDocumentationComment(checker)).trim() === '')
    expect(
      undocumented.map((p) => p.name),
      `${name}: these options have no TSDoc; describe each (with its unit) in src/, then ${RUN}`,
    ).toEqual([])
    const optional = properties.filter(
      (p) => p.flags & ts.SymbolFlags.Optional && !(checker.getTypeOfSymbol(p).flags & ts.TypeFlags.Never),
    )
    const noDefault = optional.filter((p) => !p.getJsDocTags(checker).some((tag) => tag.name === 'default'))
    expect(
      noDefault.map((p) => p.name),
      `${name}: these optional options have no @default; add one to their TSDoc in src/, then ${RUN}`,
    ).toEqual([])
  })
})
