import OpenAI from 'openai'
import { createHeaders, Portkey } from 'portkey-ai'
import * as PortkeyErrors from 'portkey-ai/dist/src/error.js'
import { beforeAll, describe, expect, test } from 'vitest'
import type { AuthErrorCode } from '../../src/errors.js'
import { type ControlPlaneStub, createTestIssuer, keyRecord, type TestIssuer, virtualKeyRecord } from '../../src/testing/index.js'
import { ADAPTERS } from '../support/adapters.js'
import { useApp } from '../support/apps.js'

// Every rejection, as each real client meets it: the SDK's own error class, the status, and our code.
const KEYS = {
  live: 'pk-clients-live-0123456789',
  readonly: 'pk-clients-readonly-0123456789',
  expired: 'pk-clients-expired-0123456789',
  exhausted: 'pk-clients-exhausted-0123456789',
  limited: 'pk-clients-limited-0123456789',
}

let issuer: TestIssuer
beforeAll(async () => {
  issuer = await createTestIssuer()
})

interface Case {
  name: string
  /** The Portkey credential and virtual key the client sends; `null`: no credential. */
  apiKey: string | null | (() => Promise<string>)
  virtualKey?: string
  prepare?: (stub: ControlPlaneStub) => void
  status: number
  code: AuthErrorCode
  /** The error class name both SDKs use for this status. */
  className: string
}

const CASES: Case[] = [
  { name: 'no credential', apiKey: null, status: 401, code: 'missing_api_key', className: 'AuthenticationError' },
  {
    name: 'an unknown key',
    apiKey: 'pk-clients-unknown-0123456789',
    status: 401,
    code: 'invalid_api_key',
    className: 'AuthenticationError',
  },
  { name: 'an expired key', apiKey: KEYS.expired, status: 401, code: 'expired_api_key', className: 'AuthenticationError' },
  {
    name: 'a tampered JWT',
    apiKey: async () => `${(await issuer.sign({ portkey_oid: 'org_c', portkey_workspace: 'ws_c' })).slice(0, -4)}AAAA`,
    status: 401,
    code: 'invalid_token',
    className: 'AuthenticationError',
  },
  {
    name: 'a malformed virtual-key slug',
    apiKey: KEYS.live,
    virtualKey: 'bad slug!',
    status: 400,
    code: 'invalid_request',
    className: 'BadRequestError',
  },
  {
    name: 'a key without completions.write',
    apiKey: KEYS.readonly,
    status: 403,
    code: 'insufficient_scope',
    className: 'PermissionDeniedError',
  },
  {
    name: "another workspace's virtual key",
    apiKey: KEYS.live,
    virtualKey: 'vk-elsewhere',
    status: 403,
    code: 'virtual_key_not_allowed',
    className: 'PermissionDeniedError',
  },
  { name: 'an exhausted key', apiKey: KEYS.exhausted, status: 412, code: 'usage_limit_exceeded', className: 'APIError' },
  // A limit of 0: the first request is past it.
  {
    name: 'a key past its rate limit',
    apiKey: KEYS.limited,
    status: 429,
    code: 'rate_limit_exceeded',
    className: 'RateLimitError',
  },
  {
    name: 'a key-service outage',
    apiKey: 'pk-clients-new-0123456789',
    prepare: (stub) => stub.fail('error'),
    status: 503,
    code: 'auth_unavailable',
    className: 'InternalServerError',
  },
]

const reply = { id: 'c', object: 'chat.completion', created: 0, model: 'm', choices: [] }

/** A gateway's chat route behind `portkeyAuth()`, with a stub knowing KEYS (made once the issuer is). */
const gateway = () => ({
  stub: {
    keys: {
      [KEYS.live]: keyRecord({ id: 'key_c', workspace_id: 'ws_c', scopes: ['completions.write'] }),
      [KEYS.readonly]: keyRecord({ workspace_id: 'ws_c', scopes: ['logs.read'] }),
      [KEYS.expired]: keyRecord({ status: 'expired' }),
      [KEYS.exhausted]: keyRecord({ status: 'exhausted' }),
      [KEYS.limited]: keyRecord({ workspace_id: 'ws_c', rate_limits: [{ type: 'requests', unit: 'rpm', value: 0 }] }),
    },
    virtualKeys: { 'vk-elsewhere': virtualKeyRecord({ slug: 'vk-elsewhere', workspace_id: 'ws_other' }) },
    jwks: issuer.jwks,
  },
  auth: (stub: ControlPlaneStub) => ({
    controlPlaneUrl: stub.url,
    // The OpenAI client below sends a provider key as Authorization: Bearer, as a gateway's clients do: Bearer
    // is off by default, so "no credential" is a missing credential.
    scopes: 'portkey' as const,
    jwt: { jwksUrl: stub.jwksUrl, issuer: issuer.issuer, audience: issuer.audience },
  }),
  routes: [{ method: 'POST', path: '/v1/chat/completions', answer: () => reply }],
})

type Ask = (baseURL: string, apiKey: string | null, virtualKey: string | undefined) => Promise<unknown>

const SDKS: Array<{ sdk: string; ask: Ask; codeOf: (error: any) => unknown; classes: Record<string, unknown> }> = [
  {
    sdk: 'openai (createHeaders from portkey-ai)',
    ask: (baseURL, apiKey, virtualKey) =>
      new OpenAI({
        apiKey: 'sk-provider-dummy',
        baseURL,
        maxRetries: 0,
        defaultHeaders: createHeaders({ apiKey: apiKey ?? undefined, virtualKey }),
      }).chat.completions.create({
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content: 'hi' }],
      }),
    codeOf: (error) => error.code,
    classes: OpenAI as unknown as Record<string, unknown>,
  },
  {
    sdk: 'portkey-ai',
    ask: (baseURL, apiKey, virtualKey) => {
      const portkey = new Portkey({ apiKey: apiKey ?? undefined, baseURL, virtualKey })
      portkey.maxRetries = 0
      return portkey.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] })
    },
    codeOf: (error) => error.error?.error?.code,
    classes: PortkeyErrors as unknown as Record<string, unknown>,
  },
]

describe.each(ADAPTERS)('%s', (framework) => {
  describe.each(SDKS)('$sdk', ({ ask, codeOf, classes }) => {
    test.each(CASES)(
      '$name: $className, status $status, code $code',
      async ({ apiKey, virtualKey, prepare, status, code, className }) => {
        const { stub, url } = await useApp(framework, gateway())
        const baseURL = `${url}/v1`
        prepare?.(stub)
        const credential = typeof apiKey === 'function' ? await apiKey() : apiKey
        const error = await ask(baseURL, credential, virtualKey).then(
          () => expect.unreachable('the call should fail'),
          (thrown: unknown) => thrown as { status: number; message: string },
        )
        expect(error).toBeInstanceOf(classes[className] as new () => unknown)
        expect(error.status).toBe(status)
        expect(codeOf(error)).toBe(code)
        if (credential) expect(error.message).not.toContain(credential)
      },
    )
  })
})
