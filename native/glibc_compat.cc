// Linux prebuilds only (CMake option SHIM_PORTABLE, set by scripts/prebuild.mjs): the addon
// links libstdc++ and libgcc statically, and the objects they bring were compiled against
// this machine's glibc (2.36), so they ask for symbols that glibc 2.28 (Node 20's floor)
// lacks. Each is defined here, privately (this file is compiled with -fvisibility=hidden),
// so the linker binds those references inside the addon instead of to libc:
//   __libc_single_threaded  GLIBC_2.32  libstdc++'s shortcut past atomics
//   arc4random              GLIBC_2.36  std::random_device (random.o comes with system_error)
//   pthread_once,           GLIBC_2.34  libstdc++'s gthreads (moved from libpthread to libc
//   __pthread_key_create                in 2.34): forwarded to their old versions, which every
//                                       glibc has (in libpthread before 2.34, as compat symbols after)
//   _dl_find_object         GLIBC_2.35  libgcc's unwinder: the same answer from dl_iterate_phdr
// test/prebuilds.test.ts reads the built files and fails on any GLIBC_ version above 2.28.
#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>

#if defined(__x86_64__)
#define SHIM_GLIBC_BASE "GLIBC_2.2.5"
#elif defined(__aarch64__)
#define SHIM_GLIBC_BASE "GLIBC_2.17"
#else
#error "glibc_compat.cc: the base glibc symbol version of this architecture is not known"
#endif

extern "C" {

// 0: "there may be other threads", so libstdc++ always takes the atomic path. Always correct.
char __libc_single_threaded = 0;

uint32_t arc4random(void) {
  uint32_t v = 0;
  unsigned char* p = reinterpret_cast<unsigned char*>(&v);
  size_t got = 0;
  while (got < sizeof v) {
    long n = syscall(SYS_getrandom, p + got, sizeof v - got, 0);
    if (n > 0) {
      got += static_cast<size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      // getrandom(2) missing (kernel < 3.17): the device does the same.
      int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
      if (fd < 0) break;
      while (got < sizeof v) {
        ssize_t r = read(fd, p + got, sizeof v - got);
        if (r > 0) got += static_cast<size_t>(r);
        else if (!(r < 0 && errno == EINTR)) break;
      }
      close(fd);
      break;
    }
  }
  return v;
}

int shim_pthread_once_base(int* once, void (*init)(void));
int shim_pthread_key_create_base(unsigned* key, void (*destructor)(void*));
__asm__(".symver shim_pthread_once_base,pthread_once@" SHIM_GLIBC_BASE);
__asm__(".symver shim_pthread_key_create_base,__pthread_key_create@" SHIM_GLIBC_BASE);

int pthread_once(pthread_once_t* once, void (*init)(void)) noexcept {
  return shim_pthread_once_base(reinterpret_cast<int*>(once), init);
}
int __pthread_key_create(pthread_key_t* key, void (*destructor)(void*)) noexcept {
  return shim_pthread_key_create_base(reinterpret_cast<unsigned*>(key), destructor);
}

}  // extern "C"

namespace {
struct FindObject {
  uintptr_t pc;
  dl_find_object* out;
  bool found;
};

int find_object(dl_phdr_info* info, size_t, void* arg) {
  FindObject* f = static_cast<FindObject*>(arg);
  uintptr_t lo = UINTPTR_MAX, hi = 0;
  bool inside = false;
  const void* eh_frame = nullptr;
  for (ElfW(Half) i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    uintptr_t start = info->dlpi_addr + ph.p_vaddr;
    if (ph.p_type == PT_LOAD) {
      if (start < lo) lo = start;
      if (start + ph.p_memsz > hi) hi = start + ph.p_memsz;
      if (f->pc >= start && f->pc < start + ph.p_memsz) inside = true;
    } else if (ph.p_type == PT_GNU_EH_FRAME) {
      eh_frame = reinterpret_cast<const void*>(start);
    }
  }
  if (!inside) return 0;
  f->out->dlfo_flags = 0;
  f->out->dlfo_map_start = reinterpret_cast<void*>(lo);
  f->out->dlfo_map_end = reinterpret_cast<void*>(hi);
  f->out->dlfo_link_map = nullptr;
  f->out->dlfo_eh_frame = const_cast<void*>(eh_frame);
  f->found = true;
  return 1;
}
}  // namespace

// What glibc 2.35's _dl_find_object answers, found the way the unwinder did before it existed.
extern "C" int _dl_find_object(void* pc, dl_find_object* result) noexcept {
  FindObject f{reinterpret_cast<uintptr_t>(pc), result, false};
  dl_iterate_phdr(find_object, &f);
  return f.found ? 0 : -1;
}
