import OpenAI from 'openai'
import { createHeaders } from 'portkey-ai'
import { describe, expect, test } from 'vitest'
import type { AuthErrorCode } from '../../src/errors.js'
import type { MiddlewareOptions } from '../../src/adapters/middleware-options.js'
import type { PortkeyAuth } from '../../src/types.js'
import { KEY_DETAILS_PATH, keyRecord, virtualKeyRecord } from '../../src/testing/index.js'
import { ADAPTERS, type AdapterName, capabilities } from '../support/adapters.js'
import { type HeaderViews, useApp } from '../support/apps.js'
import { useStub } from '../support/servers.js'

// The real OpenAI SDK, pointed at our app with Portkey's headers from the real portkey-ai SDK.
const PROVIDER_KEY = 'sk-provider-dummy'
const PORTKEY_KEY = 'pk-openai-client-0123456789'

interface ChatRequest {
  model: string
  messages: Array<{ role: string; content: string }>
}

/** An OpenAI-shaped completion whose content is the resolved context, as JSON. */
function completion(body: ChatRequest, auth: PortkeyAuth) {
  const said = body.messages.at(-1)?.content
  const { keyId, workspaceId, scopes, virtualKey } = auth
  return {
    id: 'chatcmpl-portkey-auth-test',
    object: 'chat.completion',
    created: 1_700_000_000,
    model: body.model,
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content: JSON.stringify({ said, keyId, workspaceId, scopes, virtualKey }), refusal: null },
        logprobs: null,
        finish_reason: 'stop',
      },
    ],
    usage: { prompt_tokens: 3, completion_tokens: 5, total_tokens: 8 },
  }
}

/** Our app, guarded by `portkeyAuth`, serving POST /v1/chat/completions. Counts the requests the route saw. */
async function startBackend(adapter: AdapterName, options: MiddlewareOptions) {
  const reached: PortkeyAuth[] = []
  /** The request headers the route saw (every view of them), in order. */
  const headers: HeaderViews[] = []
  const running = await useApp(adapter, {
    auth: options,
    routes: [
      {
        method: 'POST',
        path: '/v1/chat/completions',
        answer: async (seen) => {
          reached.push(seen.portkey!)
          headers.push(JSON.parse(JSON.stringify(seen.views())) as HeaderViews)
          return completion((await seen.json()) as ChatRequest, seen.portkey!)
        },
      },
    ],
  })
  return { ...running, reached, headers }
}

function client(baseUrl: string, portkey: Record<string, unknown>) {
  return new OpenAI({ apiKey: PROVIDER_KEY, baseURL: `${baseUrl}/v1`, defaultHeaders: createHeaders(portkey), maxRetries: 0 })
}

type APIError = InstanceType<typeof OpenAI.APIError>

const chat = { model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content: 'hello' }] }

async function setup(framework: AdapterName, options: MiddlewareOptions = {}) {
  const stub = await useStub({
    keys: {
      [PORTKEY_KEY]: keyRecord({ id: 'key_sdk', workspace_id: 'ws_sdk', scopes: ['completions.write'] }),
      'pk-exhausted-0123456789': keyRecord({ status: 'exhausted' }),
    },
    virtualKeys: { 'openai-prod': virtualKeyRecord({ slug: 'openai-prod', ai_provider_name: 'openai', workspace_id: 'ws_sdk' }) },
  })
  const backend = await startBackend(framework, { controlPlaneUrl: stub.url, ...options })
  return { stub, backend }
}

