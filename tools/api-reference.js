// @ts-check
// Writes docs/api.md, the API reference, from the TSDoc of the built dist/*.d.ts (`npm run docs:api` builds first):
//   node tools/api-reference.js           write docs/api.md
//   node tools/api-reference.js --check   exit 1 if docs/api.md is not what it would write
// Each entry point of package.json `exports` gets a section, each export a heading there: its declaration, its
// TSDoc and tags, and (interfaces, classes) each member with its own. One exported from several entry points is
// documented at the first and linked from the others.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
/** Where the reference goes, from the package's root. */
export const OUTPUT = 'docs/api.md'

/** @typedef {{ specifier: string, id: string, about: string, file: ts.SourceFile, exports: { name: string, target: ts.Symbol }[] }} Entry */
/** @typedef {{ entry: Entry, name: string }} Home */

const KINDS = /** @type {const} */ ([
  ['Functions', ts.SymbolFlags.Function],
  ['Classes', ts.SymbolFlags.Class],
  ['Constants', ts.SymbolFlags.Variable],
  ['Interfaces', ts.SymbolFlags.Interface],
  ['Types', ts.SymbolFlags.TypeAlias],
  ['Other', ts.SymbolFlags.All],
])
const printer = ts.createPrinter({ removeComments: true })

/** The public entry points of package.json `exports`, with their declarations loaded in one program. */
export function loadEntries(root = ROOT) {
  const { name, exports } = JSON.parse(readFileSync(`${root}/package.json`, 'utf8'))
  const typed = Object.entries(exports).filter(([, target]) => typeof target === 'object' && target.types)
  const files = typed.map(([, target]) => `${root}/${target.types.replace(/^\.\//, '')}`)
  // The package's own declarations and ES5's utility types (`Omit`, `Partial`) only: what they import from Node
  // or the frameworks is printed as written, never looked into (with those, the program takes seconds).
  /** @type {ts.CompilerOptions} */
  const options = {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    lib: ['lib.es5.d.ts'],
    types: [],
  }
  const host = ts.createCompilerHost(options)
  const exists = host.fileExists
  host.fileExists = (file) => !file.includes('/node_modules/') && exists(file)
  const program = ts.createProgram(files, options, host)
  const checker = program.getTypeChecker()
  /** @type {Entry[]} */
  const entries = typed.map(([path], i) => {
    const specifier = name + path.slice(1)
    const file = program.getSourceFile(files[i] ?? '')
    const module = file && checker.getSymbolAtLocation(file)
    if (!file || !module) throw new Error(`api-reference: no declarations for ${specifier} (run npm run build)`)
    const exports = checker.getExportsOfModule(module).map((symbol) => ({
      name: symbol.name,
      target: symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol,
    }))
    exports.sort((a, b) => byText(a.name, b.name))
    return { specifier, id: specifier.replace('/', '-'), about: packageDoc(file), file, exports }
  })
  return { checker, entries }
}

/** The text of the file's leading comment marked `@packageDocumentation`, if any. */
function packageDoc(/** @type {ts.SourceFile} */ file) {
  const tag = file.statements[0] && ts.getJSDocTags(file.statements[0]).find((t) => t.tagName.text === 'packageDocumentation')
  return tag && ts.isJSDoc(tag.parent) ? (ts.getTextOfJSDocComment(tag.parent.comment) ?? '').trim() : ''
}

