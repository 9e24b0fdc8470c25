/**
 * Registered in vitest.config.ts `setupFiles`, so it runs in every test worker before each test file:
 * it records everything the file writes through `console.*` and `process.stdout/stderr.write`, and its
 * `afterAll` fails the file if any of it holds a credential.
 *
 * Every credential the suite uses is either a Portkey-style key (`pk-...`) or a JWT (`eyJ...` with two
 * dots), so a credential-shaped string in the output is a leak: of the package, of a test helper, or of
 * a test's own figures.
 */
import { format } from 'node:util'
import { afterAll } from 'vitest'

/** What the recorder offers to tests (test/security/secrets.test.ts), through `globalThis[RECORDER]`. */
export interface OutputRecorder {
  /** Text written since the current test file started. */
  readonly written: string[]
  /** The credential-shaped strings in `text`. */
  scan(text: string): string[]
  /** Throws, naming leaks only by a masked prefix, when `texts` hold a credential. */
  check(texts: readonly string[]): void
  /** Whether `console.*` and the standard streams of this worker are recorded. */
  installed(): boolean
}

const RECORDER = Symbol.for('portkey-auth.test.output-recorder')
const WRAPPED = Symbol.for('portkey-auth.test.wrapped')

const CREDENTIAL_SHAPES = [/pk-[A-Za-z0-9_-]{6,}/g, /eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*/g]
const METHODS = ['log', 'info', 'warn', 'error', 'debug', 'trace'] as const
const STARTUP_LINE = 'portkey-auth: verifier ready:'

type Marked = { [WRAPPED]?: true }
const holder = globalThis as unknown as Record<symbol, OutputRecorder | undefined>

function createRecorder(): OutputRecorder {
  const written: string[] = []
  const scan = (text: string) => CREDENTIAL_SHAPES.flatMap((shape) => text.match(shape) ?? [])
  return {
    written,
    scan,
    check(texts) {
      const found = texts.flatMap(scan)
      if (found.length === 0) return
      // Never print what was found: a masked prefix and the length are enough to find it.
      const masked = [...new Set(found)].slice(0, 5).map((secret) => `${secret.slice(0, 5)}… (${secret.length} chars)`)
      throw new Error(`test output contains ${found.length} credential-shaped string(s): ${masked.join(', ')}`)
    },
    installed() {
      const streams = [process.stdout, process.stderr] as unknown as { write: Marked }[]
      return (
        METHODS.every((method) => (console[method] as Marked)[WRAPPED] === true) &&
        streams.every((stream) => stream.write[WRAPPED] === true)
      )
    },
  }
}

const recorder = (holder[RECORDER] ??= createRecorder())

// Wrapped once per worker (a console or stream replaced since is wrapped again).
for (const method of METHODS) {
  const original = console[method] as ((...args: unknown[]) => void) & Marked
  if (original[WRAPPED]) continue
  const wrapped = Object.assign(
    function recorded(this: Console, ...args: unknown[]) {
      const text = format(...args)
      recorder.written.push(text)
      // Recorded and scanned, but not printed: the line every verifier logs when it is made (its content is
      // tested in test/verifier/startup-line.test.ts) would be most of the suite's output.
      if (method === 'info' && text.startsWith(STARTUP_LINE)) return
      return original.apply(this, args)
    },
    { [WRAPPED]: true as const },
  )
  console[method] = wrapped
}
for (const stream of [process.stdout, process.stderr]) {
  const original = stream.write as typeof stream.write & Marked
  if (original[WRAPPED]) continue
  const wrapped = Object.assign(
    function recorded(this: NodeJS.WriteStream, chunk: unknown, ...rest: unknown[]) {
      recorder.written.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8'))
      return (original as (...args: unknown[]) => boolean).call(this, chunk, ...rest)
    },
    { [WRAPPED]: true as const },
  )
  stream.write = wrapped as typeof stream.write
}

// This file's output starts now; its afterAll (run after the file's own hooks) checks all of it.
recorder.written.length = 0
afterAll(() => {
  const texts = recorder.written.splice(0)
  recorder.check(texts)
})
