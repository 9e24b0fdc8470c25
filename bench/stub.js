// @ts-check
// The control plane, in a process of its own so that the load generator's work never delays its answers
// (the cold-burst and flood scenarios time them). Driven over IPC by bench/run.js:
//   { type: 'start', jwks, keys: [raw key, ...] }   -> { url, jwksUrl }
//   { type: 'keys', keys: [raw key, ...] }          -> {}            (adds known keys)
//   { type: 'keys', keys, rateLimits: [{ type, unit, value }, ...] } -> {}  (adds them with those rate limits,
//                                                       the records' `rate_limits`)
//   { type: 'delay', ms }                           -> {}
//   { type: 'reset' }                               -> {}            (counters to zero)
//   { type: 'counts' }                              -> { keyCalls, jwksCalls, peakInFlight }
import { JWKS_PATH, KEY_DETAILS_PATH, keyRecord, startControlPlaneStub } from 'portkey-auth/testing'
import { answerParent } from './children.js'

/** @type {import('portkey-auth/testing').ControlPlaneStub | null} */
let started = null
let records = 0

const record = (/** @type {import('portkey-auth').RateLimit[]} */ rateLimits = []) =>
  keyRecord({
    id: `key_bench_${++records}`,
    organisation_id: 'org_bench',
    workspace_id: 'ws_bench',
    scopes: ['completions.write'],
    rate_limits: rateLimits,
  })

/** @typedef {{ type: string, jwks: { keys: object[] }, keys: string[], rateLimits?: import('portkey-auth').RateLimit[], ms: number }} Message */

answerParent(async (/** @type {Message} */ message) => {
  if (message.type === 'start') {
    started = await startControlPlaneStub({
      jwks: message.jwks,
      keys: Object.fromEntries(message.keys.map((key) => [key, record()])),
    })
    return { url: started.url, jwksUrl: started.jwksUrl }
  }
  const stub = started
  if (stub === null) throw new Error('the stub is not started')
  switch (message.type) {
    case 'keys':
      for (const key of message.keys) stub.keys.set(key, record(message.rateLimits))
      return {}
    case 'delay':
      stub.delayMs = message.ms
      return {}
    case 'reset':
      stub.resetCounts()
      return {}
    case 'counts':
      return { keyCalls: stub.calls(KEY_DETAILS_PATH), jwksCalls: stub.calls(JWKS_PATH), peakInFlight: stub.peakInFlight }
    default:
      throw new Error(`unknown message ${message.type}`)
  }
})
