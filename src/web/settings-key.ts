/**
 * What makes two options objects the same settings, for `authenticate()`: the same values, with functions and
 * class instances (a Redis client, a logger) the same objects. `shape` is that minus those identities: two
 * options of one shape differ only in a function or client made anew, the sign of options written inline in a
 * handler with an inline function.
 */
export interface SettingsKey {
  readonly key: string
  readonly shape: string
}

// Functions and class instances by identity: a number each, held weakly.
const ids = new WeakMap<object, number>()
let nextId = 0

const idOf = (value: object): number => {
  let id = ids.get(value)
  if (id === undefined) {
    id = ++nextId
    ids.set(value, id)
  }
  return id
}

/** The key and the shape of `options` (a plain object of options). */
export function settingsKey(options: object): SettingsKey {
  const key: string[] = []
  const shape: string[] = []
  write(options, key, shape, 0)
  return { key: key.join(''), shape: shape.join('') }
}

function write(value: unknown, key: string[], shape: string[], depth: number): void {
  if (typeof value === 'function' || (typeof value === 'object' && value !== null && !isPlain(value)) || depth > 8) {
    key.push(`#${idOf(value as object)}`)
    shape.push('#')
    return
  }
  if (typeof value !== 'object' || value === null) {
    // Numbers as String() writes them: JSON would write NaN and ±Infinity as null (the default).
    const text =
      value === undefined
        ? 'u'
        : typeof value === 'bigint'
          ? `${value}n`
          : typeof value === 'number'
            ? `n${String(value)}`
            : typeof value === 'symbol'
              ? `#${String(value)}`
              : JSON.stringify(value)
    key.push(text)
    shape.push(text)
    return
  }
  const entries = Array.isArray(value)
    ? value.map((item, i) => [String(i), item] as const)
    : Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  const [open, close] = Array.isArray(value) ? ['[', ']'] : ['{', '}']
  key.push(open)
  shape.push(open)
  for (const [name, item] of entries) {
    key.push(JSON.stringify(name), ':')
    shape.push(JSON.stringify(name), ':')
    write(item, key, shape, depth + 1)
    key.push(',')
    shape.push(',')
  }
  key.push(close)
  shape.push(close)
}

function isPlain(value: object): boolean {
  const prototype = Object.getPrototypeOf(value)
  return Array.isArray(value) || prototype === Object.prototype || prototype === null
}
