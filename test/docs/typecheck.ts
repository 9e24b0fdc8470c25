import { mkdirSync, writeFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import ts from 'typescript'
import { type Block, blockSlug } from './blocks.js'
import { PRELUDES } from './preludes.js'

/** A block written as a module of its own. */
export interface Generated {
  readonly block: Block
  /** Absolute path of the module type-checked. */
  readonly path: string
  /** Lines prepended to the block's code (the invisible prelude import): 0 or 1. */
  readonly offset: number
  /** Problems found while writing it (two preludes declaring one name). */
  readonly problems: readonly string[]
}

const EXTENSIONS = { ts: 'mts', tsx: 'tsx', js: 'mjs', jsx: 'jsx' } as const

/**
 * The compiler settings of every block: a strict ESM project on Node (its types, no DOM), JavaScript checked
 * too, each file a module of its own, and JSX (`tsx` blocks) with Hono's runtime, the only one installed.
 */
export const COMPILER_OPTIONS = {
  strict: true,
  target: 'ES2022',
  lib: ['ES2023'],
  module: 'NodeNext',
  moduleResolution: 'NodeNext',
  moduleDetection: 'force',
  types: ['node'],
  skipLibCheck: true,
  allowJs: true,
  checkJs: true,
  isolatedModules: true,
  jsx: 'react-jsx',
  jsxImportSource: 'hono/jsx',
  noEmit: true,
}

/** Writes the preludes, each block (after its prelude import line) and a tsconfig.json (for `tsc -p` by hand). */
export function writeBlocks(dir: string, blocks: readonly Block[]): Generated[] {
  const exported = new Map<string, string[]>()
  mkdirSync(join(dir, 'preludes'), { recursive: true })
  for (const [name, source] of Object.entries(PRELUDES)) {
    writeFileSync(join(dir, 'preludes', `${name}.mts`), source)
    exported.set(name, declaredNames(source, 'prelude.mts', true))
  }
  const used = new Map<string, number>()
  const generated = blocks.map((block) => {
    const base = blockSlug(block)
    const count = (used.get(base) ?? 0) + 1
    used.set(base, count)
    const path = join(dir, `${count === 1 ? base : `${base}-${count}`}.${EXTENSIONS[block.language]}`)
    const own = new Set(declaredNames(block.code, path, false))
    const problems: string[] = []
    const from = new Map<string, string>()
    const imports = block.preludes.map((prelude) => {
      const names = exported.get(prelude)!.filter((name) => !own.has(name))
      for (const name of names) {
        const other = from.get(name)
        if (other !== undefined)
          problems.push(`${block.file}:${block.fenceLine}: preludes ${other} and ${prelude} both declare ${name}`)
        from.set(name, prelude)
      }
      return names.length === 0 ? '' : `import { ${names.join(', ')} } from './preludes/${prelude}.mjs';`
    })
    const prefix = imports.join(' ').trim()
    const offset = block.preludes.length > 0 ? 1 : 0
    writeFileSync(path, offset === 1 ? `${prefix}\n${block.code}\n` : `${block.code}\n`)
    return { block, path, offset, problems }
  })
  writeFileSync(
    join(dir, 'tsconfig.json'),
    `${JSON.stringify({ compilerOptions: COMPILER_OPTIONS, files: generated.map(({ path }) => relative(dir, path)) }, null, 2)}\n`,
  )
  return generated
}

/**
 * For a block whose messages name what a prelude declares (`Cannot find name 'app'`), which preludes do:
 * `hint: a fragment? … <!-- check: prelude=… -->`; undefined when none does.
 */
export function preludeHint(block: Block, messages: readonly string[]): string | undefined {
  const missing = new Set(
    messages.flatMap(
      (message) =>
        /TS(?:2304|2552|18004): (?:Cannot find name|No value exists in scope for the shorthand property) '(\w+)'/.exec(
          message,
        )?.[1] ?? [],
    ),
  )
  const offers: string[] = []
  for (const name of missing) {
    const preludes = Object.keys(PRELUDES).filter(
      (prelude) => !block.preludes.includes(prelude) && declaredNames(PRELUDES[prelude]!, 'prelude.mts', true).includes(name),
    )
    if (preludes.length > 0) offers.push(`\`${name}\` (prelude ${preludes.join(' or ')})`)
  }
  if (offers.length === 0) return undefined
  return `hint: a fragment? These are declared by a prelude, named in <!-- check: prelude=… --> on the line before its fence: ${offers.join(', ')}`
}

/**
 * The names `source` declares at its top level: its exported declarations only (`exportedOnly`), or every
 * declaration and import (a block's own, which its preludes then leave out).
 */
function declaredNames(source: string, fileName: string, exportedOnly: boolean): string[] {
  const file = ts.createSourceFile(fileName, source, ts.ScriptTarget.ES2022, false, scriptKind(fileName))
  const names: string[] = []
  const bind = (name: ts.BindingName) => {
    if (ts.isIdentifier(name)) names.push(name.text)
    else for (const element of name.elements) if (!ts.isOmittedExpression(element)) bind(element.name)
  }
  for (const statement of file.statements) {
    const exported =
      ts.canHaveModifiers(statement) && ts.getModifiers(statement)?.some((m) => m.kind === ts.SyntaxKind.ExportKeyword)
    if (exportedOnly && !exported) continue
    if (ts.isVariableStatement(statement))
      for (const declaration of statement.declarationList.declarations) bind(declaration.name)
    else if (
      (ts.isFunctionDeclaration(statement) ||
        ts.isClassDeclaration(statement) ||
        ts.isEnumDeclaration(statement) ||
        ts.isInterfaceDeclaration(statement) ||
        ts.isTypeAliasDeclaration(statement)) &&
      statement.name
    )
      names.push(statement.name.text)
    else if (ts.isImportDeclaration(statement) && statement.importClause) {
      const { name, namedBindings } = statement.importClause
      if (name) names.push(name.text)
      if (namedBindings && ts.isNamespaceImport(namedBindings)) names.push(namedBindings.name.text)
      else if (namedBindings) for (const element of namedBindings.elements) names.push(element.name.text)
    } else if (ts.isImportEqualsDeclaration(statement)) names.push(statement.name.text)
  }
  return names
}

function scriptKind(fileName: string): ts.ScriptKind {
  if (fileName.endsWith('.tsx')) return ts.ScriptKind.TSX
  if (fileName.endsWith('.jsx')) return ts.ScriptKind.JSX
  return /\.m?js$/.test(fileName) ? ts.ScriptKind.JS : ts.ScriptKind.TS
}

/** What the type-check found: messages by block, and those of the preludes and the options. */
export interface TypecheckResult {
  readonly byBlock: Map<Generated, string[]>
  readonly preludes: string[]
  readonly global: string[]
}

/**
 * Type-checks every generated block in one Program (`dir`'s tsconfig.json), each message naming the markdown
 * line: `README.md:52:7 TS2304: Cannot find name 'app'.`.
 */
export function typecheck(dir: string, generated: readonly Generated[]): TypecheckResult {
  const parsed = ts.parseJsonConfigFileContent(
    { compilerOptions: COMPILER_OPTIONS, files: generated.map(({ path }) => path) },
    ts.sys,
    dir,
  )
  const preludes = Object.keys(PRELUDES).map((name) => join(dir, 'preludes', `${name}.mts`))
  const program = ts.createProgram({ rootNames: [...parsed.fileNames, ...preludes], options: parsed.options })
  const byBlock = new Map<Generated, string[]>()
  for (const file of generated) {
    const source = program.getSourceFile(file.path)
    // A syntax error makes the rest noise (every line of an object literal read as statements): it alone is told.
    const syntax = source === undefined ? [] : program.getSyntacticDiagnostics(source)
    const diagnostics = source === undefined ? [] : syntax.length > 0 ? syntax : ts.getPreEmitDiagnostics(program, source)
    byBlock.set(
      file,
      diagnostics.map((diagnostic) => describe(diagnostic, (line, column) => blockLocation(file, line, column))),
    )
  }
  const preludeMessages = preludes.flatMap((path) => {
    const source = program.getSourceFile(path)
    const name = path.slice(path.lastIndexOf('/') + 1, -'.mts'.length)
    return ts
      .getPreEmitDiagnostics(program, source)
      .map((diagnostic) =>
        describe(diagnostic, (line, column) => `test/docs/preludes.ts (prelude ${name}, line ${line}:${column})`),
      )
  })
  const global = [...parsed.errors, ...program.getOptionsDiagnostics(), ...program.getGlobalDiagnostics()].map((diagnostic) =>
    describe(diagnostic, () => 'compiler options'),
  )
  return { byBlock, preludes: preludeMessages, global }
}

/** Where the generated file's 1-based `line` and `column` are in the markdown (the prelude import line: the fence). */
function blockLocation(file: Generated, line: number, column: number): string {
  const { block, offset } = file
  if (line <= offset) return `${block.file}:${block.fenceLine} (the import of prelude ${block.preludes.join(', ')})`
  return `${block.file}:${block.firstLine + line - offset - 1}:${column + block.indent}`
}

function describe(diagnostic: ts.Diagnostic, location: (line: number, column: number) => string): string {
  const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n    ')
  if (diagnostic.file === undefined || diagnostic.start === undefined)
    return `${location(0, 0)}: TS${diagnostic.code}: ${message}`
  const { line, character } = diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start)
  return `${location(line + 1, character + 1)} TS${diagnostic.code}: ${message}`
}
