#!/usr/bin/env node
// portkey-auth-stub: the control-plane stub on its own, seeded with the demo keys or a --keys file, with admin
// endpoints to change them while it runs: for local development without a Portkey account. It only ever
// listens on 127.0.0.1 (startControlPlaneStub binds nothing else).
import { readFile } from 'node:fs/promises'
import { parseArgs } from 'node:util'
import { recordOutcome } from '../credential/key-record.js'
import { KEY_DETAILS_PATH } from '../lookup/control-plane.js'
import type { KeyRecord, RateLimit, VirtualKeyRecord } from '../types.js'
import { type ControlPlaneStub, startControlPlaneStub } from './control-plane-stub.js'
import { demoKeys, demoVirtualKeys } from './demo-keys.js'
import { STUB_ADMIN_PATH } from './stub-admin.js'
import { maskKey, parseStubRecords, type StubRecords } from './stub-records.js'

const NAME = 'portkey-auth-stub'
const DEFAULT_PORT = 8788

const USAGE = `Usage: ${NAME} [--port N] [--keys FILE]

Runs a stand-in for Portkey's control plane on 127.0.0.1, seeded with demo API keys and a demo
virtual key (or the records of a --keys file), so portkey-auth can be tried and developed against
without a Portkey account. Point the middleware at it with PORTKEY_CONTROL_PLANE_URL (or the
controlPlaneUrl option). For local development only.

Options:
  -p, --port N      port to listen on, on 127.0.0.1 only (default: env PORT, else ${DEFAULT_PORT};
                    0 picks a free port)
  -k, --keys FILE   serve the records of FILE instead of the demo keys: a JSON object
                    { "keys": { "<raw API key>": <key record> }, "virtualKeys": { "<slug>": <record> } },
                    records in the shape GET ${KEY_DETAILS_PATH} answers (id, organisation_id,
                    workspace_id, scopes, rate_limits, status, expires_at, ...)
  -h, --help        print this and exit

While it runs, ${STUB_ADMIN_PATH}/ endpoints on the same address add, change and delete keys:
  GET ${STUB_ADMIN_PATH}    PUT | PATCH | DELETE ${STUB_ADMIN_PATH}/keys/{key} and ${STUB_ADMIN_PATH}/virtual-keys/{slug}

Stops on Ctrl-C or SIGTERM.`

/** Exit codes: 0 stopped by a signal or --help, 1 could not listen, 2 bad usage or a bad --keys file. */
async function main(args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  let values: ReturnType<typeof readArgs>
  try {
    values = readArgs(args)
  } catch (error) {
    return usageError((error as Error).message)
  }
  if (values.help) {
    console.log(USAGE)
    return
  }
  const port = parsePort(values.port ?? (env.PORT || String(DEFAULT_PORT)))
  if (port === null) {
    const given = values.port === undefined ? `PORT=${env.PORT}` : `--port ${values.port}`
    return usageError(`the port must be an integer from 0 to 65535 (got ${given})`)
  }
  let records: StubRecords = { keys: demoKeys(), virtualKeys: demoVirtualKeys() }
  if (values.keys !== undefined) {
    try {
      records = parseStubRecords(await readFile(values.keys, 'utf8'))
    } catch (error) {
      const { code, message } = error as NodeJS.ErrnoException
      const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'a directory, not a file' : message
      return usageError(`--keys ${values.keys}: ${why}`)
    }
  }

  let stub: ControlPlaneStub
  try {
    stub = await startControlPlaneStub({ ...records, port, admin: true })
  } catch (error) {
    const { code, message } = error as NodeJS.ErrnoException
    const why = code === 'EADDRINUSE' ? `port ${port} on 127.0.0.1 is in use; pass --port N (0: any free port)` : message
    console.error(`${NAME}: cannot listen: ${why}`)
    process.exitCode = 1
    return
  }

  const stop = async (signal: NodeJS.Signals) => {
    process.off('SIGINT', stop)
    process.off('SIGTERM', stop)
    await stub.close()
    console.log(`${NAME}: stopped (${signal}).`)
  }
  // Before the banner: whoever reads "Ctrl-C to stop." may send a signal at once.
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
  console.log(banner(stub, values.keys ?? null))
}

function readArgs(args: string[]) {
  const options = {
    port: { type: 'string', short: 'p' },
    keys: { type: 'string', short: 'k' },
    help: { type: 'boolean', short: 'h' },
  } as const
  return parseArgs({ args, options, strict: true, allowPositionals: false }).values
}

function parsePort(text: string): number | null {
  if (!/^\d{1,5}$/.test(text)) return null
  const port = Number(text)
  return port <= 65_535 ? port : null
}

function usageError(message: string): void {
  console.error(`${NAME}: ${message}\nRun '${NAME} --help' for usage.`)
  process.exitCode = 2
}

/**
 * What to print once listening: the URL, each key and what it gets, each virtual key, how to point an app at
 * it and the admin endpoints. The demo keys are shown whole (they are published); a --keys file's keys only
 * by their first and last few characters (`maskKey`), with their record's id.
 */
