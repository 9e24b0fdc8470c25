import { connect, createServer, type Socket } from 'node:net'

/** A TCP proxy on 127.0.0.1 in front of a local port, whose link the test can cut and restore. */
export interface TcpProxy {
  readonly port: number
  /** `redis://127.0.0.1:<port>`: a Redis URL through the proxy. */
  readonly url: string
  /** Destroys every connection through it and refuses new ones (each is accepted, then closed at once). */
  cut(): void
  /** Lets connections through again. */
  restore(): void
  close(): Promise<void>
}

/** Starts a proxy to `127.0.0.1:<targetPort>`. */
export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  const sockets = new Set<Socket>()
  let open = true
  const server = createServer((client) => {
    if (!open) return void client.destroy()
    const upstream = connect(targetPort, '127.0.0.1')
    const pair = [client, upstream]
    const drop = () => {
      for (const socket of pair) {
        socket.destroy()
        sockets.delete(socket)
      }
    }
    for (const socket of pair) {
      sockets.add(socket)
      socket.on('error', drop)
      socket.on('close', drop)
    }
    client.pipe(upstream)
    upstream.pipe(client)
  })
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done))
  const { port } = server.address() as { port: number }
  const cut = () => {
    open = false
    for (const socket of sockets) socket.destroy()
    sockets.clear()
  }
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    cut,
    restore() {
      open = true
    },
    async close() {
      cut()
      await new Promise((done) => server.close(done))
    },
  }
}
