// Runs a docs block marked `run=handler` in a child process of test/docs/programs.ts (so the block sees the
// environment it is given): imports the compiled module, waits for the test process's 'go' (sent once it is
// free to answer control-plane calls), calls the handler with a `Request` per headers object, and sends the
// answers back over IPC.
//   node handler-runner.mjs <module.mjs> '{"method":"POST","path":"/api/chat","body":"{}","requests":[{},{…}]}'
// The handler: the module's export named after the method (Next.js route handlers), else `default.fetch`
// (Workers, Bun), called `(request, env, ctx)` with `env` the PORTKEY_* variables, else a default function.
import { pathToFileURL } from 'node:url'

const [modulePath, specText] = process.argv.slice(2)
const done = (message) => process.send(message, () => process.exit(0))

try {
  const spec = JSON.parse(specText)
  const module = await import(pathToFileURL(modulePath).href)
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => name.startsWith('PORTKEY_')))
  const workerContext = { waitUntil() {}, passThroughOnException() {} }
  let handler
  if (typeof module[spec.method] === 'function') {
    handler = (request) => module[spec.method](request, { params: Promise.resolve({}) })
  } else if (typeof module.default?.fetch === 'function') {
    handler = (request) => module.default.fetch(request, env, workerContext)
  } else if (typeof module.default === 'function') {
    handler = (request) => module.default(request)
  } else {
    throw new Error(`the module exports no ${spec.method} handler, no default { fetch } and no default function`)
  }
  await new Promise((resolve) => process.once('message', resolve))
  const answers = []
  for (const headers of spec.requests) {
    const withBody = spec.body !== undefined && spec.body !== null
    const request = new Request(new URL(spec.path, 'http://localhost'), {
      method: spec.method,
      headers: withBody ? { 'content-type': 'application/json', ...headers } : headers,
      body: withBody ? spec.body : undefined,
    })
    const response = await handler(request)
    if (!(response instanceof Response)) throw new Error(`the handler returned ${typeof response}, not a Response`)
    answers.push({ status: response.status, body: await response.text() })
  }
  done({ answers })
} catch (error) {
  done({ error: `the handler failed: ${error?.stack ?? error}` })
}