/** The reference as Markdown, from the declarations `loadEntries()` read. */
export function apiReference({ checker, entries } = loadEntries()) {
  /** Where each item is documented: the first entry point exporting it, under its own name if it can. @type {Map<ts.Symbol, Home>} */
  const homes = new Map()
  const all = entries.flatMap((entry) => entry.exports.map(({ name, target }) => ({ entry, name, target })))
  for (const { entry, name, target } of [...all.filter((e) => e.name === e.target.name), ...all]) {
    if (!homes.has(target)) homes.set(target, { entry, name })
  }
  const anchor = (/** @type {Home} */ home) => `${home.entry.id}.${home.name}`
  const link = (/** @type {Home} */ home) => `[${code(home.name)}](#${anchor(home)})`
  /** An export documented elsewhere: a link, and the name it has there if another (`default`: `portkeyAuth`). */
  const alias = (/** @type {string} */ name, /** @type {ts.Symbol} */ target) => {
    const home = /** @type {Home} */ (homes.get(target))
    return home.name === name ? link(home) : `${code(name)} (${link(home)})`
  }
  const kindOf = (/** @type {ts.Symbol} */ target) => KINDS.find(([, flag]) => target.flags & flag)?.[0]
  /** The exports an entry point documents (`own`) and those documented elsewhere. */
  const split = (/** @type {Entry} */ entry) => {
    const isHome = (/** @type {Entry['exports'][number]} */ e) =>
      homes.get(e.target)?.entry === entry && homes.get(e.target)?.name === e.name
    return { own: entry.exports.filter(isHome), elsewhere: entry.exports.filter((e) => !isHome(e)) }
  }

  /** Links to the documented items a declaration names, but itself. */
  function refersTo(/** @type {ts.Node} */ node, /** @type {ts.Symbol} */ self) {
    /** @type {Set<Home>} */
    const found = new Set()
    const visit = (/** @type {ts.Node} */ child) => {
      const name = ts.isTypeReferenceNode(child) ? child.typeName : ts.isExpressionWithTypeArguments(child) && child.expression
      let symbol = name && checker.getSymbolAtLocation(name)
      if (symbol && symbol.flags & ts.SymbolFlags.Alias) symbol = checker.getAliasedSymbol(symbol)
      const home = symbol && symbol !== self && homes.get(symbol)
      if (home) found.add(home)
      ts.forEachChild(child, visit)
    }
    visit(node)
    return [...found].sort((a, b) => byText(anchor(a), anchor(b))).map(link)
  }

  const out = [
    '# API reference',
    '',
    'Generated by `npm run docs:api` (tools/api-reference.js) from the TSDoc in `src/`, as the built `.d.ts`',
    'files carry it: do not edit this file by hand; change the comments and run it again. Every export of every',
    'entry point is here; one exported from several entry points is described at the first and linked from the others.',
    '',
    '## Contents',
    '',
  ]
  for (const entry of entries) {
    const { own, elsewhere } = split(entry)
    out.push(`- [${code(entry.specifier)}](#${entry.id})`)
    for (const [kind] of KINDS) {
      const names = own.filter(({ target }) => kindOf(target) === kind).map(({ name }) => link({ entry, name }))
      if (names.length > 0) out.push(`  - ${kind}: ${names.join(', ')}`)
    }
    if (elsewhere.length > 0)
      out.push(`  - Also exported here: ${elsewhere.map(({ name, target }) => alias(name, target)).join(', ')}`)
  }
  for (const entry of entries) {
    const { own, elsewhere } = split(entry)
    out.push('', `<a id="${entry.id}"></a>`, '', `## ${code(entry.specifier)}`)
    if (entry.about) out.push('', entry.about)
    for (const [kind] of KINDS) {
      for (const { name, target } of own.filter((e) => kindOf(e.target) === kind)) {
        out.push('', `<a id="${anchor({ entry, name })}"></a>`, '', `### ${code(name)}`, '')
        const declarations = target.declarations ?? []
        out.push('```ts', ...declarations.map(signature), '```', '')
        const [summary, tags] = documentation(target.getDocumentationComment(checker), target.getJsDocTags(checker))
        out.push(...summary, ...(summary.length > 0 && tags.length > 0 ? [''] : []), ...tags)
        const members = declarations.flatMap(membersOf)
        const label = members.every((m) => ts.isPropertySignature(m) || ts.isPropertyDeclaration(m)) ? 'Properties' : 'Members'
        if (members.length > 0) out.push('', `${label}:`, '', ...members.flatMap(member))
        const refs = declarations.flatMap((declaration) => refersTo(declaration, target))
        if (refs.length > 0) out.push('', `Refers to: ${[...new Set(refs)].join(', ')}`)
      }
    }
    const augmented = entry.file.statements.filter(ts.isModuleDeclaration).flatMap((module) => augmentations(module))
    if (augmented.length > 0) {
      out.push('', `<a id="${entry.id}.augmentations"></a>`, '', '### Type augmentations', '')
      out.push(`Importing ${code(entry.specifier)} adds these members to the framework's own types.`)
      for (const [name, declaration] of augmented) out.push('', `${code(name)}:`, '', ...membersOf(declaration).flatMap(member))
    }
    if (elsewhere.length > 0) {
      out.push('', '### Also exported here', '')
      for (const { name, target } of elsewhere) {
        const where = /** @type {Home} */ (homes.get(target)).entry
        out.push(`- ${alias(name, target)}${where === entry ? '' : `, documented under ${code(where.specifier)}`}`)
      }
    }
  }
  return `${out.join('\n')}\n`

  /** One member as a list item: its declaration, then its TSDoc and tags, indented under it. */
  function member(/** @type {ts.Declaration} */ node) {
    const name = ts.getNameOfDeclaration(node)
    const doc = ts.isFunctionLike(node) ? checker.getSignatureFromDeclaration(node) : name && checker.getSymbolAtLocation(name)
    const [[first = '', ...rest], tags] = doc
      ? documentation(doc.getDocumentationComment(checker), doc.getJsDocTags(checker))
      : [[], []]
    const lines = [...rest, ...tags].map((line) => (line ? `  ${line}` : ''))
    return [`- ${code(oneLine(print(node)))}${first ? ` — ${first}` : ''}`, ...lines]
  }
}

