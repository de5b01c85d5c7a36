// mapFile(path): a whole file as an ArrayBuffer over a memory mapping, for zero-copy weight loading.
//
// Contract: returns an external ArrayBuffer of the file's size whose bytes are the file's. The
// mapping is MAP_PRIVATE with PROT_READ | PROT_WRITE: reads share the page cache (nothing is copied,
// and pages are read from disk only when first touched), and a write copies the page it lands on
// into anonymous memory of this process (copy-on-write), so writing into a loaded weight never
// changes the file and never faults. (PROT_READ alone would turn such a write into a SIGSEGV that
// no JS code can catch.) MAP_POPULATE is not used: on a private writable mapping it pre-faults
// with write intent, which would copy every page. madvise(MADV_WILLNEED) starts read-ahead of the
// whole file instead. The descriptor is closed before returning: the mapping does not need it.
// The mapping is unmapped by the ArrayBuffer's finalizer, when the garbage collector drops the
// last view of it.
//
// Not handled: a file truncated or rewritten in place by another process while mapped (reading
// past the new end raises SIGBUS, as for every mmap reader; xfmr's own writers replace files by
// rename, which leaves a mapped old file intact). An empty file gives an empty, unmapped buffer.
// Windows has no mmap: there the function is not exported and src/kernels/map_file.ts reads the
// file instead.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "common.h"

#if defined(__unix__) || defined(__APPLE__)
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace xfmr {

static void unmap(napi_env, void* data, void* hint) {
  munmap(data, reinterpret_cast<size_t>(hint));
}

static napi_value throw_errno(napi_env env, const std::string& path, const char* what, int err) {
  std::string msg = path + ": " + what + ": " + strerror(err);
  napi_throw_error(env, nullptr, msg.c_str());
  return nullptr;
}

static napi_value map_file(napi_env env, napi_callback_info info) {
  Args a(env, info);
  size_t len = 0;
  napi_valuetype t;
  napi_typeof(env, a.argv[0], &t);
  if (t != napi_string) {
    a.fail(0, "a path string");
    return nullptr;
  }
  napi_get_value_string_utf8(env, a.argv[0], nullptr, 0, &len);
  std::string path(len, '\0');
  napi_get_value_string_utf8(env, a.argv[0], &path[0], len + 1, &len);
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return throw_errno(env, path, "cannot open", errno);
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, path, "cannot stat", err);
  }
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    napi_throw_error(env, nullptr, (path + ": not a regular file").c_str());
    return nullptr;
  }
  size_t size = static_cast<size_t>(st.st_size);
  napi_value out;
  if (size == 0) {
    close(fd);
    void* unused;
    napi_create_arraybuffer(env, 0, &unused, &out);
    return out;
  }
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  int err = errno;
  close(fd);
  if (p == MAP_FAILED) return throw_errno(env, path, "cannot map", err);
  madvise(p, size, MADV_WILLNEED);
  if (napi_create_external_arraybuffer(env, p, size, unmap, reinterpret_cast<void*>(size), &out) != napi_ok) {
    munmap(p, size);
    napi_throw_error(env, nullptr, (path + ": cannot wrap the mapping in an ArrayBuffer").c_str());
    return nullptr;
  }
  return out;
}

void register_mmap(napi_env env, napi_value exports) { export_fn(env, exports, "mapFile", map_file); }

}  // namespace xfmr

#else

namespace xfmr {
void register_mmap(napi_env, napi_value) {}
}  // namespace xfmr

#endif
