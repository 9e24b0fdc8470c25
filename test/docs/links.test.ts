import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { describe, expect, test } from 'vitest'

// Every relative link in the README and the guides leads somewhere: to a file that exists (and, since the
// guides ship in the package, to one that ships: README.md or docs/), and to a heading of it when it names one.
const ROOT = resolve(import.meta.dirname, '../..')
const PAGES = ['README.md', ...readdirSync(join(ROOT, 'docs')).map((file) => `docs/${file}`)].filter((file) =>
  file.endsWith('.md'),
)

/** GitHub's anchor for a heading: lower case, punctuation dropped (hyphens and underscores kept), spaces to hyphens. */
function slug(heading: string): string {
  return heading
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\- _]/gu, '')
    .replace(/ /g, '-')
}

/** The anchors of a page's headings (outside code blocks), with GitHub's -1, -2… for repeats, and its `<a id>`s. */
function anchors(text: string): Set<string> {
  const seen = new Map<string, number>()
  const found = new Set<string>()
  for (const [, heading] of text.replace(/^```[\s\S]*?^```/gm, '').matchAll(/^#{1,6} (.+)$/gm)) {
    const base = slug(heading!)
    const count = seen.get(base) ?? 0
    seen.set(base, count + 1)
    found.add(count === 0 ? base : `${base}-${count}`)
  }
  // And the explicit anchors a page sets (the generated API reference does: `<a id="portkey-auth.createVerifier">`).
  for (const [, id] of text.matchAll(/<a (?:id|name)="([^"]+)"/g)) found.add(id!)
  return found
}

describe.each(PAGES)('%s', (page) => {
  const text = readFileSync(join(ROOT, page), 'utf8')
  const links = [...text.replace(/^```[\s\S]*?^```/gm, '').matchAll(/\]\(([^)\s]+)\)/g)].map((match) => match[1]!)
  const local = links.filter((link) => !/^[a-z]+:/.test(link))

  test('every relative link names a shipped page that exists, and a heading of it', () => {
    const broken: string[] = []
    for (const link of local) {
      const [path, anchor] = link.split('#') as [string, string | undefined]
      const target = path === '' ? join(ROOT, page) : resolve(dirname(join(ROOT, page)), path)
      const shipped = relative(ROOT, target)
      if (!existsSync(target)) broken.push(`${link}: no such file`)
      else if (shipped !== 'README.md' && !shipped.startsWith('docs/')) broken.push(`${link}: not in the package`)
      else if (anchor !== undefined && !anchors(readFileSync(target, 'utf8')).has(anchor)) broken.push(`${link}: no such heading`)
    }
    expect(broken).toEqual([])
  })
})

test('anchors are made as GitHub makes them', () => {
  expect(slug('Web-standard handlers (Next.js, Remix, SvelteKit, Bun, Deno, Workers)')).toBe(
    'web-standard-handlers-nextjs-remix-sveltekit-bun-deno-workers',
  )
  expect(slug('Your own keys: `--keys`')).toBe('your-own-keys---keys')
  expect(slug('`onDecision`, logs and `stats()`')).toBe('ondecision-logs-and-stats')
})
