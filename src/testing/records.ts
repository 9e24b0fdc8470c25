import type { KeyRecord } from '../core/types.js'

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
