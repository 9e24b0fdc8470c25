import { existsSync, mkdirSync, rmdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'

/**
 * The directory inside the repository the blocks are written to, so that `portkey-auth/…` resolves to the
 * built package by self-reference and every other import from the root's node_modules. In .gitignore.
 */
export const WORK_DIR = '.docs-check'

/** A fresh directory under `<root>/.docs-check/`; `remove()` deletes it (and `.docs-check/` when left empty). */
export function createWorkspace(root: string, label: string): { dir: string; remove(): void } {
  const dir = join(root, WORK_DIR, `${label}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`)
  mkdirSync(dir, { recursive: true })
  return {
    dir,
    remove() {
      if (process.env.DOCS_CHECK_KEEP) return
      rmSync(dir, { recursive: true, force: true })
      try {
        rmdirSync(join(root, WORK_DIR))
      } catch {
        // Another suite's directory is still there.
      }
    },
  }
}

/** Whether the package is built: the blocks import it from dist/ by self-reference. */
export function packageBuilt(root: string): boolean {
  return existsSync(join(root, 'dist', 'index.d.ts'))
}
