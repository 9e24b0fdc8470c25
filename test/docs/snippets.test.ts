/**
 * Code in the docs: every ```ts / ```typescript / ```js / ```javascript block (also mts, mjs, tsx, jsx) of
 * README.md and docs/**\/*.md (or of DOCS_CHECK_FILES, comma-separated paths) is type-checked as a module of
 * its own, and the complete programs among them are run. Other languages (sh, json…) are not checked.
 *
 * - Type-check: strict, ESM on Node (NodeNext, ES2022, Node's types, no DOM), `.js` blocks with checkJs; each
 *   block imports the built package (`portkey-auth/express`…) by self-reference, so run `npm run build` first
 *   (`npm test` does). One test per block, named `FILE.md:LINE` and its first line of code; a failure lists
 *   the compiler's messages at their markdown line.
 * - Directives: an HTML comment on the line(s) right before the fence, `<!-- check: key=value … -->`:
 *   - `prelude=express` (or `express,placeholders`): a fragment uses names it does not show (`app`, `req`…),
 *     declared by that prelude of test/docs/preludes.ts (express, koa, fastify, hono, web, verifier, openai,
 *     placeholders), imported on an invisible first line.
 *   - `run=server`: a complete Node program listening on `process.env.PORT`. It is started against a
 *     control-plane stub holding `demoKeys()` (PORTKEY_CONTROL_PLANE_URL set, the other PORTKEY_* removed) and
 *     sent `request="METHOD /path"` (default `GET /`; a JSON `body='…'`, default `{}` for POST, PUT, PATCH,
 *     DELETE) twice: without a key it must answer 401 `missing_api_key`, with `pk-demo-workspace` a 2xx, and the
 *     stub must see exactly one look-up of that key (a start-up probe() is not counted).
 *   - `run=handler`: a module of Web-standard handlers (`export const POST = …`, or `export default { fetch }`
 *     called with `env` = the PORTKEY_* variables), called the same way in a child process, same checks.
 *   - There is no skip: a block that cannot be checked is not TypeScript or JavaScript (fence it as `text`).
 */
import { fileURLToPath } from 'node:url'
import { afterAll, assert, beforeAll, describe, test } from 'vitest'
import { type Block, blockTitle, docsFiles, readMarkdown } from './blocks.js'
import { type RunOutcome, runProblems, startProgram } from './programs.js'
import { type Generated, preludeHint, type TypecheckResult } from './typecheck.js'
import { createWorkspace, packageBuilt } from './workspace.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

const files = docsFiles(ROOT)
const markdown = files.map((file) => ({ file, ...readMarkdown(ROOT, file) }))
const blocks = markdown.flatMap(({ blocks }) => blocks)

let workspace: ReturnType<typeof createWorkspace> | undefined
let generated = new Map<Block, Generated>()
let checked: TypecheckResult | undefined
const runs = new Map<Block, Promise<RunOutcome>>()

beforeAll(async () => {
  if (!packageBuilt(ROOT)) throw new Error('dist/ is missing: run `npm run build` first (npm test does)')
  workspace = createWorkspace(ROOT, 'snippets')
  // The programs start first and boot in their own processes while this one type-checks (which blocks it, so
  // their requests wait until it is done); TypeScript is loaded only then.
  const programs = blocks.filter((block) => block.run !== undefined && block.problems.length === 0)
  const started = await Promise.all(programs.map((block) => startProgram(block, workspace!.dir)))
  // Each program is finished (its child stopped) after the type-check, even one that throws.
  let typechecked!: () => void
  const gate = new Promise<void>((resolve) => {
    typechecked = resolve
  })
  // One program asked at a time: all of them at once starved a loaded 2-core machine, whose control-plane calls
  // then timed out (503s that no reader would meet).
  let previous: Promise<unknown> = gate
  programs.forEach((block, i) => {
    const run = previous.then(() => started[i]!.finish())
    runs.set(block, run)
    previous = run.catch(() => {})
  })
  try {
    const { typecheck, writeBlocks } = await import('./typecheck.js')
    const written = writeBlocks(workspace.dir, blocks)
    generated = new Map(written.map((file) => [file.block, file]))
    checked = typecheck(workspace.dir, written)
  } finally {
    typechecked()
  }
}, 60_000)

afterAll(async () => {
  await Promise.allSettled(runs.values())
  workspace?.remove()
})

for (const { file, blocks: fileBlocks, stray } of markdown) {
  describe(file, () => {
    test(`${file}: exists, and every check directive precedes a checked block`, () => {
      failWith(stray)
    })

    for (const block of fileBlocks) {
      test(blockTitle(block), async () => {
        const file = generated.get(block)!
        const typeErrors = [...block.problems, ...file.problems, ...(checked?.byBlock.get(file) ?? [])]
        failWith(typeErrors, preludeHint(block, typeErrors))
        if (block.run === undefined) return
        const problems = runProblems(block, await runs.get(block)!)
        failWith(problems)
      }, 40_000) // a program waits for the type-check, then up to 10 s to start and 5 s a request
    }
  })
}

test('the preludes (test/docs/preludes.ts) and the compiler options type-check', () => {
  const messages = [...checked!.global, ...checked!.preludes]
  failWith(messages)
})

/** Fails the test with `messages`, one a line (and a hint after them), when there are any. */
function failWith(messages: readonly string[], hint?: string): void {
  if (messages.length > 0) assert.fail(`\n${messages.join('\n')}${hint ? `\n${hint}` : ''}\n`)
}
