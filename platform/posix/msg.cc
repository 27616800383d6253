// Builds the msghdr for one send: iovecs over the caller's buffers (no copy), the
// destination, and IP_PKTINFO / IPV6_PKTINFO as the OS-free encoder planned it; and reads
// a received msghdr's control messages back (decode_control). platform/win32/msg.cc does
// both for WSAMSG; test/native/encode_test.cc checks both with the OS's own CMSG macros.
#include <arpa/inet.h>
#include <time.h>  // linux/errqueue.h uses timespec without including it
#include <linux/errqueue.h>
#include <netinet/udp.h>
#include <poll.h>

#include <cerrno>
#include <cstddef>

#include <cstring>

#include "posix.h"

namespace shim {

static void encode_iov(const SendSpec& spec, msghdr* m, iovec* iov) {
  for (size_t i = 0; i < spec.nbufs; i++) {
    iov[i].iov_base = const_cast<uint8_t*>(spec.bufs[i].data);
    iov[i].iov_len = spec.bufs[i].len;
  }
  m->msg_iov = iov;
  m->msg_iovlen = spec.nbufs;
  if (spec.nbufs == 0) {
    // An empty datagram as one empty iovec, as the ffi-rs backend sends it: qemu-user (the
    // arm64 lane) returns 0 for an iovec-less sendmsg without making the call.
    iov[0] = iovec{nullptr, 0};
    m->msg_iovlen = 1;
  }
}

// iov must have room for max(spec.nbufs, 1) entries; control for kCmsgSpace bytes.
void encode_msg(SockKind kind, const SendSpec& spec, msghdr* m, iovec* iov, sockaddr_storage* to,
                unsigned char* control) {
  std::memset(m, 0, sizeof(*m));
  encode_iov(spec, m, iov);
  if (spec.to) {
    int len;
    endpoint_to_sockaddr(kind, *spec.to, to, &len);
    m->msg_name = to;
    m->msg_namelen = len;
  }
  const PktinfoPlan& plan = spec.pktinfo;
  if (plan.kind == PktinfoPlan::None && plan.tosKind == PktinfoPlan::None && !plan.segmentSize) return;
  std::memset(control, 0, kCmsgSpace);
  m->msg_control = control;
  m->msg_controllen = kCmsgSpace;  // CMSG_NXTHDR walks within this; trimmed below
  cmsghdr* c = CMSG_FIRSTHDR(m);
  size_t used = 0;
  if (plan.kind == PktinfoPlan::V4) {
    // Linux takes the source from ipi_spec_dst and ignores ipi_addr, which is the field
    // Windows reads; the encoder writes the one this OS honours.
    in_pktinfo pi{};
    pi.ipi_ifindex = static_cast<int>(plan.ifindex);
    std::memcpy(&pi.ipi_spec_dst, plan.addr, 4);
    c->cmsg_level = IPPROTO_IP;
    c->cmsg_type = IP_PKTINFO;
    c->cmsg_len = CMSG_LEN(sizeof(pi));
    std::memcpy(CMSG_DATA(c), &pi, sizeof(pi));
    used += CMSG_SPACE(sizeof(pi));
    c = CMSG_NXTHDR(m, c);
  } else if (plan.kind == PktinfoPlan::V6) {
    in6_pktinfo pi{};
    pi.ipi6_ifindex = plan.ifindex;
    std::memcpy(&pi.ipi6_addr, plan.addr, 16);
    c->cmsg_level = IPPROTO_IPV6;
    c->cmsg_type = IPV6_PKTINFO;
    c->cmsg_len = CMSG_LEN(sizeof(pi));
    std::memcpy(CMSG_DATA(c), &pi, sizeof(pi));
    used += CMSG_SPACE(sizeof(pi));
    c = CMSG_NXTHDR(m, c);
  }
  if (plan.tosKind != PktinfoPlan::None) {
    int tos = plan.tos;
    c->cmsg_level = plan.tosKind == PktinfoPlan::V4 ? IPPROTO_IP : IPPROTO_IPV6;
    c->cmsg_type = plan.tosKind == PktinfoPlan::V4 ? IP_TOS : IPV6_TCLASS;
    c->cmsg_len = CMSG_LEN(sizeof(tos));
    std::memcpy(CMSG_DATA(c), &tos, sizeof(tos));
    used += CMSG_SPACE(sizeof(tos));
    c = CMSG_NXTHDR(m, c);
  }
  if (plan.segmentSize) {
    uint16_t seg = plan.segmentSize;
    c->cmsg_level = SOL_UDP;
    c->cmsg_type = UDP_SEGMENT;
    c->cmsg_len = CMSG_LEN(sizeof(seg));
    std::memcpy(CMSG_DATA(c), &seg, sizeof(seg));
    used += CMSG_SPACE(sizeof(seg));
  }
  m->msg_controllen = used;
}

void encode_msg_memo(SockKind kind, const SendSpec& spec, msghdr* m, iovec* iov, sockaddr_storage* to,
                     unsigned char* control, EncodedPlan* memo) {
  if (spec.planId == 0 || spec.planId != memo->planId) {
    encode_msg(kind, spec, m, iov, to, control);
    memo->planId = m->msg_namelen <= sizeof(memo->name) ? spec.planId : 0;
    if (memo->planId) {
      // Whole arrays: copies of a constant size are a few moves, not a call.
      std::memcpy(&memo->name, to, sizeof(memo->name));
      memo->nameLen = m->msg_namelen;
      std::memcpy(memo->control, control, sizeof(memo->control));
      memo->controlLen = m->msg_controllen;
    }
    return;
  }
  std::memset(m, 0, sizeof(*m));
  encode_iov(spec, m, iov);
  if (memo->nameLen) {
    std::memcpy(to, &memo->name, sizeof(memo->name));
    m->msg_name = to;
    m->msg_namelen = memo->nameLen;
  }
  if (memo->controlLen) {
    std::memcpy(control, memo->control, sizeof(memo->control));
    m->msg_control = control;
    m->msg_controllen = memo->controlLen;
  }
}

void abi_facts(void (*put)(void* ctx, const char* name, long value), void* ctx) {
#define ABI_SIZE(t) put(ctx, "sizeof " #t, static_cast<long>(sizeof(struct t)));
#define ABI_OFF(t, f) put(ctx, #t "." #f, static_cast<long>(offsetof(struct t, f)));
#define ABI_CONST(c) put(ctx, #c, static_cast<long>(c));
#define ABI_EXPR(name, e) put(ctx, name, static_cast<long>(e));
#define ABI_KERNEL_SIZE ABI_SIZE
#define ABI_KERNEL_OFF ABI_OFF
#define ABI_KERNEL_CONST ABI_CONST
#include "../../native/abi.def"
#undef ABI_SIZE
#undef ABI_OFF
#undef ABI_CONST
#undef ABI_EXPR
#undef ABI_KERNEL_SIZE
#undef ABI_KERNEL_OFF
#undef ABI_KERNEL_CONST
}

// What the control messages of one received datagram say, into *out.
void decode_control(msghdr* m, Received* out) {
  out->hasDestination = false;
  out->ifindex = 0;
  out->tos = -1;
  out->segment = 0;
  for (cmsghdr* c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR(m, c)) {
    if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
      in_pktinfo pi;
      std::memcpy(&pi, CMSG_DATA(c), sizeof(pi));
      // ipi_addr is the header's destination; ipi_spec_dst the local address routing chose.
      out->hasDestination = true;
      out->destination = IpAddr{};
      out->destination.family = 4;
      std::memcpy(out->destination.bytes, &pi.ipi_addr, 4);
      out->ifindex = static_cast<uint32_t>(pi.ipi_ifindex);
    } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
      in6_pktinfo pi;
      std::memcpy(&pi, CMSG_DATA(c), sizeof(pi));
      out->hasDestination = true;
      out->destination = IpAddr{};
      out->destination.family = 6;
      std::memcpy(out->destination.bytes, &pi.ipi6_addr, 16);
      out->ifindex = pi.ipi6_ifindex;
    } else if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TOS) {
      out->tos = *reinterpret_cast<const uint8_t*>(CMSG_DATA(c));
    } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_TCLASS) {
      int tclass;
      std::memcpy(&tclass, CMSG_DATA(c), sizeof(tclass));
      out->tos = tclass;
    } else if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) {
      // The size of the datagrams coalesced into this one; the kernel sends it for every
      // GRO packet, also one that holds a single datagram (then no larger than it).
      int size;
      std::memcpy(&size, CMSG_DATA(c), sizeof(size));
      if (size > 0 && out->bytes > size) out->segment = static_cast<uint32_t>(size);
    }
  }
}

}  // namespace shim
