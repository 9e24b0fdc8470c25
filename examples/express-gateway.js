// A gateway: checks the Portkey key, then forwards /v1/* to an upstream provider API. With
// hideCredentials the Portkey key is removed before forwarding, so it never leaves this process;
// the provider's own key (Authorization) goes through untouched.
// Run: node examples/express-gateway.js   (UPSTREAM_URL names the upstream; unset, a local echo stands in)
import { createServer, request } from 'node:http'
import express from 'express'
import { portkeyAuth } from 'portkey-auth/express'
import { announce, stopOnSignal, useLocalControlPlane } from './support/local-control-plane.js'

const { stub } = await useLocalControlPlane()
const echo = process.env.UPSTREAM_URL ? null : await startEcho()
const upstream = new URL(process.env.UPSTREAM_URL ?? `http://127.0.0.1:${echo.address().port}`)

const app = express()
app.use('/v1', portkeyAuth({ scopes: 'portkey', hideCredentials: true }), (req, res) => {
  const headers = { ...req.headers, host: upstream.host, 'x-portkey-workspace-id': req.portkey.workspaceId ?? '' }
  delete headers.connection
  const forwarded = request(new URL(req.originalUrl, upstream), { method: req.method, headers }, (answer) => {
    res.writeHead(answer.statusCode ?? 502, answer.headers)
    answer.pipe(res)
  })
  forwarded.on('error', () => res.headersSent || res.status(502).json({ status: 'failure', message: 'Upstream unreachable.' }))
  req.pipe(forwarded)
})

const server = app.listen(Number(process.env.PORT ?? 8789), '127.0.0.1', () =>
  announce(`Express gateway to ${upstream.origin}`, server, (url) => [
    `curl -s ${url}/v1/chat/completions -H 'x-portkey-api-key: pk-demo-workspace' -H 'authorization: Bearer sk-provider-key' -H 'content-type: application/json' -d '{"model":"gpt-4o-mini","messages":[]}'`,
  ]),
)
stopOnSignal(server, echo, stub)

/** A stand-in upstream that answers with what it received, to show which headers arrive. */
async function startEcho() {
  const server = createServer((req, res) => {
    let body = ''
    req.on('data', (chunk) => (body += chunk))
    req.on('end', () => {
      res.setHeader('content-type', 'application/json')
      res.end(JSON.stringify({ upstream: 'echo', method: req.method, url: req.url, headers: req.headers, body }))
    })
  })
  await new Promise((done) => server.listen(0, '127.0.0.1', done))
  return server
}
