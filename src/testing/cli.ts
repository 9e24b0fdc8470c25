#!/usr/bin/env node
// portkey-auth-stub: the control-plane stub on its own, seeded with the demo keys, for local development
// without a Portkey account. It only ever listens on 127.0.0.1 (startControlPlaneStub binds nothing else).
import { parseArgs } from 'node:util'
import { recordOutcome } from '../credential/key-record.js'
import { KEY_DETAILS_PATH } from '../lookup/control-plane.js'
import type { KeyRecord, VirtualKeyRecord } from '../types.js'
import { type ControlPlaneStub, startControlPlaneStub } from './control-plane-stub.js'
import { demoKeys, demoVirtualKeys } from './demo-keys.js'

const NAME = 'portkey-auth-stub'
const DEFAULT_PORT = 8788

const USAGE = `Usage: ${NAME} [--port N]

Runs a stand-in for Portkey's control plane on 127.0.0.1, seeded with demo API keys and a demo
virtual key, so portkey-auth can be tried and developed against without a Portkey account.
Point the middleware at it with PORTKEY_CONTROL_PLANE_URL (or the controlPlaneUrl option).

Options:
  -p, --port N   port to listen on, on 127.0.0.1 only (default: env PORT, else ${DEFAULT_PORT};
                 0 picks a free port)
  -h, --help     print this and exit

Stops on Ctrl-C or SIGTERM.`

/** Exit codes: 0 stopped by a signal or --help, 1 could not listen, 2 bad usage. */
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

  let stub: ControlPlaneStub
  try {
    stub = await startControlPlaneStub({ keys: demoKeys(), virtualKeys: demoVirtualKeys(), port })
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
  console.log(banner(stub))
}

function readArgs(args: string[]) {
  const options = { port: { type: 'string', short: 'p' }, help: { type: 'boolean', short: 'h' } } as const
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

/** What to print once listening: the URL, each demo key and what it gets, and how to point an app at it. */
function banner(stub: ControlPlaneStub): string {
  const keys = [...stub.keys].map(([key, record]) => [key, keyAbility(record)] as const)
  const virtualKeys = [...stub.virtualKeys].map(([slug, record]) => [slug, virtualKeyAbility(record)] as const)
  const width = Math.max(...[...keys, ...virtualKeys].map(([name]) => name.length), 'any other key'.length) + 2
  const row = ([name, what]: readonly [string, string]) => `  ${name.padEnd(width)}${what}`
  const [sample] = keys[0] ?? ['']
  return [
    `Portkey control-plane stub listening on ${stub.url} (demo keys; no Portkey account needed)`,
    '',
    'Demo API keys (header x-portkey-api-key):',
    ...keys.map(row),
    row(['any other key', 'refused (401 invalid_api_key)']),
    '',
    'Demo virtual keys (header x-portkey-virtual-key):',
    ...virtualKeys.map(row),
    '',
    'Point portkey-auth at it:',
    `  PORTKEY_CONTROL_PLANE_URL=${stub.url} node your-app.js`,
    `  (or the option controlPlaneUrl: '${stub.url}')`,
    '',
    'Try it:',
    `  curl -s ${stub.url}${KEY_DETAILS_PATH} -H 'x-portkey-api-key: ${sample}'`,
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

function virtualKeyAbility(record: VirtualKeyRecord): string {
  const status = record.status ?? 'active'
  return `${record.ai_provider_name}, for callers in ${record.workspace_id ?? 'no workspace'}${status === 'active' ? '' : ` (${status})`}`
}

await main(process.argv.slice(2), process.env)
