import type { KeyRecord, VirtualKeyRecord } from '../types.js'

let sequence = 0

/**
 * A well-formed, active workspace key record, with `fields` laid over it: the quickest way to seed
 * `startControlPlaneStub()` or a custom `lookup` in tests.
 *
 * @example keyRecord({ scopes: ['completions.write'], expires_at: '2030-01-01T00:00:00Z' })
 */
export function keyRecord(fields: Partial<KeyRecord> = {}): KeyRecord {
  sequence++
  return {
    id: `key_test_${sequence}`,
    name: `test key ${sequence}`,
    type: 'workspace-service',
    organisation_id: 'org_test',
    workspace_id: 'ws_test',
    user_id: null,
    status: 'active',
    scopes: ['completions.write'],
    defaults: { config_id: null, metadata: {} },
    rate_limits: [],
    usage_limits: null,
    expires_at: null,
    ...fields,
  }
}

/**
 * A well-formed, active virtual key record in workspace `ws_test`, with `fields` laid over it.
 *
 * @example virtualKeyRecord({ slug: 'openai-prod', ai_provider_name: 'openai' })
 */
export function virtualKeyRecord(fields: Partial<VirtualKeyRecord> = {}): VirtualKeyRecord {
  sequence++
  return {
    slug: `vk-test-${sequence}`,
    name: `test virtual key ${sequence}`,
    ai_provider_name: 'openai',
    status: 'active',
    workspace_id: 'ws_test',
    expires_at: null,
    ...fields,
  }
}
