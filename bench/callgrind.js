// @ts-check
// One contender (bench/server.js) in a process of its own under valgrind's callgrind, with instrumentation
// off until asked for (so the warm-up runs at a few times native cost, not ~50×), and the reading of what
// callgrind dumps: instructions per function, JIT-compiled JavaScript named from V8's perf map.
import { execFile, spawn } from 'node:child_process'
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { promisify } from 'node:util'

const run = promisify(execFile)
const SERVER = new URL('server.js', import.meta.url).pathname
const ROOT = new URL('..', import.meta.url).pathname

/** @typedef {{ self: Map<string, number>, inclusive: Map<string, number>, total: number }} Dump */

/**
 * Starts `node bench/server.js <scenario>` under callgrind (node with `--perf-basic-prof`, so that V8 writes
 * /tmp/perf-<pid>.map naming its compiled code) and resolves once it listens.
 * @param {string} scenario
 * @param {import('./children.js').ServerSettings} settings
 * @param {string} dir where callgrind writes its dumps
 * @param {boolean} [keep] whether to write each dump again with JIT code named (`<dump>.named`, for
 *   `callgrind_annotate`)
 */
export async function startUnderCallgrind(scenario, settings, dir, keep = false) {
  const child = spawn(
    'valgrind',
    [
      '--tool=callgrind',
      '--instr-atstart=no',
      '--trace-children=no',
      `--callgrind-out-file=${dir}/callgrind.%p`,
      process.execPath,
      '--perf-basic-prof',
      // A young generation of one fixed size: V8 sizes it from the allocation rate it sees, which valgrind
      // slows ~50×, so two processes of one contender would otherwise collect garbage 8 or 30 times in
      // 2,000 requests; fixed, the collector's instructions follow what a request allocates.
      '--min-semi-space-size=16',
      '--max-semi-space-size=16',
      ...(process.env.INSTR_NODE_FLAGS ?? '').split(' ').filter(Boolean),
      SERVER,
      scenario,
    ],
    // In `dir`: --perf-basic-prof also writes V8's log (isolate-*.log) to the working directory.
    { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, BENCH_SERVER: JSON.stringify(settings) } },
  )
  let stderr = ''
  child.stderr.setEncoding('utf8').on('data', (chunk) => (stderr += chunk))
  /** @type {string[]} */
  const output = []
  const pid = /** @type {number} */ (child.pid)
  const line = await new Promise((resolve, reject) => {
    setTimeout(() => reject(new Error(`${scenario} under valgrind printed no port in 120 s\n${stderr}`)), 120_000).unref()
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (line.startsWith('{"port":')) resolve(line)
      else output.push(line)
    })
    child.once('exit', (code) => reject(new Error(`${scenario} under valgrind exited (${code})\n${stderr}`)))
    child.once('error', reject)
  })
  const control = (/** @type {string[]} */ ...args) => run('callgrind_control', [...args, String(pid)])
  /** @type {Set<string>} */
  const seen = new Set()
  return {
    url: `http://127.0.0.1:${JSON.parse(line).port}`,
    /** What it printed on stdout besides its port (with INSTR_NODE_FLAGS='--trace-opt', V8's tracing), taken. */
    output: () => output.splice(0),
    /** Switches instrumentation on (from then on the process runs ~50× slower). */
    instrument: () => control('-i', 'on'),
    /** Sets the counters to zero. */
    zero: () => control('-z'),
    /**
     * Dumps the counters since the last zero and reads the dump.
     * @returns {Promise<Dump>}
     */
    async dump() {
      await control('-d')
      const files = readdirSync(dir).filter(
        (name) => /^callgrind\.\d+\.\d+$/.test(name) && name.startsWith(`callgrind.${pid}.`) && !seen.has(name),
      )
      if (files.length !== 1) throw new Error(`callgrind: expected one new dump, found ${files.length}`)
      seen.add(files[0])
      return readDump(`${dir}/${files[0]}`, readPerfMap(pid), keep)
    },
    /** Stops the process (SIGTERM, then SIGKILL after 5 s) and removes its perf map. */
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve))
        const timer = setTimeout(() => child.kill('SIGKILL'), 5_000)
        child.kill('SIGTERM')
        await exited
        clearTimeout(timer)
      }
      rmSync(`/tmp/perf-${pid}.map`, { force: true })
    },
  }
}

