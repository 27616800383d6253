import { expect } from 'vitest';
import { WSA, WsaError, type WsaCode } from '../../src/index';

const key = (code: WsaCode) => code.replace(/^WSA_?/, '') as keyof typeof WSA;

/** Asserts err is a WsaError with this code and the Winsock number that goes with it. */
export function expectWsa(err: unknown, code: WsaCode): WsaError {
  expect(err).toBeInstanceOf(WsaError);
  const e = err as WsaError;
  expect(e.code).toBe(code);
  expect(e.errno).toBe(WSA[key(code)]);
  return e;
}

export function catchSync(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a throw');
}

export async function catchAsync(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}
