// An AI backend on Fastify. The portkeyAuth plugin guards the context it is registered in: here the /v1
// plugin, with the scope Portkey's own gateway would require on each route; /health, outside it, stays open.
// (Registered on the app itself, it would guard every route.) Handlers read the caller with portkeyOf().
// Run: npm run build && node examples/fastify.js   (with PORTKEY_CONTROL_PLANE_URL for a real control plane)
import Fastify from 'fastify'
import { portkeyAuth, portkeyOf, requirePermissions } from 'portkey-auth/fastify'
import { announce, cannotListen, stopOnSignal, useLocalControlPlane } from './support/local-control-plane.js'

const { stub } = await useLocalControlPlane()

const app = Fastify()
app.get('/health', () => ({ ok: true }))

await app.register(
  async (v1) => {
    await v1.register(portkeyAuth, { scopes: 'portkey' })

    v1.post('/chat/completions', (request) => {
      const auth = portkeyOf(request)
      const provider = auth.virtualKey ? ` via ${auth.virtualKey.provider} (${auth.virtualKey.slug})` : ''
      return {
        id: `chatcmpl-demo-${Date.now()}`,
        object: 'chat.completion',
        created: Math.floor(Date.now() / 1000),
        model: request.body?.model ?? 'demo-model',
        choices: [
          {
            index: 0,
            message: { role: 'assistant', content: `Hello from workspace ${auth.workspaceId} (key ${auth.keyId})${provider}.` },
            finish_reason: 'stop',
          },
        ],
        usage: { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 },
        portkey: auth,
      }
    })

    v1.get('/whoami', (request) => {
      const { keyId, workspaceId, scopes, virtualKey } = portkeyOf(request)
      return { keyId, workspaceId, scopes, virtualKey }
    })

    // A route of your own, outside Portkey's scope map: requirePermissions() names what it needs.
    v1.get('/reports', { preHandler: requirePermissions('logs.read') }, (request) => ({
      object: 'list',
      data: [],
      workspaceId: portkeyOf(request).workspaceId,
    }))
  },
  { prefix: '/v1' },
)

await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? 8787) }).catch(cannotListen)
announce('portkey-auth demo: a Fastify AI backend', app.server, (url) => [
  `curl -s ${url}/v1/chat/completions -H 'x-portkey-api-key: pk-demo-workspace' -H 'content-type: application/json' -d '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}'`,
  `curl -s ${url}/v1/whoami -H 'x-portkey-api-key: pk-demo-workspace' -H 'x-portkey-virtual-key: openai-demo'`,
  `curl -s ${url}/v1/reports -H 'x-portkey-api-key: pk-demo-readonly'`,
  `curl -s ${url}/v1/chat/completions -X POST -H 'x-portkey-api-key: pk-demo-readonly'   # 403 insufficient_scope`,
  `curl -s ${url}/v1/whoami                                                        # 401 missing_api_key`,
  `curl -s ${url}/health                                                           # open: outside the /v1 plugin`,
])
stopOnSignal(app, stub)
