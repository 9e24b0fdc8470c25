// An AI backend on Hono 4, served on Node by @hono/node-server: every /v1 request needs a Portkey API key with
// the scope Portkey's gateway would require; handlers read the caller's context with c.get('portkey').
// Run: node examples/hono.js   (npm install hono @hono/node-server; PORTKEY_CONTROL_PLANE_URL for a real control plane)
import { serve } from '@hono/node-server'
import { Hono } from 'hono'
import { portkeyAuth, requirePermissions } from 'portkey-auth/hono'
import { announce, listening, stopOnSignal, useLocalControlPlane } from './support/local-control-plane.js'

const { stub } = await useLocalControlPlane()

const app = new Hono()
app.get('/health', (c) => c.json({ ok: true })) // outside /v1: portkeyAuth() does not see it
app.use('/v1/*', portkeyAuth({ scopes: 'portkey' }))

app.post('/v1/chat/completions', async (c) => {
  const auth = c.get('portkey')
  const body = await c.req.json().catch(() => ({}))
  const provider = auth.virtualKey ? ` via ${auth.virtualKey.provider} (${auth.virtualKey.slug})` : ''
  return c.json({
    id: `chatcmpl-demo-${Date.now()}`,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: body.model ?? 'demo-model',
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content: `Hello from workspace ${auth.workspaceId} (key ${auth.keyId})${provider}.` },
        finish_reason: 'stop',
      },
    ],
    portkey: auth,
  })
})

// A route of this app's own, guarded by one scope (the scope map above knows only Portkey's routes).
app.get('/v1/audit', requirePermissions('logs.read'), (c) =>
  c.json({ object: 'list', data: [], workspaceId: c.get('portkey').workspaceId }),
)

const server = serve({ fetch: app.fetch, port: Number(process.env.PORT ?? 8787), hostname: '127.0.0.1' })
await listening(server)
announce('Hono backend', server, (url) => [
  `curl -s ${url}/v1/chat/completions -H 'x-portkey-api-key: pk-demo-workspace' -H 'content-type: application/json' -d '{"model":"gpt-4o-mini"}'`,
  `curl -s ${url}/v1/chat/completions -X POST -H 'x-portkey-api-key: pk-demo-workspace' -H 'x-portkey-virtual-key: openai-demo'`,
  `curl -s ${url}/v1/audit -H 'x-portkey-api-key: pk-demo-readonly'`,
  `curl -s ${url}/v1/chat/completions -X POST -H 'x-portkey-api-key: pk-demo-readonly'   # 403 insufficient_scope`,
  `curl -s ${url}/v1/chat/completions -X POST -H 'x-portkey-api-key: pk-nope'            # 401 invalid_api_key`,
])
stopOnSignal(server, stub)
