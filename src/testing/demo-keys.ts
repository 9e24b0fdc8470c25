import type { KeyRecord, VirtualKeyRecord } from '../types.js'
import { keyRecord, virtualKeyRecord } from './records.js'

/**
 * The demo API keys, by raw key: what the examples and `portkey-auth-stub` seed the stub with, so a key
 * that works against one works against the other. Fresh records on every call: change them freely.
 *
 * - `pk-demo-workspace`: active in `ws_demo`, scopes `completions.write` and `logs.read`, with defaults
 * - `pk-demo-readonly`: active in `ws_demo`, scope `logs.read` only (403 on a completions route)
 * - `pk-demo-exhausted`: usage limit spent (412 `usage_limit_exceeded`)
 * - `pk-demo-expired`: expired in 2020 (401 `expired_api_key`)
 *
 * @example
 * ```ts
 * const stub = await startControlPlaneStub({ keys: demoKeys(), virtualKeys: demoVirtualKeys() })
 * ```
 */
export function demoKeys(): Record<string, KeyRecord> {
  return {
    'pk-demo-workspace': keyRecord({
      id: 'key_demo_workspace',
      name: 'demo workspace key',
      organisation_id: 'org_demo',
      workspace_id: 'ws_demo',
      scopes: ['completions.write', 'logs.read'],
      defaults: { config_id: 'pc-demo-config', metadata: { team: 'demo' } },
      rate_limits: [{ type: 'requests', unit: 'rpm', value: 600 }],
    }),
    'pk-demo-readonly': keyRecord({
      id: 'key_demo_readonly',
      name: 'demo read-only key',
      organisation_id: 'org_demo',
      workspace_id: 'ws_demo',
      scopes: ['logs.read'],
    }),
    'pk-demo-exhausted': keyRecord({
      id: 'key_demo_exhausted',
      name: 'demo exhausted key',
      organisation_id: 'org_demo',
      status: 'exhausted',
    }),
    'pk-demo-expired': keyRecord({
      id: 'key_demo_expired',
      name: 'demo expired key',
      organisation_id: 'org_demo',
      expires_at: '2020-01-01T00:00:00Z',
    }),
  }
}

/**
 * The demo virtual keys, by slug: `openai-demo`, an active OpenAI key in `ws_demo`. Fresh records on
 * every call.
 *
 * @example startControlPlaneStub({ keys: demoKeys(), virtualKeys: demoVirtualKeys() })
 */
export function demoVirtualKeys(): Record<string, VirtualKeyRecord> {
  return {
    'openai-demo': virtualKeyRecord({
      slug: 'openai-demo',
      name: 'demo OpenAI key',
      ai_provider_name: 'openai',
      workspace_id: 'ws_demo',
    }),
  }
}
