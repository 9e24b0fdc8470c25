// Preloaded (`node --import`) into a docs program marked `run=server` by test/docs/programs.ts, which starts it
// with an IPC channel: the program exits when the test process goes (the channel closes), and tells the ports it
// listens on, so that one listening elsewhere than PORT is named as such. The channel is unref'd: it keeps alive
// no program that would end by itself.
import { Server } from 'node:net'

process.on('disconnect', () => process.exit(1))
process.channel?.unref()

const listen = Server.prototype.listen
Server.prototype.listen = function (...args) {
  this.once('listening', () => {
    const address = this.address()
    if (address !== null && typeof address === 'object' && process.connected) process.send({ listening: address.port })
  })
  return listen.apply(this, args)
}
