// Preloaded by .ci/run (NODE_OPTIONS=--import) into every Node process of a test run on another Node
// version: vitest, its workers, and the npm, node and tsc processes the packaging tests spawn. It records
// which Node each process runs on, and ends any process that runs on a different major than the one asked for.
import { appendFileSync } from 'node:fs'

const expected = process.env.CI_NODE_MAJOR
const major = process.versions.node.split('.')[0]
const log = process.env.CI_NODE_LOG
if (log) appendFileSync(log, `${process.version} ${process.argv[1] ?? '-'}\n`)
if (major !== expected) {
  process.stderr.write(`CI: this process runs on Node ${process.version}, not Node ${expected}: ${process.argv.join(' ')}\n`)
  process.exit(70)
}