describe.each(ADAPTERS)('OpenAI SDK with createHeaders() against %s', (framework) => {
  test('a valid key gets the completion, whose content is the resolved context', async () => {
    const { stub, backend } = await setup(framework)
    const answer = await client(backend.url, { apiKey: PORTKEY_KEY }).chat.completions.create(chat)
    expect(answer.object).toBe('chat.completion')
    expect(answer.model).toBe('gpt-4o-mini')
    expect(JSON.parse(answer.choices[0]?.message.content ?? 'null')).toStrictEqual({
      said: 'hello',
      keyId: 'key_sdk',
      workspaceId: 'ws_sdk',
      scopes: ['completions.write'],
      virtualKey: null,
    })
    expect(stub.calls(KEY_DETAILS_PATH)).toBe(1)
    expect(backend.reached).toHaveLength(1)
  })

  test('a virtual key from createHeaders({ virtualKey }) is resolved into the context', async () => {
    const { backend } = await setup(framework)
    const answer = await client(backend.url, { apiKey: PORTKEY_KEY, virtualKey: 'openai-prod' }).chat.completions.create(chat)
    expect(JSON.parse(answer.choices[0]?.message.content ?? 'null')).toMatchObject({
      keyId: 'key_sdk',
      virtualKey: { slug: 'openai-prod', provider: 'openai', status: 'active', rateLimits: [] },
    })
  })

  test.each<{
    name: string
    portkey: Record<string, unknown>
    status: number
    code: AuthErrorCode
    errorClass: new (...args: never[]) => APIError
    outage?: boolean
    options?: MiddlewareOptions
  }>([
    {
      name: 'an unknown key',
      portkey: { apiKey: 'pk-unknown-0123456789' },
      status: 401,
      code: 'invalid_api_key',
      errorClass: OpenAI.AuthenticationError,
    },
    // With no x-portkey-api-key, the SDK's `Authorization: Bearer sk-…` (a provider key) is never the
    // credential (issue 22): not read by default, and with bearer: true never sent to the key service either.
    {
      name: 'no Portkey key (the provider key in Authorization is not read)',
      portkey: {},
      status: 401,
      code: 'missing_api_key',
      errorClass: OpenAI.AuthenticationError,
    },
    {
      name: 'no Portkey key, with bearer: true (the provider key is never looked up)',
      portkey: {},
      options: { bearer: true },
      status: 401,
      code: 'missing_api_key',
      errorClass: OpenAI.AuthenticationError,
    },
    {
      name: 'an exhausted key',
      portkey: { apiKey: 'pk-exhausted-0123456789' },
      status: 412,
      code: 'usage_limit_exceeded',
      errorClass: OpenAI.APIError,
    },
    {
      name: 'an outage',
      portkey: { apiKey: PORTKEY_KEY },
      status: 503,
      code: 'auth_unavailable',
      errorClass: OpenAI.InternalServerError,
      outage: true,
    },
  ])(
    '$name: the SDK throws its $errorClass.name with status $status and code $code',
    async ({ portkey, status, code, errorClass, outage, options }) => {
      const { stub, backend } = await setup(framework, options)
      if (outage) stub.fail('unavailable')
      const error = await client(backend.url, portkey)
        .chat.completions.create(chat)
        .then(
          () => null,
          (caught: unknown) => caught,
        )
      expect(error).toBeInstanceOf(errorClass)
      expect(error).toMatchObject({ status, code })
      expect((error as APIError).message).toMatch(new RegExp(`^${status} \\S`))
      expect(backend.reached).toHaveLength(0)
    },
  )

  test('a 503 is not retried by the SDK when maxRetries is 0, and says when to retry', async () => {
    const { stub, backend } = await setup(framework)
    stub.fail('error')
    const error = (await client(backend.url, { apiKey: PORTKEY_KEY })
      .chat.completions.create(chat)
      .catch((caught: unknown) => caught)) as APIError
    expect(error).toBeInstanceOf(OpenAI.InternalServerError)
    expect(error.headers?.get('retry-after')).toBe('1')
    expect(stub.calls(KEY_DETAILS_PATH)).toBe(1)
  })

  test('the provider key in Authorization never reaches the control plane', async () => {
    const { stub, backend } = await setup(framework)
    await client(backend.url, { apiKey: PORTKEY_KEY, virtualKey: 'openai-prod' }).chat.completions.create(chat)
    expect(stub.calls()).toBe(2) // the key, then the virtual key
    for (const call of stub.log) {
      expect(call.headers.authorization).toBeUndefined()
      expect(call.headers['x-portkey-api-key']).toBe(PORTKEY_KEY)
    }
    expect(JSON.stringify(stub.log)).not.toContain(PROVIDER_KEY)
  })

  test('with clientAuth configured, that (and not the provider key) is what the control plane gets', async () => {
    const { stub, backend } = await setup(framework, { clientAuth: 'Bearer data-plane-client-auth' })
    await client(backend.url, { apiKey: PORTKEY_KEY }).chat.completions.create(chat)
    expect(stub.log.map((call) => call.headers.authorization)).toEqual(['Bearer data-plane-client-auth'])
    expect(JSON.stringify(stub.log)).not.toContain(PROVIDER_KEY)
  })
})

