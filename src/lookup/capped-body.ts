/**
 * A response's body as text, read only up to `maxBytes`, counted as it streams (a `content-length` may be
 * absent, or understate a decompressed body): `null` when there is more, and the rest is cancelled, never read.
 * Parsing a huge answer would block the event loop. `TextDecoder`, like `response.json()`, drops a leading
 * byte-order mark. A body that breaks off rejects with the stream's error.
 */
export async function readCapped(response: Response, maxBytes: number): Promise<string | null> {
  if (response.body === null) return ''
  const reader = response.body.getReader()
  const chunks: Uint8Array[] = []
  let size = 0
  for (let read = await reader.read(); !read.done; read = await reader.read()) {
    size += read.value.byteLength
    if (size > maxBytes) {
      await reader.cancel()
      return null
    }
    chunks.push(read.value)
  }
  if (chunks.length === 1) return new TextDecoder().decode(chunks[0])
  const body = new Uint8Array(size)
  for (let i = 0, at = 0; i < chunks.length; at += (chunks[i] as Uint8Array).byteLength, i++)
    body.set(chunks[i] as Uint8Array, at)
  return new TextDecoder().decode(body)
}
