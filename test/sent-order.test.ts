// expectSentOrder tolerates the kernel's local reordering; these cases prove it still
// fails on the disorders the netns tests exist to catch.
import { describe, expect, it } from 'vitest';
import { expectSentOrder } from './helpers/netns';

const seq = (n: number) => [...Array(n).keys()];

describe('expectSentOrder', () => {
  it('accepts what a veth did under load: an adjacent swap, a burst tail delivered early', () => {
    const swapped = seq(1000);
    [swapped[340], swapped[341]] = [341, 340];
    expectSentOrder(swapped, seq(1000));
    expectSentOrder([15, 16, 0, 1, 2, 3, 17, ...seq(18).slice(4, 15)], seq(18));
  });

  it('fails on a send that overtook a queue of 500, on a lost, a duplicated or a foreign datagram', () => {
    expect(() => expectSentOrder([1000, ...seq(1000)], [...seq(1001)])).toThrow(/places from where sent/);
    expect(() => expectSentOrder(seq(999), seq(1000))).toThrow();
    expect(() => expectSentOrder([...seq(1000), 7], seq(1000))).toThrow();
    expect(() => expectSentOrder([...seq(999), 5000], seq(1000))).toThrow();
  });
});
