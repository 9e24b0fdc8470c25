// Web-standard handlers (a Request in, a Response out), as Next.js route handlers, Remix, SvelteKit, Bun.serve and
// Deno.serve call them, guarded by portkey-auth/web. Served here on Node by a few lines of node:http glue.
// Run: node examples/web-handler.js   (PORTKEY_CONTROL_PLANE_URL for a real control plane)
import { createServer } from 'node:http'
import { Readable } from 'node:stream'
import { createVerifier } from 'portkey-auth'
import { authenticate, requirePermissions, withPortkeyAuth } from 'portkey-auth/web'
import { announce, listening, stopOnSignal, useLocalControlPlane } from './support/local-control-plane.js'

const { stub } = await useLocalControlPlane()

// One verifier (one cache) for every handler; Portkey's scope map checks each request's path.
const verifier = createVerifier({ scopes: 'portkey' })

// app/v1/chat/completions/route.js in Next.js would be: export const POST = withPortkeyAuth(...)
const chatCompletions = withPortkeyAuth(async (request, { portkey }) => {
  const body = await request.json().catch(() => ({}))
  return Response.json({
    id: `chatcmpl-demo-${Date.now()}`,
    object: 'chat.completion',
    model: body.model ?? 'demo-model',
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content: `Hello from workspace ${portkey.workspaceId}.` },
        finish_reason: 'stop',
      },
    ],
    portkey,
  })
}, verifier)

// A route of this app's own, guarded by one scope: null when the caller holds it, else the 403 to return.
const readLogs = requirePermissions('logs.read')
const audit = withPortkeyAuth(
  (request, { portkey }) => readLogs(request) ?? Response.json({ object: 'list', data: [], workspaceId: portkey.workspaceId }),
  verifier,
)

// A fetch handler that routes itself (Bun.serve({ fetch }), Deno.serve(fetch), a Worker): authenticate() where needed.
async function fetchHandler(request) {
  const { pathname } = new URL(request.url)
  if (pathname === '/health') return Response.json({ ok: true })
  if (pathname === '/v1/chat/completions' && request.method === 'POST') return chatCompletions(request)
  if (pathname === '/v1/audit') return audit(request)
  const { portkey, response } = await authenticate(request, verifier)
  if (response) return response
  return Response.json({ keyId: portkey.keyId, workspaceId: portkey.workspaceId, scopes: portkey.scopes })
}

// Node: a Request from node:http's request, and its Response written back.
const server = createServer(async (req, res) => {
  const headers = new Headers()
  for (let i = 0; i < req.rawHeaders.length; i += 2) headers.append(req.rawHeaders[i], req.rawHeaders[i + 1])
  const hasBody = req.method !== 'GET' && req.method !== 'HEAD'
  const url = `http://${req.headers.host ?? '127.0.0.1'}${req.url}`
  try {
    const request = new Request(url, {
      method: req.method,
      headers,
      body: hasBody ? Readable.toWeb(req) : undefined,
      duplex: 'half',
    })
    const response = await fetchHandler(request)
    res.writeHead(response.status, Object.fromEntries(response.headers))
    res.end(Buffer.from(await response.arrayBuffer()))
  } catch (error) {
    console.error(error)
    if (!res.headersSent) res.writeHead(500)
    res.end()
  }
})

server.listen(Number(process.env.PORT ?? 8787), '127.0.0.1')
await listening(server)
announce('Web-standard handlers', server, (url) => [
  `curl -s ${url}/v1/chat/completions -H 'x-portkey-api-key: pk-demo-workspace' -H 'content-type: application/json' -d '{"model":"gpt-4o-mini"}'`,
  `curl -s ${url}/v1/audit -H 'x-portkey-api-key: pk-demo-readonly'`,
  `curl -s ${url}/whoami -H 'x-portkey-api-key: pk-demo-workspace'`,
  `curl -s ${url}/v1/chat/completions -X POST -H 'x-portkey-api-key: pk-demo-readonly'   # 403 insufficient_scope`,
  `curl -s ${url}/whoami -H 'x-portkey-api-key: pk-demo-exhausted'                      # 412 usage_limit_exceeded`,
])
stopOnSignal(server, stub)
