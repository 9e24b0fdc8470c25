import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { isAbsolute, join, relative } from 'node:path'
import { PRELUDES } from './preludes.js'

/** The languages checked, by a fence's first word: TypeScript ones as `.mts`, JavaScript ones as `.mjs` (checkJs). */
const LANGUAGES: Record<string, BlockLanguage> = {
  ts: 'ts',
  typescript: 'ts',
  mts: 'ts',
  tsx: 'tsx',
  js: 'js',
  javascript: 'js',
  mjs: 'js',
  jsx: 'jsx',
}

export type BlockLanguage = 'ts' | 'tsx' | 'js' | 'jsx'

/** How a complete program is run: an HTTP server on `PORT`, or a module exporting Web-standard handlers. */
export type RunMode = 'server' | 'handler'

/** One request the checker sends to a program, twice: without a key, then with the demo key. */
export interface ProgramRequest {
  readonly method: string
  readonly path: string
  /** Sent with `content-type: application/json` when the method has a body. */
  readonly body: string | undefined
}

/** A checked code block of a markdown file. */
export interface Block {
  /** The markdown file, relative to the repository root (as failures name it). */
  readonly file: string
  /** Line of the opening fence, 1-based. */
  readonly fenceLine: number
  /** Line of the block's first line of code, 1-based. */
  readonly firstLine: number
  readonly language: BlockLanguage
  /** The code, the fence's indentation removed. */
  readonly code: string
  /** Columns of that indentation (a block in a list item), added back to the columns of messages. */
  readonly indent: number
  /** Names from `prelude=`, in order. */
  readonly preludes: readonly string[]
  readonly run: RunMode | undefined
  readonly request: ProgramRequest
  /** What is wrong with the block's directives (unknown keys, an unknown prelude…): the block fails with these. */
  readonly problems: readonly string[]
}

/** What one markdown file holds for the checker. */
export interface MarkdownCheck {
  readonly blocks: Block[]
  /** `<!-- check: … -->` comments not right before a checked block, as `FILE.md:LINE` messages. */
  readonly stray: string[]
}

const DIRECTIVE = /^\s*<!--\s*check:(.*?)-->\s*$/
const FENCE_OPEN = /^(\s*)(`{3,}|~{3,})\s*([^\s`{]*)/
const ATTRIBUTE = /([\w-]+)(?:=(?:"([^"]*)"|'([^']*)'|([^\s"']+)))?/g
const KEYS = new Set(['prelude', 'run', 'request', 'body'])
const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE'])

/**
 * The markdown files checked: `DOCS_CHECK_FILES` (comma-separated, relative to `root` or absolute) when set,
 * else README.md and every `docs/**\/*.md`, sorted, but the generated API reference: its fences are the
 * package's own declarations, which the build type-checks where they are written (`npm run docs:api` makes it).
 * Paths are returned relative to `root`.
 */
/** The API reference, generated from the .d.ts files by tools/api-reference.js. */
const GENERATED = 'docs/api.md'

export function docsFiles(root: string, env: NodeJS.ProcessEnv = process.env): string[] {
  const listed = env.DOCS_CHECK_FILES?.split(',')
    .map((file) => file.trim())
    .filter((file) => file !== '')
  if (listed !== undefined && listed.length > 0) return listed.map((file) => (isAbsolute(file) ? relative(root, file) : file))
  const files = ['README.md']
  const walk = (dir: string) => {
    for (const name of readdirSync(join(root, dir)).sort()) {
      const path = `${dir}/${name}`
      if (statSync(join(root, path)).isDirectory()) walk(path)
      else if (name.endsWith('.md') && path !== GENERATED) files.push(path)
    }
  }
  if (existsSync(join(root, 'docs'))) walk('docs')
  return files
}

/** Reads `file` (relative to `root`) and returns its checked blocks and any stray directive. */
export function readMarkdown(root: string, file: string): MarkdownCheck {
  if (!existsSync(join(root, file))) return { blocks: [], stray: [`${file}: no such file`] }
  return parseMarkdown(file, readFileSync(join(root, file), 'utf8'))
}

