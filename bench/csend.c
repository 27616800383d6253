/* The plain C baseline for npm run bench: sends COUNT datagrams of SIZE bytes to
 * 127.0.0.1:PORT from source 127.0.0.1 (IP_PKTINFO), as fast as it can, and prints
 * datagrams per second. Modes: sendmsg (2 iovecs + IP_PKTINFO, one call per datagram),
 * sendmmsg (32 per call, same messages), gso (UDP_SEGMENT: 64 KB buffers cut into SIZE). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char** argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: csend sendmsg|sendmmsg|gso PORT SIZE COUNT\n");
    return 2;
  }
  const char* mode = argv[1];
  int port = atoi(argv[2]), size = atoi(argv[3]);
  long count = atol(argv[4]);
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  int sndbuf = 4 << 20;
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
  struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(port)};
  inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
  static char payload[65536];
  memset(payload, 'x', sizeof(payload));
  char header[8] = {0};
  int hlen = size < 8 ? size : 8;

  union { char buf[CMSG_SPACE(sizeof(struct in_pktinfo))]; struct cmsghdr align; } ctrl;
  memset(&ctrl, 0, sizeof(ctrl));
  struct cmsghdr* c = (struct cmsghdr*)ctrl.buf;
  c->cmsg_level = IPPROTO_IP;
  c->cmsg_type = IP_PKTINFO;
  c->cmsg_len = CMSG_LEN(sizeof(struct in_pktinfo));
  struct in_pktinfo pi = {0};
  inet_pton(AF_INET, "127.0.0.1", &pi.ipi_spec_dst);
  memcpy(CMSG_DATA(c), &pi, sizeof(pi));

  double t0 = now();
  long sent = 0;
  if (strcmp(mode, "gso") == 0) {
    int seg = size;
    setsockopt(fd, SOL_UDP, UDP_SEGMENT, &seg, sizeof(seg));
    int per = (65507 / seg);
    if (per > 64) per = 64;  /* the kernel's UDP_MAX_SEGMENTS */
    struct iovec iov = {payload, (size_t)per * seg};
    struct msghdr m = {.msg_name = &to, .msg_namelen = sizeof(to), .msg_iov = &iov, .msg_iovlen = 1};
    while (sent < count) {
      if (sendmsg(fd, &m, 0) < 0) { perror("gso sendmsg"); return 1; }
      sent += per;
    }
  } else {
    enum { B = 32 };
    struct iovec iov[B][2];
    struct mmsghdr hdrs[B];
    memset(hdrs, 0, sizeof(hdrs));
    for (int i = 0; i < B; i++) {
      iov[i][0] = (struct iovec){header, (size_t)hlen};
      iov[i][1] = (struct iovec){payload, (size_t)(size - hlen)};
      hdrs[i].msg_hdr = (struct msghdr){.msg_name = &to, .msg_namelen = sizeof(to), .msg_iov = iov[i],
                                        .msg_iovlen = 2, .msg_control = ctrl.buf, .msg_controllen = sizeof(ctrl.buf)};
    }
    if (strcmp(mode, "sendmmsg") == 0) {
      while (sent < count) {
        int r = sendmmsg(fd, hdrs, B, 0);
        if (r < 0) { perror("sendmmsg"); return 1; }
        sent += r;
      }
    } else {
      while (sent < count) {
        if (sendmsg(fd, &hdrs[0].msg_hdr, 0) < 0) { perror("sendmsg"); return 1; }
        sent++;
      }
    }
  }
  double dt = now() - t0;
  printf("%.0f\n", sent / dt);
  return 0;
}
