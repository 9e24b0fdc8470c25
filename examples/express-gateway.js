// A gateway: checks the Portkey key, then forwards /v1/* to an upstream provider API. With
// hideCredentials the Portkey key is removed before forwarding, so it never leaves this process;
// the provider's own key (Authorization) goes through untouched (`bearer: false`: it is never taken for
// the Portkey key). It forwards exactly the path the scope map was checked against, byte for byte, and
// only to UPSTREAM_URL: never a path resolved from the request target (dot segments, escapes) nor a host
// named in it (an absolute-form target).
// Run: node examples/express-gateway.js   (UPSTREAM_URL names the upstream; unset, a local echo stands in)
import { createServer, request as httpRequest } from 'node:http'
import { request as httpsRequest } from 'node:https'
import express from 'express'
import { portkeyAuth } from 'portkey-auth/express'
import { announce, listening, stopOnSignal, useLocalControlPlane } from './support/local-control-plane.js'

const { stub } = await useLocalControlPlane()
const echo = process.env.UPSTREAM_URL ? null : await startEcho()
const upstream = new URL(process.env.UPSTREAM_URL ?? `http://127.0.0.1:${echo.address().port}`)
const request = upstream.protocol === 'https:' ? httpsRequest : httpRequest

// What goes upstream from the client's request: the provider's own key and the body's description, no more
// (never the client's hop-by-hop headers, x-portkey-* or x-forwarded-*).
const FORWARDED = ['accept', 'authorization', 'content-type', 'content-length', 'openai-organization', 'user-agent']
// What never comes back from the upstream's answer (RFC 9110, 7.6.1): the client's connection is the gateway's own.
const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade']

const app = express()
app.use('/v1', portkeyAuth({ scopes: 'portkey', hideCredentials: true, bearer: false }), (req, res) => {
  const headers = { host: upstream.host, 'x-portkey-workspace-id': req.portkey.workspaceId ?? '' }
  for (const name of FORWARDED) {
    const value = req.headers[name]
    if (typeof value === 'string') headers[name] = value
  }
  // The checked path (req.baseUrl + req.path, as portkeyAuth reads it) and the query as sent; given as
  // `path`, Node sends it verbatim, where new URL() would resolve it and an absolute target would pick the host.
  const options = {
    protocol: upstream.protocol,
    hostname: upstream.hostname,
    port: upstream.port,
    path: req.baseUrl + req.path + search(req.originalUrl),
  }
  const forwarded = request({ ...options, method: req.method, headers }, (answer) => {
    for (const [name, value] of Object.entries(answer.headers)) {
      if (value !== undefined && !HOP_BY_HOP.includes(name)) res.setHeader(name, value)
    }
    res.status(answer.statusCode ?? 502)
    answer.pipe(res)
  })
  forwarded.on('error', () => res.headersSent || res.status(502).json({ status: 'failure', message: 'Upstream unreachable.' }))
  req.pipe(forwarded)
})

// 8789: the backend examples take 8787 (the demo's port), and the upstream may be one of your own on it.
const server = app.listen(Number(process.env.PORT ?? 8789), '127.0.0.1')
await listening(server)
announce(`Express gateway to ${upstream.origin}`, server, (url) => [
  `curl -s ${url}/v1/chat/completions -H 'x-portkey-api-key: pk-demo-workspace' -H 'authorization: Bearer sk-provider-key' -H 'content-type: application/json' -d '{"model":"gpt-4o-mini","messages":[]}'`,
])
stopOnSignal(server, echo, stub)

/** The query string of a request target, `?` included, as sent (a fragment is not part of it). */
function search(target) {
  const end = target.indexOf('#')
  const rest = end === -1 ? target : target.slice(0, end)
  const query = rest.indexOf('?')
  return query === -1 ? '' : rest.slice(query)
}

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
