// An AI backend guarded by portkeyAuth(): every /v1 request needs a Portkey API key with the scope
// Portkey's own gateway would require, may name a virtual key, and reaches the handler with req.portkey.
// Run: npm start   (or: node examples/express-backend.js, with PORTKEY_CONTROL_PLANE_URL for a real control plane)
import express from 'express'
import { portkeyAuth } from 'portkey-auth/express'
import { announce, listening, stopOnSignal, useLocalControlPlane } from './support/local-control-plane.js'

const { stub } = await useLocalControlPlane()

const app = express()
app.use(express.json())
app.get('/health', (_req, res) => res.json({ ok: true }))
app.use('/v1', portkeyAuth({ scopes: 'portkey' }))

app.post('/v1/chat/completions', (req, res) => {
  const auth = req.portkey
  const provider = auth.virtualKey ? ` via ${auth.virtualKey.provider} (${auth.virtualKey.slug})` : ''
  res.json({
    id: `chatcmpl-demo-${Date.now()}`,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: req.body?.model ?? 'demo-model',
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content: `Hello from workspace ${auth.workspaceId} (key ${auth.keyId})${provider}.` },
        finish_reason: 'stop',
      },
    ],
    usage: { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 },
    portkey: auth,
  })
})

const server = app.listen(Number(process.env.PORT ?? 8787), '127.0.0.1')
await listening(server)
announce('portkey-auth demo: an Express AI backend', server, (url) => [
  `curl -s ${url}/v1/chat/completions -H 'x-portkey-api-key: pk-demo-workspace' -H 'content-type: application/json' -d '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}'`,
  `curl -s ${url}/v1/chat/completions -X POST -H 'x-portkey-api-key: pk-demo-workspace' -H 'x-portkey-virtual-key: openai-demo'`,
  `curl -s ${url}/v1/chat/completions -X POST -H 'x-portkey-api-key: pk-demo-readonly'   # 403 insufficient_scope`,
  `curl -s ${url}/v1/chat/completions -X POST -H 'x-portkey-api-key: pk-nope'            # 401 invalid_api_key`,
])
stopOnSignal(server, stub)
