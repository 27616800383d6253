/*
 * Prints, as JSON, the struct layout and constants the ffi-rs backend writes by hand
 * (src/ffi/abi.ts), as one C library's headers define them. Built with musl-gcc by
 * test/implementation.test.ts, to check the table against musl, whose headers pad
 * msg_iovlen, msg_controllen and cmsg_len differently from glibc's. The list is
 * native/abi.def; its ABI_KERNEL_* rows (from <linux/...>, the same under every libc) are
 * left out.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/uio.h>

static int first = 1;
static void put(const char *name, long value) {
  printf("%s\n  \"%s\": %ld", first ? "{" : ",", name, value);
  first = 0;
}

#define ABI_SIZE(t) put("sizeof " #t, (long)sizeof(struct t));
#define ABI_OFF(t, f) put(#t "." #f, (long)offsetof(struct t, f));
#define ABI_CONST(c) put(#c, (long)(c));
#define ABI_EXPR(name, e) put(name, (long)(e));
#define ABI_KERNEL_SIZE(t)
#define ABI_KERNEL_OFF(t, f)
#define ABI_KERNEL_CONST(c)

int main(void) {
#include "../../native/abi.def"
  printf("\n}\n");
  return 0;
}
