import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { type Block, blockTitle, docsFiles, parseMarkdown, readMarkdown } from './blocks.js'
import { runProblems, runProgram } from './programs.js'
import { type Generated, preludeHint, type TypecheckResult, typecheck, writeBlocks } from './typecheck.js'
import { createWorkspace } from './workspace.js'

// The docs checker's own parts (snippets.test.ts runs them on README.md and docs/), on the fixtures of
// test/docs/fixtures/: what passes must pass, and a type error and a server that admits without a key must fail.
const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const FIXTURES = 'test/docs/fixtures'

describe('parseMarkdown', () => {
  test('finds the checked languages only, with their lines, code and directives', () => {
    const { blocks, stray } = parseMarkdown(
      'x.md',
      [
        '# x', // 1
        '```sh', // 2
        'npm test', // 3
        '```', // 4
        '<!-- check: prelude=express,placeholders -->', // 5
        '```TypeScript title="a.ts"', // 6
        'app.use(listLogs)', // 7
        '```', // 8
        '- a list item:', // 9
        '', // 10
        '  <!-- check: run=handler -->', // 11
        '  <!-- check: request="POST /api/chat" body=\'{"a":1}\' -->', // 12
        '  ````js', // 13
        '  export const POST = () => new Response(`', // 14
        '  ```', // 15
        '  `)', // 16
        '  ````', // 17
      ].join('\n'),
    )
    expect(stray).toEqual([])
    expect(
      blocks.map(({ fenceLine, firstLine, language, code, indent, preludes, run, request, problems }) => ({
        fenceLine,
        firstLine,
        language,
        code,
        indent,
        preludes,
        run,
        request,
        problems,
      })),
    ).toEqual([
      {
        fenceLine: 6,
        firstLine: 7,
        language: 'ts',
        code: 'app.use(listLogs)',
        indent: 0,
        preludes: ['express', 'placeholders'],
        run: undefined,
        request: { method: 'GET', path: '/', body: undefined },
        problems: [],
      },
      {
        fenceLine: 13,
        firstLine: 14,
        language: 'js',
        code: 'export const POST = () => new Response(`\n```\n`)',
        indent: 2,
        preludes: [],
        run: 'handler',
        request: { method: 'POST', path: '/api/chat', body: '{"a":1}' },
        problems: [],
      },
    ])
  })

  test('refuses skip, unknown keys and preludes, a prelude on a program, and directives attached to nothing', () => {
    const { blocks, stray } = parseMarkdown(
      'x.md',
      [
        '<!-- check: skip -->', // 1
        '```ts', // 2
        '```', // 3
        '<!-- check: prelude=nope colour=red -->', // 4
        '```js', // 5
        '```', // 6
        '<!-- check: run=server prelude=express request=GET -->', // 7
        '```ts', // 8
        '```', // 9
        '<!-- check: prelude=express -->', // 10
        '', // 11
        '```ts', // 12
        '```', // 13
        '<!-- check: prelude=express -->', // 14
        '```json', // 15
        '{}', // 16
        '```', // 17
      ].join('\n'),
    )
    expect(blocks.map((block) => block.problems)).toEqual([
      ['x.md:1: there is no skip: every block is type-checked (give it a prelude, or make it valid code)'],
      [
        'x.md:4: unknown prelude "nope" (test/docs/preludes.ts has express, koa, fastify, hono, web, verifier, openai, placeholders)',
        'x.md:4: unknown check directive "colour" (known: prelude, run, request, body)',
      ],
      ['x.md:8: request must be "METHOD /path", not "GET"', 'x.md:8: a program (run=server) is complete: it takes no prelude'],
      [],
    ])
    expect(stray).toEqual([
      'x.md:10: a check directive must be on the line(s) right before a code block',
      'x.md:14: a check directive before a `json` block, which is not checked',
    ])
  })

  test('names a block by its file, line and first line of code', () => {
    const { blocks } = parseMarkdown('d.md', "\n```ts\n// a.ts\nimport x from 'x'\n\nconst y = x\n```")
    expect(blockTitle(blocks[0]!)).toBe('d.md:2 const y = x')
  })
})

test('docsFiles: README.md and docs/**/*.md, or DOCS_CHECK_FILES', () => {
  expect(docsFiles(ROOT, {})[0]).toBe('README.md')
  expect(docsFiles(ROOT, {})).toContain('docs/frameworks.md')
  expect(docsFiles(ROOT, {})).not.toContain('docs/api.md') // generated from the type-checked .d.ts files
  expect(docsFiles(ROOT, { DOCS_CHECK_FILES: ` ${FIXTURES}/passing.md, ${ROOT}README.md` })).toEqual([
    `${FIXTURES}/passing.md`,
    'README.md',
  ])
})

