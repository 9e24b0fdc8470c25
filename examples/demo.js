// The demo behind `npm start`: an AI backend guarded by portkeyAuth(), with Portkey's control plane
// played by the package's own stub on a free loopback port. Nothing leaves this machine.
import express from 'express'
import { portkeyAuth } from 'portkey-auth/express'
import { keyRecord, startControlPlaneStub } from 'portkey-auth/testing'

const port = Number(process.env.PORT ?? 8787)

const keys = {
  'pk-demo-workspace': keyRecord({
    id: 'key_demo_workspace',
    name: 'demo workspace key',
    organisation_id: 'org_demo',
    workspace_id: 'ws_demo',
    scopes: ['completions.write', 'logs.read'],
    defaults: { config_id: 'pc-demo-config', metadata: { team: 'demo' } },
    rate_limits: [{ type: 'requests', unit: 'rpm', value: 600 }],
  }),
  'pk-demo-exhausted': keyRecord({ id: 'key_demo_exhausted', organisation_id: 'org_demo', status: 'exhausted' }),
  'pk-demo-expired': keyRecord({ id: 'key_demo_expired', organisation_id: 'org_demo', expires_at: '2020-01-01T00:00:00Z' }),
}
const stub = await startControlPlaneStub({ keys })

const app = express()
app.use(express.json())
app.get('/health', (_req, res) => res.json({ ok: true }))
app.use('/v1', portkeyAuth({ controlPlaneUrl: stub.url }))

app.post('/v1/chat/completions', (req, res) => {
  const auth = req.portkey
  res.json({
    id: `chatcmpl-demo-${Date.now()}`,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: req.body?.model ?? 'demo-model',
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content: `Hello from workspace ${auth.workspaceId} (key ${auth.keyId}).` },
        finish_reason: 'stop',
      },
    ],
    usage: { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 },
    portkey: auth,
  })
})

const server = app.listen(port, '127.0.0.1', () => {
  const url = `http://127.0.0.1:${server.address().port}`
  console.log(`portkey-auth demo: an AI backend on ${url}, its key service stubbed at ${stub.url}\n`)
  console.log('Demo keys:')
  for (const [key, record] of Object.entries(keys)) console.log(`  ${key.padEnd(20)} ${record.status}, expires ${record.expires_at ?? 'never'}`)
  console.log('\nTry it:')
  console.log(
    `  curl -s ${url}/v1/chat/completions -H 'x-portkey-api-key: pk-demo-workspace' -H 'content-type: application/json' -d '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}'`,
  )
  console.log(`  curl -s ${url}/v1/chat/completions -X POST -H 'x-portkey-api-key: pk-nope'`)
  console.log('\nCtrl-C to stop.')
})

const stop = () => {
  server.close()
  server.closeAllConnections()
  stub.close().then(() => process.exit(0))
}
process.on('SIGINT', stop)
process.on('SIGTERM', stop)
