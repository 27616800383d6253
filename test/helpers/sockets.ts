// What a test opens, closed after each test: shim sockets, receivers, node:dgram sockets.
import { afterEach } from 'vitest';
import { openSocket, type Socket } from '../../src/index';

export function useSockets() {
  const open: Array<{ close(): unknown }> = [];
  afterEach(async () => {
    for (const s of open.splice(0)) await s.close();
  });
  return {
    /** Closes it after the test. */
    track<T extends { close(): unknown }>(thing: T): T {
      open.push(thing);
      return thing;
    },
    /** openSocket, closed after the test. */
    async shim(opts: Parameters<typeof openSocket>[0]): Promise<Socket> {
      const s = await openSocket(opts);
      open.push(s);
      return s;
    },
  };
}