/** The OpenAI SDK given the Portkey key as its own `apiKey` and our app as `baseURL`: it sends only `Authorization: Bearer`. */
function bearerClient(baseUrl: string, apiKey: string, defaultHeaders?: Record<string, string>) {
  return new OpenAI({ apiKey, baseURL: `${baseUrl}/v1`, maxRetries: 0, ...(defaultHeaders && { defaultHeaders }) })
}

describe.each(ADAPTERS)('OpenAI SDK with apiKey: <Portkey key> and a baseURL (Authorization: Bearer) against %s', (framework) => {
  const BEARER = { bearer: true } as const
  test('is admitted: the completion carries the resolved context; the control plane got the key once', async () => {
    const { stub, backend } = await setup(framework, BEARER)
    const sdk = bearerClient(backend.url, PORTKEY_KEY)
    for (let i = 0; i < 2; i++) {
      const answer = await sdk.chat.completions.create(chat)
      expect(JSON.parse(answer.choices[0]?.message.content ?? 'null')).toStrictEqual({
        said: 'hello',
        keyId: 'key_sdk',
        workspaceId: 'ws_sdk',
        scopes: ['completions.write'],
        virtualKey: null,
      })
    }
    expect(stub.calls(KEY_DETAILS_PATH)).toBe(1)
    expect(stub.log[0]?.headers['x-portkey-api-key']).toBe(PORTKEY_KEY)
    expect(stub.log[0]?.headers.authorization).toBeUndefined()
    expect(backend.reached).toHaveLength(2)
  })

  test('a virtual key header beside it is resolved into the context', async () => {
    const { backend } = await setup(framework, BEARER)
    const sdk = bearerClient(backend.url, PORTKEY_KEY, { 'x-portkey-virtual-key': 'openai-prod' })
    const answer = await sdk.chat.completions.create(chat)
    expect(JSON.parse(answer.choices[0]?.message.content ?? 'null')).toMatchObject({
      keyId: 'key_sdk',
      virtualKey: { slug: 'openai-prod', provider: 'openai' },
    })
  })

  test('an unknown key gets the SDK’s AuthenticationError, 401 invalid_api_key, and never reaches the route', async () => {
    const { stub, backend } = await setup(framework, BEARER)
    const unknown = 'pk-unknown-bearer-0123456789'
    const error = (await bearerClient(backend.url, unknown)
      .chat.completions.create(chat)
      .catch((caught: unknown) => caught)) as APIError
    expect(error).toBeInstanceOf(OpenAI.AuthenticationError)
    expect(error).toMatchObject({ status: 401, code: 'invalid_api_key' })
    expect(error.message).not.toContain(unknown)
    expect(stub.calls(KEY_DETAILS_PATH)).toBe(1)
    expect(backend.reached).toHaveLength(0)
  })

  test('without bearer: true (the default) it is refused as a missing credential, with no look-up', async () => {
    const { stub, backend } = await setup(framework)
    const error = (await bearerClient(backend.url, PORTKEY_KEY)
      .chat.completions.create(chat)
      .catch((caught: unknown) => caught)) as APIError
    expect(error).toBeInstanceOf(OpenAI.AuthenticationError)
    expect(error).toMatchObject({ status: 401, code: 'missing_api_key' })
    expect(stub.calls()).toBe(0)
  })

  test('with hideCredentials, the route sees no Authorization (the Web adapter refuses the option)', async () => {
    if (!capabilities(framework).hideCredentials) {
      await expect(setup(framework, { ...BEARER, hideCredentials: true })).rejects.toThrow(/hideCredentials is not supported/)
      return
    }
    const { backend } = await setup(framework, { ...BEARER, hideCredentials: true })
    const seen: Array<string | undefined> = []
    const sdk = new OpenAI({
      apiKey: PORTKEY_KEY,
      baseURL: `${backend.url}/v1`,
      maxRetries: 0,
      // Records what the SDK sent, to show the header was there to remove.
      fetch: async (url, init) => {
        seen.push(new Headers(init?.headers).get('authorization') ?? undefined)
        return fetch(url, init)
      },
    })
    await sdk.chat.completions.create(chat)
    expect(seen).toEqual([`Bearer ${PORTKEY_KEY}`])
    expect(backend.reached).toHaveLength(1)
    expect(backend.headers[0]?.headers).not.toHaveProperty('authorization')
    expect(JSON.stringify(backend.headers[0])).not.toContain(PORTKEY_KEY)
  })
})