/**
 * V8's perf map of process `pid`: lines `<start hex> <size hex> <name>`, sorted by start; a later entry for
 * the same addresses (code freed, the space reused) replaces an earlier one.
 * @param {number} pid
 * @returns {{ start: number, end: number, name: string }[]}
 */
function readPerfMap(pid) {
  let text = ''
  try {
    text = readFileSync(`/tmp/perf-${pid}.map`, 'utf8')
  } catch {
    return []
  }
  /** @type {Map<number, { start: number, end: number, name: string }>} */
  const byStart = new Map()
  for (const line of text.split('\n')) {
    const [start, size, ...name] = line.split(' ')
    if (name.length === 0) continue
    const from = Number.parseInt(start, 16)
    byStart.set(from, { start: from, end: from + Number.parseInt(size, 16), name: name.join(' ') })
  }
  return [...byStart.values()].sort((a, b) => a.start - b.start)
}

/**
 * The name of an address in the perf map: `JS:*name file:line:col` (`*` optimised, `^` baseline, `~`
 * interpreted, `+` Maglev) with the package root cut from file names; the address itself when unknown.
 * @param {{ start: number, end: number, name: string }[]} map
 * @param {string} address
 */
function nameOf(map, address) {
  const at = Number.parseInt(address, 16)
  let low = 0
  let high = map.length - 1
  while (low <= high) {
    const mid = (low + high) >> 1
    if (map[mid].end <= at) low = mid + 1
    else if (map[mid].start > at) high = mid - 1
    else return map[mid].name.replaceAll(`file://${ROOT}`, '').replaceAll(ROOT, '')
  }
  return address
}

/**
 * Reads one callgrind dump (event Ir only): each function's own instructions and its inclusive ones (its
 * own plus those of the calls it made). Functions are known by name, so two compiled versions of one
 * JavaScript function (baseline, optimised) stay apart while two copies of one version add up.
 * @param {string} file
 * @param {{ start: number, end: number, name: string }[]} map
 * @param {boolean} [writeNamed] whether to write the dump again as `<file>.named`, JIT code named
 * @returns {Dump}
 */
export function readDump(file, map, writeNamed = false) {
  /** @type {Map<string, string>} */
  const names = new Map()
  const name = (/** @type {string} */ spec) => {
    const match = /^\((\d+)\)(?: (.*))?$/.exec(spec)
    if (match === null) return spec
    if (match[2] !== undefined) {
      // An address, with callgrind's '2 for a recursive call when it is one.
      const jit = /^(0x[0-9a-f]+)('\d+)?$/.exec(match[2])
      names.set(match[1], jit === null ? match[2] : `${nameOf(map, jit[1])}${jit[2] ?? ''}`)
    }
    return names.get(match[1]) ?? spec
  }
  /** @type {Map<string, number>} */
  const self = new Map()
  /** @type {Map<string, number>} */
  const inclusive = new Map()
  const add = (/** @type {Map<string, number>} */ into, /** @type {string} */ key, /** @type {number} */ n) =>
    into.set(key, (into.get(key) ?? 0) + n)
  let current = ''
  let inCall = false
  let sum = 0
  let summary = NaN
  const lines = readFileSync(file, 'utf8').split('\n')
  for (const line of lines) {
    if (line.startsWith('fn=')) current = name(line.slice(3))
    else if (line.startsWith('cfn=')) name(line.slice(4))
    else if (line.startsWith('calls=')) inCall = true
    else if (/^[0-9+*-]/.test(line)) {
      const cost = Number(line.split(' ')[1] ?? 0)
      if (inCall) add(inclusive, current, cost)
      else {
        add(self, current, cost)
        add(inclusive, current, cost)
        sum += cost
      }
      inCall = false
    } else if (line.startsWith('summary:')) summary = Number(line.slice(8))
  }
  if (writeNamed) {
    const named = lines.map((line) => {
      const match = /^(c?fn=\((\d+)\)) 0x[0-9a-f]+('\d+)?$/.exec(line)
      return match === null ? line : `${match[1]} ${names.get(match[2])}`
    })
    writeFileSync(`${file}.named`, named.join('\n'))
  }
  return { self, inclusive, total: Number.isFinite(summary) ? summary : sum }
}
