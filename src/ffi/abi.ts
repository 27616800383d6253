// The Linux ABI the ffi-rs backend writes by hand: struct sizes, field offsets and
// constants, as glibc/musl headers define them on 64-bit Linux (x86-64 and arm64 agree;
// musl pads msg_iovlen/msg_controllen/cmsg_len to the same 8 bytes the kernel reads).
// The names are native/abi.def's: the addon reports them from the headers it was compiled
// with (abiLayout()), test/native/abi_libc.c from musl's; the loader and the tests compare.

import { coded } from '../errors';

/** @internal */
export const LINUX_LP64 = {
  'sizeof msghdr': 56,
  'msghdr.msg_name': 0,
  'msghdr.msg_namelen': 8,
  'msghdr.msg_iov': 16,
  'msghdr.msg_iovlen': 24,
  'msghdr.msg_control': 32,
  'msghdr.msg_controllen': 40,
  'msghdr.msg_flags': 48,
  'sizeof mmsghdr': 64,
  'mmsghdr.msg_len': 56,
  'sizeof iovec': 16,
  'iovec.iov_len': 8,
  'sizeof cmsghdr': 16,
  'cmsghdr.cmsg_level': 8,
  'cmsghdr.cmsg_type': 12,
  'CMSG_ALIGN(1)': 8,
  'CMSG_LEN(0)': 16,
  'sizeof sockaddr_in': 16,
  'sockaddr_in.sin_port': 2,
  'sockaddr_in.sin_addr': 4,
  'sizeof sockaddr_in6': 28,
  'sockaddr_in6.sin6_port': 2,
  'sockaddr_in6.sin6_addr': 8,
  'sockaddr_in6.sin6_scope_id': 24,
  'sizeof sockaddr_storage': 128,
  'sizeof in_pktinfo': 12,
  'in_pktinfo.ipi_spec_dst': 4,
  'in_pktinfo.ipi_addr': 8,
  'sizeof in6_pktinfo': 20,
  'in6_pktinfo.ipi6_ifindex': 16,
  'sizeof sock_extended_err': 16,
  'sock_extended_err.ee_origin': 4,
  'sock_extended_err.ee_type': 5,
  'sock_extended_err.ee_code': 6,
  'sizeof pollfd': 8,
  'pollfd.events': 4,
  'pollfd.revents': 6,
  AF_INET: 2,
  AF_INET6: 10,
  SOCK_DGRAM: 2,
  SOCK_RAW: 3,
  SOCK_NONBLOCK: 0o4000,
  SOCK_CLOEXEC: 0o2000000,
  SOL_SOCKET: 1,
  SO_TYPE: 3,
  SO_BROADCAST: 6,
  SO_REUSEPORT: 15,
  SO_SNDBUF: 7,
  IPPROTO_IP: 0,
  IPPROTO_IPV6: 41,
  SOL_UDP: 17,
  IP_TOS: 1,
  IP_TTL: 2,
  IP_PKTINFO: 8,
  IP_RECVERR: 11,
  IP_RECVTOS: 13,
  IP_MTU_DISCOVER: 10,
  IP_PMTUDISC_DO: 2,
  IPV6_V6ONLY: 26,
  IPV6_UNICAST_HOPS: 16,
  IPV6_RECVERR: 25,
  IPV6_RECVPKTINFO: 49,
  IPV6_PKTINFO: 50,
  IPV6_RECVTCLASS: 66,
  IPV6_TCLASS: 67,
  IPV6_DONTFRAG: 62,
  IPV6_MTU_DISCOVER: 23,
  IPV6_PMTUDISC_DO: 2,
  UDP_SEGMENT: 103,
  UDP_GRO: 104,
  SO_EE_ORIGIN_ICMP: 2,
  SO_EE_ORIGIN_ICMP6: 3,
  MSG_DONTROUTE: 4,
  MSG_DONTWAIT: 0x40,
  MSG_NOSIGNAL: 0x4000,
  MSG_TRUNC: 0x20,
  MSG_ERRQUEUE: 0x2000,
  SHUT_WR: 1,
  POLLIN: 1,
  POLLOUT: 4,
  POLLERR: 8,
  POLLHUP: 16,
  EIO: 5,
  ENOPROTOOPT: 92,
  EPROTO: 71,
  ENONET: 64,
} as const;

/** @internal */
export type AbiFacts = Record<keyof typeof LINUX_LP64, number>;

/** Targets whose ABI the table above describes (where ffi-rs ships binaries too). */
const KNOWN: Record<string, AbiFacts> = { 'linux-x64': LINUX_LP64, 'linux-arm64': LINUX_LP64 };

function abiError(message: string): Error {
  return coded(new Error(`sendmsg-shim: the ffi-rs backend cannot run here: ${message}`), 'ERR_SENDMSG_SHIM_FFI_ABI');
}

/**
 * @internal The layout for this process, or a clear error: the target must be one whose
 * values are known, and they must match what the addon reports when one is at hand.
 */
export function abiFor(target: string, fromAddon: Record<string, number> | null): AbiFacts {
  const abi = KNOWN[target];
  if (!abi) throw abiError(`no known struct layout for ${target} (known: ${Object.keys(KNOWN).join(', ')})`);
  if (fromAddon) {
    const wrong = Object.keys(abi).filter((k) => fromAddon[k] !== abi[k as keyof AbiFacts]);
    if (wrong.length) {
      throw abiError(`the compiled headers disagree on ${wrong.map((k) => `${k} (${fromAddon[k]}, table ${abi[k as keyof AbiFacts]})`).join(', ')}`);
    }
  }
  return abi;
}
