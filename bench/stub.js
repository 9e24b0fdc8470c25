// The control plane, in a process of its own so that the load generator's work never delays its answers
// (the cold-burst and flood scenarios time them). Driven over IPC by bench/run.js:
//   { type: 'start', id, jwks, keys: [raw key, ...] }   -> { id, url, jwksUrl }
//   { type: 'keys', id, keys: [raw key, ...] }          -> { id }            (adds known keys)
//   { type: 'delay', id, ms }                           -> { id }
//   { type: 'reset', id }                               -> { id }            (counters to zero)
//   { type: 'counts', id }                              -> { id, keyCalls, jwksCalls, total, peakInFlight }
// It exits when its parent goes away.
import { JWKS_PATH, KEY_DETAILS_PATH, keyRecord, startControlPlaneStub } from 'portkey-auth/testing'

let stub = null
let records = 0

const record = () =>
  keyRecord({ id: `key_bench_${++records}`, organisation_id: 'org_bench', workspace_id: 'ws_bench', scopes: ['completions.write'] })

async function handle(message) {
  switch (message.type) {
    case 'start':
      stub = await startControlPlaneStub({
        jwks: message.jwks,
        keys: Object.fromEntries(message.keys.map((key) => [key, record()])),
      })
      return { url: stub.url, jwksUrl: stub.jwksUrl }
    case 'keys':
      for (const key of message.keys) stub.keys.set(key, record())
      return {}
    case 'delay':
      stub.delayMs = message.ms
      return {}
    case 'reset':
      stub.resetCounts()
      return {}
    case 'counts':
      return { keyCalls: stub.calls(KEY_DETAILS_PATH), jwksCalls: stub.calls(JWKS_PATH), total: stub.calls(), peakInFlight: stub.peakInFlight }
    default:
      throw new Error(`unknown message ${message.type}`)
  }
}

process.on('message', (message) => {
  handle(message).then(
    (answer) => process.send({ id: message.id, ...answer }),
    (error) => process.send({ id: message.id, error: String(error?.stack ?? error) }),
  )
})
const quit = () => process.exit(0)
process.on('disconnect', quit)
process.on('SIGTERM', quit)
process.on('SIGINT', quit)