function banner(stub: ControlPlaneStub, file: string | null): string {
  const show = file === null ? (key: string) => key : maskKey
  const keys = [...stub.keys].map(([key, record]) => [show(key), keyAbility(record), keyDetails(record, stub)] as const)
  const virtualKeys = [...stub.virtualKeys].map(([slug, record]) => [slug, virtualKeyAbility(record)] as const)
  const width = Math.max(...[...keys, ...virtualKeys].map(([name]) => name.length), 'any other key'.length) + 2
  const row = ([name, what]: readonly [string, string]) => `  ${name.padEnd(width)}${what}`
  const detail = (what: string) => `  ${' '.repeat(width)}${what}`
  const sample = file === null ? (stub.keys.keys().next().value ?? '<key>') : '<a key of the file>'
  const admin = `${stub.url}${STUB_ADMIN_PATH}`
  const newKey = JSON.stringify({
    id: 'key_local_1',
    organisation_id: 'org_local',
    workspace_id: 'ws_local',
    scopes: ['completions.write'],
  })
  return [
    `Portkey control-plane stub listening on ${stub.url} (${file === null ? 'demo keys' : `keys from ${file}`}; no Portkey account needed)`,
    '',
    `${file === null ? 'Demo API keys' : 'API keys'} (header x-portkey-api-key):`,
    ...keys.flatMap(([name, what, details]) => [row([name, what]), detail(details)]),
    row(['any other key', 'refused (401 invalid_api_key)']),
    '',
    `${file === null ? 'Demo virtual keys' : 'Virtual keys'} (header x-portkey-virtual-key):`,
    ...(virtualKeys.length === 0 ? ['  (none)'] : virtualKeys.map(row)),
    '',
    'Point portkey-auth at it:',
    `  PORTKEY_CONTROL_PLANE_URL=${stub.url} node your-app.js`,
    `  (or the option controlPlaneUrl: '${stub.url}')`,
    '',
    'Try it:',
    `  curl -s ${stub.url}${KEY_DETAILS_PATH} -H 'x-portkey-api-key: ${sample}'`,
    '',
    'Change keys while it runs (local development only; records as in a --keys file):',
    `  GET    ${admin}                       every record held`,
    `  PUT    ${admin}/keys/{key}            add or replace a key (body: its record)`,
    `  PATCH  ${admin}/keys/{key}            change some of its fields`,
    `  DELETE ${admin}/keys/{key}            revoke it (401 invalid_api_key from then on)`,
    `  and the same on ${admin}/virtual-keys/{slug}`,
    `  curl -X PUT ${admin}/keys/pk-local-new -H 'content-type: application/json' -d '${newKey}'`,
    'An app caches what it looked up: a change reaches it within a minute (cache.ttlMs), or at once after',
    'verifier.invalidate(key) or a restart.',
    '',
    'Ctrl-C to stop.',
  ].join('\n')
}

/** What the verifier decides for a key's record now: the caller it admits, or the refusal. */
function keyAbility(record: KeyRecord): string {
  const outcome = recordOutcome(record, Date.now())
  if (outcome.reject) {
    const { status, code } = outcome.reject()
    return `refused (${status} ${code})`
  }
  const { workspaceId, organisationId, scopes } = outcome.value
  const where = workspaceId === null ? `organisation ${organisationId}` : `workspace ${workspaceId}`
  return `admitted: ${where}, scopes ${scopes.join(', ') || '(none)'}`
}

/** The key's id, its rate limits and, when it is admitted, the virtual keys of its workspace. */
function keyDetails(record: KeyRecord, stub: ControlPlaneStub): string {
  const parts = [`id ${record.id}`]
  if (record.rate_limits?.length) parts.push(`rate limits ${limits(record.rate_limits)}`)
  const workspace = recordOutcome(record, Date.now()).value?.workspaceId ?? null
  const slugs = [...stub.virtualKeys]
    .filter(([, vk]) => workspace !== null && vk.workspace_id === workspace)
    .map(([slug]) => slug)
  if (slugs.length > 0) parts.push(`virtual keys ${slugs.join(', ')}`)
  return parts.join('; ')
}

function virtualKeyAbility(record: VirtualKeyRecord): string {
  const status = record.status ?? 'active'
  const rateLimits = record.rate_limits?.length ? `; rate limits ${limits(record.rate_limits)}` : ''
  return `${record.ai_provider_name}, for callers in ${record.workspace_id ?? 'no workspace'}${status === 'active' ? '' : ` (${status})`}${rateLimits}`
}

const PER: Readonly<Record<string, string>> = { rpm: 'minute', rph: 'hour', rpd: 'day', rpw: 'week' }

/** Rate limits as words: `600 requests a minute, 10000 tokens a day`. */
function limits(rateLimits: readonly RateLimit[]): string {
  return rateLimits.map(({ type, unit, value }) => `${value} ${type} a ${PER[unit] ?? unit}`).join(', ')
}

await main(process.argv.slice(2), process.env)
