/* The receive benchmark's C side (bench/recv.mjs).
 *
 *   cflood flood PORT SIZE MS [gso]   sends SIZE-byte datagrams to 127.0.0.1:PORT for MS
 *                                     milliseconds from 16 sockets in turn (16 source ports, so
 *                                     SO_REUSEPORT can spread them), 32 per sendmmsg, or with
 *                                     gso as 64 KB UDP_SEGMENT sends; prints the count sent
 *                                     and the milliseconds it took.
 *   cflood recv PORT                  receives on 127.0.0.1:PORT with recvmmsg x32 (2 KB slots,
 *                                     and each sender's address, as a server needs it)
 *                                     until 200 ms pass with nothing (every receiver of the
 *                                     benchmark stops so); prints the count received.
 * Loopback only. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int flood(int port, int size, double ms, int gso) {
  enum { SOCKS = 16, B = 32 };
  int fds[SOCKS];
  for (int i = 0; i < SOCKS; i++) {
    fds[i] = socket(AF_INET, SOCK_DGRAM, 0);
    if (fds[i] < 0) { perror("socket"); return 1; }
    if (gso) {
      int seg = size;
      if (setsockopt(fds[i], SOL_UDP, UDP_SEGMENT, &seg, sizeof(seg)) != 0) { perror("UDP_SEGMENT"); return 1; }
    }
  }
  struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(port)};
  inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
  static char payload[65536];
  memset(payload, 'x', sizeof(payload));
  int per = 65507 / size;
  if (per > 64) per = 64; /* UDP_MAX_SEGMENTS */
  struct iovec iov[B];
  struct mmsghdr hdrs[B];
  memset(hdrs, 0, sizeof(hdrs));
  for (int i = 0; i < B; i++) {
    iov[i] = (struct iovec){payload, gso ? (size_t)per * size : (size_t)size};
    hdrs[i].msg_hdr = (struct msghdr){.msg_name = &to, .msg_namelen = sizeof(to), .msg_iov = &iov[i], .msg_iovlen = 1};
  }
  long sent = 0;
  double start = now_ms(), end = start + ms;
  for (long round = 0; now_ms() < end; round++) {
    int fd = fds[round % SOCKS];
    /* A receiver that falls behind makes the kernel drop: sends never block on loopback. */
    int r = gso ? sendmmsg(fd, hdrs, 1, 0) : sendmmsg(fd, hdrs, B, 0);
    if (r < 0) { perror("sendmmsg"); return 1; }
    sent += gso ? (long)r * per : r;
  }
  printf("%ld %.1f\n", sent, now_ms() - start);
  return 0;
}

static int receive(int port) {
  enum { B = 32, SLOT = 2048 };
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in at = {.sin_family = AF_INET, .sin_port = htons(port)};
  inet_pton(AF_INET, "127.0.0.1", &at.sin_addr);
  if (bind(fd, (struct sockaddr*)&at, sizeof(at)) != 0) { perror("bind"); return 1; }
  printf("ready\n");
  fflush(stdout);
  static char slots[B][SLOT];
  struct sockaddr_storage from[B];  /* who sent each: what any server needs to answer */
  struct iovec iov[B];
  struct mmsghdr hdrs[B];
  long got = 0;
  for (;;) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, got ? 200 : 5000) <= 0) break;
    for (int i = 0; i < B; i++) {
      iov[i] = (struct iovec){slots[i], SLOT};
      memset(&hdrs[i], 0, sizeof(hdrs[i]));
      hdrs[i].msg_hdr.msg_iov = &iov[i];
      hdrs[i].msg_hdr.msg_iovlen = 1;
      hdrs[i].msg_hdr.msg_name = &from[i];
      hdrs[i].msg_hdr.msg_namelen = sizeof(from[i]);
    }
    int r = recvmmsg(fd, hdrs, B, MSG_DONTWAIT, NULL);
    if (r > 0) got += r;
  }
  printf("%ld\n", got);
  return 0;
}

int main(int argc, char** argv) {
  if (argc >= 5 && strcmp(argv[1], "flood") == 0)
    return flood(atoi(argv[2]), atoi(argv[3]), atof(argv[4]), argc > 5 && strcmp(argv[5], "gso") == 0);
  if (argc == 3 && strcmp(argv[1], "recv") == 0) return receive(atoi(argv[2]));
  fprintf(stderr, "usage: cflood flood PORT SIZE MS [gso] | cflood recv PORT\n");
  return 2;
}