test('preludeHint: the preludes that declare what a fragment lacks, besides those it has', () => {
  const [block] = parseMarkdown('h.md', '<!-- check: prelude=koa -->\n```ts\napp.use(listLogs)\n```').blocks as [Block]
  const messages = ["h.md:3:9 TS2304: Cannot find name 'listLogs'.", "h.md:3:1 TS2304: Cannot find name 'app'."]
  expect(preludeHint(block, messages)).toBe(
    'hint: a fragment? These are declared by a prelude, named in <!-- check: prelude=… --> on the line before its fence: ' +
      '`listLogs` (prelude placeholders), `app` (prelude express or fastify or hono)',
  )
  expect(preludeHint(block, ["h.md:3:1 TS2304: Cannot find name 'nowhere'."])).toBeUndefined()
})

// The programs' tests get 40 s: a loaded machine (the whole suite at once) makes a Node start take seconds.
describe('the fixtures, type-checked and run', () => {
  const read = (name: string) => readMarkdown(ROOT, `${FIXTURES}/${name}`).blocks
  const passing = read('passing.md')
  const [typeError, indented] = read('type-error.md') as [Block, Block]
  const [openServer] = read('open-server.md') as [Block]
  let workspace: ReturnType<typeof createWorkspace>
  let generated: Generated[]
  let checked: TypecheckResult

  beforeAll(() => {
    workspace = createWorkspace(ROOT, 'harness')
    generated = writeBlocks(workspace.dir, [...passing, typeError, indented, openServer])
    checked = typecheck(workspace.dir, generated)
  }, 60_000)
  afterAll(() => workspace.remove())

  const messages = (block: Block) => checked.byBlock.get(generated.find((file) => file.block === block)!)!

  test('the passing fixture: every block type-checks, every program answers as it must', async () => {
    expect(passing.map((block) => [block.language, block.preludes.join(','), block.run])).toEqual([
      ['ts', 'express', undefined],
      ['js', 'express,placeholders', undefined],
      ['ts', '', 'server'],
      ['ts', '', 'handler'],
      ['ts', '', 'handler'],
    ])
    expect([...checked.global, ...checked.preludes, ...passing.flatMap(messages)]).toEqual([])
    const programs = passing.filter((block) => block.run)
    const outcomes = await Promise.all(programs.map((block) => runProgram(block, workspace.dir)))
    expect(outcomes.flatMap((outcome, i) => runProblems(programs[i]!, outcome))).toEqual([])
  }, 40_000)

  test('a type error is reported at its line and column of the markdown', () => {
    const text = readFileSync(`${ROOT}${FIXTURES}/type-error.md`, 'utf8').split('\n')
    const at = (code: string, from = 0) => {
      const line = text.findIndex((l, i) => i >= from && l.includes(code)) + 1
      return `${FIXTURES}/type-error.md:${line}:${text[line - 1]!.indexOf('req.portkey') + 1}`
    }
    expect(messages(typeError)).toEqual([
      expect.stringMatching(
        new RegExp(`^${at('hasPermissions(req.portkey')} TS2345: Argument of type 'PortkeyAuth \\| undefined'`),
      ),
    ])
    expect(messages(indented)).toEqual([`${at('req.portkey.workspaceId')} TS18048: 'req.portkey' is possibly 'undefined'.`])
  })

  test('a server that admits a request without a key fails its run', async () => {
    expect(messages(openServer)).toEqual([])
    const outcome = await runProgram(openServer, workspace.dir)
    expect(outcome.answers.map((answer) => answer.status)).toEqual([200, 200])
    expect(runProblems(openServer, outcome)).toEqual([
      `${FIXTURES}/open-server.md:7 (run=server, POST /chat/completions): without a key: expected 401 with error.code missing_api_key, got 200 "{\\"workspace\\":null}"`,
      `${FIXTURES}/open-server.md:7 (run=server, POST /chat/completions): expected exactly one look-up of the demo key at the control-plane stub for the two requests, saw 0`,
    ])
  }, 40_000)

  test('a program that does not listen on PORT fails with what it printed', async () => {
    const [quiet] = parseMarkdown('q.md', "<!-- check: run=server -->\n```js\nconsole.error('no server here')\n```").blocks as [
      Block,
    ]
    const problems = runProblems(quiet, await runProgram(quiet, workspace.dir))
    expect(problems).toEqual([
      expect.stringMatching(
        /^q\.md:2 \(run=server, GET \/\): it exited \(0\) without listening on PORT=\d+\n--- its stderr ---\nno server here$/,
      ),
    ])
  }, 40_000)

  test('a server listening elsewhere than PORT is named so', async () => {
    const [elsewhere] = parseMarkdown(
      'e.md',
      "<!-- check: run=server -->\n```js\nimport { createServer } from 'node:http'\ncreateServer().listen(0)\n```",
    ).blocks as [Block]
    const problems = runProblems(elsewhere, await runProgram(elsewhere, workspace.dir, 1_500))
    expect(problems).toEqual([
      expect.stringMatching(
        /^e\.md:2 \(run=server, GET \/\): nothing listened on PORT=\d+ within 1500 ms \(does it read process\.env\.PORT\?\): it listens on \d+ instead$/,
      ),
    ])
  }, 40_000)
})
