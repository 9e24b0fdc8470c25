import { Portkey } from 'portkey-ai'
import { APIError, InternalServerError, PermissionDeniedError } from 'portkey-ai/dist/src/error.js'
import { describe, expect, test } from 'vitest'
import type { PortkeyAuth } from '../../src/types.js'
import { type ControlPlaneStub, keyRecord, VIRTUAL_KEYS_PATH, virtualKeyRecord } from '../../src/testing/index.js'
import { ADAPTERS, type AdapterName } from '../support/adapters.js'
import { useApp } from '../support/apps.js'
import { useStub } from '../support/servers.js'

const LIVE = 'pk-live-0123456789abcdef'
const MODEL = 'gpt-4o-mini'

/** An OpenAI-shaped chat completion built from the caller's Portkey context. */
function completion(auth: PortkeyAuth, body: unknown) {
  const { model } = body as { model?: string }
  const vk = auth.virtualKey
  return {
    id: 'chatcmpl-test-1',
    object: 'chat.completion',
    created: 1_700_000_000,
    model: model ?? 'unknown',
    choices: [
      {
        index: 0,
        message: {
          role: 'assistant',
          content: `provider=${vk?.provider ?? 'none'} slug=${vk?.slug ?? 'none'} key=${auth.keyId}`,
        },
        finish_reason: 'stop',
        logprobs: null,
      },
    ],
    usage: { prompt_tokens: 3, completion_tokens: 5, total_tokens: 8 },
    virtual_key: vk,
  }
}

interface Gateway {
  readonly baseURL: string
  /** Headers of every request that reached the app, guarded or not: one entry per SDK attempt. */
  readonly arrived: Record<string, unknown>[]
}

/** An app guarding every route with portkeyAuth({ scopes: 'portkey' }) and answering chat completions. */
async function startGateway(adapter: AdapterName, stub: ControlPlaneStub): Promise<Gateway> {
  const arrived: Record<string, unknown>[] = []
  const app = await useApp(adapter, {
    auth: { controlPlaneUrl: stub.url, scopes: 'portkey' },
    before: (seen) => void arrived.push({ ...seen.views().headers }),
    routes: [
      { method: 'POST', path: '/v1/chat/completions', answer: async (seen) => completion(seen.portkey!, await seen.json()) },
    ],
  })
  return { baseURL: `${app.url}/v1`, arrived }
}

/** Portkey's SDK pointed at `gateway`, with its one retry (on 5xx and network errors) turned off. */
function client(gateway: Gateway, fields: { virtualKey?: string; provider?: string; apiKey?: string }) {
  const portkey = new Portkey({ apiKey: LIVE, baseURL: gateway.baseURL, ...fields })
  portkey.maxRetries = 0
  return portkey
}

const ask = (portkey: Portkey) =>
  portkey.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'Say hi' }] })

async function rejection(promise: Promise<unknown>): Promise<APIError> {
  const error = await promise.then(
    () => {
      throw new Error('expected the SDK call to fail')
    },
    (thrown: unknown) => thrown,
  )
  expect(error).toBeInstanceOf(APIError)
  return error as APIError
}

const errorCode = (error: APIError) => (error.error as { error?: { code?: string } } | undefined)?.error?.code

describe.each(ADAPTERS)('%s: the portkey-ai SDK as a client', (framework: AdapterName) => {
  async function setup() {
    const stub = await useStub({
      keys: { [LIVE]: keyRecord({ id: 'key_live', workspace_id: 'ws_test', scopes: ['completions.write'] }) },
      virtualKeys: {
        'openai-prod': virtualKeyRecord({ slug: 'openai-prod', ai_provider_name: 'openai', workspace_id: 'ws_test' }),
        'anthropic-other': virtualKeyRecord({ slug: 'anthropic-other', ai_provider_name: 'anthropic', workspace_id: 'ws_other' }),
      },
    })
    return { stub, gateway: await startGateway(framework, stub) }
  }

  test.each<{ name: string; fields: { virtualKey?: string; provider?: string }; header: string; value: string }>([
    {
      name: "virtualKey: 'openai-prod'",
      fields: { virtualKey: 'openai-prod' },
      header: 'x-portkey-virtual-key',
      value: 'openai-prod',
    },
    {
      name: "provider: '@openai-prod'",
      fields: { provider: '@openai-prod' },
      header: 'x-portkey-provider',
      value: '@openai-prod',
    },
  ])('new Portkey({ $name }): the virtual key is resolved, once', async ({ fields, header, value }) => {
    const { stub, gateway } = await setup()
    const portkey = client(gateway, fields)

    const answer = await ask(portkey)
    expect(answer.model).toBe(MODEL)
    expect(answer.choices[0]?.message?.content).toBe('provider=openai slug=openai-prod key=key_live')
    expect((answer as unknown as { virtual_key: unknown }).virtual_key).toStrictEqual({
      slug: 'openai-prod',
      provider: 'openai',
      status: 'active',
      rateLimits: [],
    })

    expect((await ask(portkey)).choices[0]?.message?.content).toBe('provider=openai slug=openai-prod key=key_live')
    expect(stub.calls(`${VIRTUAL_KEYS_PATH}openai-prod`)).toBe(1)
    expect(gateway.arrived).toHaveLength(2)
    expect(gateway.arrived[0]).toMatchObject({ 'x-portkey-api-key': LIVE, [header]: value })
  })

  test('without a virtual key, the completion says so', async () => {
    const { stub, gateway } = await setup()
    const answer = await ask(client(gateway, {}))
    expect(answer.choices[0]?.message?.content).toBe('provider=none slug=none key=key_live')
    expect(stub.log.filter((call) => call.path.startsWith(VIRTUAL_KEYS_PATH))).toHaveLength(0)
  })

  test.each(['anthropic-other', 'no-such-key'])(
    "virtualKey: '%s' is refused: PermissionDeniedError, status 403, code virtual_key_not_allowed, no retry",
    async (slug) => {
      const { gateway } = await setup()
      const error = await rejection(ask(client(gateway, { virtualKey: slug })))
      expect(error).toBeInstanceOf(PermissionDeniedError)
      expect(error.status).toBe(403)
      expect(errorCode(error)).toBe('virtual_key_not_allowed')
      expect(error.message).toBe('This virtual key does not exist or is not available to this API key.')
      expect(gateway.arrived).toHaveLength(1)
    },
  )

  test('an unknown API key surfaces as status 401, code invalid_api_key', async () => {
    const { gateway } = await setup()
    const error = await rejection(ask(client(gateway, { apiKey: 'pk-unknown-0123456789', virtualKey: 'openai-prod' })))
    expect(error.status).toBe(401)
    expect(errorCode(error)).toBe('invalid_api_key')
  })

  test('a virtual-key look-up outage surfaces as a 503 auth_unavailable, tried once with maxRetries = 0', async () => {
    const { stub, gateway } = await setup()
    await ask(client(gateway, {})) // the key is cached
    stub.fail('error')
    const error = await rejection(ask(client(gateway, { virtualKey: 'openai-prod' })))
    expect(error).toBeInstanceOf(InternalServerError)
    expect(error.status).toBe(503)
    expect(errorCode(error)).toBe('auth_unavailable')
    expect(gateway.arrived).toHaveLength(2)
  })
})