/** The checked blocks of markdown `text` (named `file` in messages), with their directives. */
export function parseMarkdown(file: string, text: string): MarkdownCheck {
  const lines = text.split(/\r?\n/)
  const blocks: Block[] = []
  const stray: string[] = []
  // Directive lines seen since the last line that was neither a directive nor a fence: line number and text.
  let pending: { line: number; text: string }[] = []
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!
    const directive = DIRECTIVE.exec(line)
    if (directive) {
      pending.push({ line: i + 1, text: directive[1]! })
      continue
    }
    const open = FENCE_OPEN.exec(line)
    if (!open) {
      for (const { line: at } of pending)
        stray.push(`${file}:${at}: a check directive must be on the line(s) right before a code block`)
      pending = []
      continue
    }
    const [, indent, fence, info] = open as unknown as [string, string, string, string]
    // The closing fence: the same character, at least as long, nothing after it.
    const close = new RegExp(`^\\s*${fence[0] === '`' ? '`' : '~'}{${fence.length},}\\s*$`)
    let end = i + 1
    while (end < lines.length && !close.test(lines[end]!)) end++
    const language = LANGUAGES[info.toLowerCase()]
    if (language === undefined) {
      for (const { line: at } of pending)
        stray.push(`${file}:${at}: a check directive before a \`${info || 'plain'}\` block, which is not checked`)
    } else {
      const code = lines
        .slice(i + 1, end)
        .map((text) => (text.startsWith(indent) ? text.slice(indent.length) : text.trimStart()))
        .join('\n')
      blocks.push(makeBlock(file, i + 1, language, code, indent.length, pending))
    }
    pending = []
    i = end
  }
  for (const { line: at } of pending)
    stray.push(`${file}:${at}: a check directive must be on the line(s) right before a code block`)
  return { blocks, stray }
}

function makeBlock(
  file: string,
  fenceLine: number,
  language: BlockLanguage,
  code: string,
  indent: number,
  directives: { line: number; text: string }[],
): Block {
  const problems: string[] = []
  const preludes: string[] = []
  let run: RunMode | undefined
  let request: string | undefined
  let body: string | undefined
  for (const { line, text } of directives) {
    const at = `${file}:${line}`
    for (const [, key, ...values] of text.matchAll(ATTRIBUTE)) {
      const value = values.find((v) => v !== undefined)
      if (!KEYS.has(key!)) {
        problems.push(
          key === 'skip'
            ? `${at}: there is no skip: every block is type-checked (give it a prelude, or make it valid code)`
            : `${at}: unknown check directive "${key}" (known: ${[...KEYS].join(', ')})`,
        )
      } else if (value === undefined || value === '') {
        problems.push(`${at}: ${key} needs a value (${key}=…)`)
      } else if (key === 'prelude') {
        for (const name of value.split(',')) {
          if (name in PRELUDES) preludes.push(name)
          else problems.push(`${at}: unknown prelude "${name}" (test/docs/preludes.ts has ${Object.keys(PRELUDES).join(', ')})`)
        }
      } else if (key === 'run') {
        if (value === 'server' || value === 'handler') run = value
        else problems.push(`${at}: run must be server or handler, not "${value}"`)
      } else if (key === 'request') {
        request = value
      } else {
        body = value
      }
    }
  }
  const [method = '', path = '', ...extra] = (request ?? 'GET /').trim().split(/\s+/)
  if (!/^[A-Z]+$/.test(method) || !path.startsWith('/') || extra.length > 0) {
    problems.push(`${file}:${fenceLine}: request must be "METHOD /path", not "${request}"`)
  }
  if (run === undefined && (request !== undefined || body !== undefined)) {
    problems.push(`${file}:${fenceLine}: request= and body= need run=server or run=handler`)
  }
  if (run !== undefined && preludes.length > 0) {
    problems.push(`${file}:${fenceLine}: a program (run=${run}) is complete: it takes no prelude`)
  }
  return {
    file,
    fenceLine,
    firstLine: fenceLine + 1,
    language,
    code,
    indent,
    preludes,
    run,
    request: { method, path, body: body ?? (BODY_METHODS.has(method) ? '{}' : undefined) },
    problems,
  }
}

/** A file name for the block: its markdown path and fence line, e.g. `docs-guides-express-md-12`. */
export function blockSlug(block: Block): string {
  return `${block.file.replace(/[^\w]+/g, '-')}-${block.fenceLine}`
}

/** The test name of a block: `FILE.md:LINE` and its first line that is not blank, a comment or an import. */
export function blockTitle(block: Block): string {
  const lines = block.code.split('\n').map((line) => line.trim())
  const meaningful =
    lines.find((line) => line !== '' && !/^(\/\/|\/\*|\*|import\b)/.test(line)) ?? lines.find((line) => line !== '') ?? '(empty)'
  const short = meaningful.length > 70 ? `${meaningful.slice(0, 69)}…` : meaningful
  return `${block.file}:${block.fenceLine}${block.run ? ` [run=${block.run}]` : ''} ${short}`
}