/**
 * The interfaces a `declare global` or `declare module` block adds to, by name (`Express.Request`).
 * @returns {[string, ts.InterfaceDeclaration][]}
 */
function augmentations(/** @type {ts.Node} */ node, prefix = '') {
  if (ts.isInterfaceDeclaration(node)) return [[prefix + node.name.text, node]]
  if (!ts.isModuleDeclaration(node) || !node.body || !ts.isModuleBlock(node.body)) return []
  const inner = ts.isIdentifier(node.name) && node.name.text !== 'global' ? `${prefix}${node.name.text}.` : prefix
  return node.body.statements.flatMap((statement) => augmentations(statement, inner))
}

/** The declaration as TypeScript prints it, without `export declare` (an interface or class: its first line). */
function signature(/** @type {ts.Declaration} */ node) {
  const { factory: f } = ts
  if (ts.isInterfaceDeclaration(node))
    node = f.updateInterfaceDeclaration(node, [], node.name, node.typeParameters, node.heritageClauses, [])
  if (ts.isClassDeclaration(node))
    node = f.updateClassDeclaration(node, [], node.name, node.typeParameters, node.heritageClauses, [])
  const text = print(node)
    .replace(/^(export )?(declare )?/, '')
    .replace(/\s*\{\s*\}$/, '')
  return ts.isVariableDeclaration(node) ? `const ${text}` : text
}

/**
 * The members worth listing: an interface's, a class's public ones.
 * @returns {ts.Declaration[]}
 */
function membersOf(/** @type {ts.Declaration} */ node) {
  if (ts.isInterfaceDeclaration(node)) return [...node.members]
  if (!ts.isClassDeclaration(node)) return []
  const hidden = ts.ModifierFlags.Private | ts.ModifierFlags.Protected
  return node.members.filter((m) => !(ts.getCombinedModifierFlags(m) & hidden) && !(m.name && ts.isPrivateIdentifier(m.name)))
}

/**
 * TSDoc as Markdown lines: the summary, and the tags as a list (`- *Default:* 5_000`; an `@example` in a
 * code block under its item).
 * @returns {[string[], string[]]}
 */
function documentation(/** @type {ts.SymbolDisplayPart[]} */ summary, /** @type {ts.JSDocTagInfo[]} */ tags) {
  const text = ts.displayPartsToString(summary).trim()
  const items = tags.flatMap((tag) => {
    const [first = '', ...rest] = ts.displayPartsToString(tag.text).trim().split('\n')
    const body = tag.name !== 'example' ? rest : first.startsWith('```') ? [first, ...rest] : ['```ts', first, ...rest, '```']
    const label = tag.name === 'deprecated' ? '**Deprecated**' : `${tag.name[0]?.toUpperCase()}${tag.name.slice(1)}`
    const head = tag.name === 'example' || !first ? `- *${label}:*` : `- *${label}:* ${first}`
    return [head, ...body.map((line) => (line ? `  ${line}` : ''))]
  })
  return [text ? text.split('\n') : [], items]
}

const print = (/** @type {ts.Node} */ node) =>
  // The printer breaks an empty tuple type over two lines (`[\n]`).
  printer.printNode(ts.EmitHint.Unspecified, node, ts.getOriginalNode(node).getSourceFile()).replace(/\[\n\s*\]/g, '[]')
const byText = (/** @type {string} */ a, /** @type {string} */ b) => (a < b ? -1 : a > b ? 1 : 0)
const oneLine = (/** @type {string} */ text) => text.replace(/\s*\n\s*/g, ' ').replace(/;$/, '')
/** Inline code (in double backticks when it holds one, as a template literal type may). */
const code = (/** @type {string} */ text) => (text.includes('`') ? `\`\` ${text} \`\`` : `\`${text}\``)

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const markdown = apiReference()
  const path = `${ROOT}${OUTPUT}`
  if (process.argv.includes('--check')) {
    if (!existsSync(path) || readFileSync(path, 'utf8') !== markdown) {
      console.error(`${OUTPUT} is not what the TSDoc gives: run \`npm run docs:api\` and commit it.`)
      process.exit(1)
    }
    console.log(`${OUTPUT} is up to date.`)
  } else {
    mkdirSync(`${ROOT}docs`, { recursive: true })
    writeFileSync(path, markdown)
    console.log(`wrote ${OUTPUT} (${markdown.split('\n').length - 1} lines)`)
  }
}
