// LD_PRELOAD shim for the tsan preset (scripts/sanitize.sh builds and loads it): Debian 12's
// libabsl_synchronization is not TSan-instrumented, so TSan cannot see the happens-before edges
// an absl::Mutex provides and reports every access it guards as a race. This interposes the
// Mutex / CondVar entry points (Debian's inline namespace absl::debian3) used by the project
// and by libgpr/libgrpc/libgrpc++, and adds acquire/release annotations on the mutex address
// (weak references: harmless in a process without TSan).
#include <dlfcn.h>
#include <cstdint>
extern "C" void __tsan_acquire(void*) __attribute__((weak));
extern "C" void __tsan_release(void*) __attribute__((weak));
struct Dur { int64_t hi; uint32_t lo; };
static inline void Acq(void* m) { if (__tsan_acquire) __tsan_acquire(m); }
static inline void Rel(void* m) { if (__tsan_release) __tsan_release(m); }
extern "C" void AnnotateIgnoreReadsBegin(const char*, int) __attribute__((weak));
extern "C" void AnnotateIgnoreReadsEnd(const char*, int) __attribute__((weak));
// absl evaluates Condition functions inside Lock/Unlock/Await (also on behalf of other
// waiters); those reads are under the real lock but outside our annotated critical section.
struct IgnoreReads {
  IgnoreReads() { if (AnnotateIgnoreReadsBegin) AnnotateIgnoreReadsBegin(__FILE__, __LINE__); }
  ~IgnoreReads() { if (AnnotateIgnoreReadsEnd) AnnotateIgnoreReadsEnd(__FILE__, __LINE__); }
};
static void* Real(const char* n) { return dlsym(RTLD_NEXT, n); }
#define EXPORT extern "C" __attribute__((visibility("default")))
#define LOCK "_ZN4absl7debian35Mutex4LockEv"
#define UNLOCK "_ZN4absl7debian35Mutex6UnlockEv"
#define TRYLOCK "_ZN4absl7debian35Mutex7TryLockEv"
#define AWAIT "_ZN4absl7debian35Mutex16AwaitWithTimeoutERKNS0_9ConditionENS0_8DurationE"
#define RELEASE "_ZN4absl7debian319ReleasableMutexLock7ReleaseEv"
#define CVWAIT "_ZN4absl7debian37CondVar4WaitEPNS0_5MutexE"
#define CVWAITT "_ZN4absl7debian37CondVar15WaitWithTimeoutEPNS0_5MutexENS0_8DurationE"
#define CVWAITD "_ZN4absl7debian37CondVar16WaitWithDeadlineEPNS0_5MutexENS0_4TimeE"
EXPORT void ShimLock(void* m) __asm__(LOCK);
EXPORT void ShimUnlock(void* m) __asm__(UNLOCK);
EXPORT bool ShimTryLock(void* m) __asm__(TRYLOCK);
EXPORT bool ShimAwait(void* m, const void* c, Dur d) __asm__(AWAIT);
EXPORT void ShimRelease(void* l) __asm__(RELEASE);
EXPORT void ShimCvWait(void* cv, void* m) __asm__(CVWAIT);
EXPORT bool ShimCvWaitT(void* cv, void* m, Dur d) __asm__(CVWAITT);
EXPORT bool ShimCvWaitD(void* cv, void* m, Dur d) __asm__(CVWAITD);
EXPORT void ShimLock(void* m) {
  static auto f = reinterpret_cast<void (*)(void*)>(Real(LOCK));
  { IgnoreReads ig; f(m); } Acq(m);
}
EXPORT void ShimUnlock(void* m) {
  static auto f = reinterpret_cast<void (*)(void*)>(Real(UNLOCK));
  Rel(m); { IgnoreReads ig; f(m); }
}
EXPORT bool ShimTryLock(void* m) {
  static auto f = reinterpret_cast<bool (*)(void*)>(Real(TRYLOCK));
  bool r; { IgnoreReads ig; r = f(m); } if (r) Acq(m); return r;
}
EXPORT bool ShimAwait(void* m, const void* c, Dur d) {
  static auto f = reinterpret_cast<bool (*)(void*, const void*, Dur)>(Real(AWAIT));
  Rel(m); bool r; { IgnoreReads ig; r = f(m, c, d); } Acq(m); return r;
}
EXPORT void ShimRelease(void* l) {
  static auto f = reinterpret_cast<void (*)(void*)>(Real(RELEASE));
  void* m = *static_cast<void**>(l);
  if (m) Rel(m);
  { IgnoreReads ig; f(l); }
}
EXPORT void ShimCvWait(void* cv, void* m) {
  static auto f = reinterpret_cast<void (*)(void*, void*)>(Real(CVWAIT));
  Rel(m); { IgnoreReads ig; f(cv, m); } Acq(m);
}
EXPORT bool ShimCvWaitT(void* cv, void* m, Dur d) {
  static auto f = reinterpret_cast<bool (*)(void*, void*, Dur)>(Real(CVWAITT));
  Rel(m); bool r; { IgnoreReads ig; r = f(cv, m, d); } Acq(m); return r;
}
EXPORT bool ShimCvWaitD(void* cv, void* m, Dur d) {
  static auto f = reinterpret_cast<bool (*)(void*, void*, Dur)>(Real(CVWAITD));
  Rel(m); bool r; { IgnoreReads ig; r = f(cv, m, d); } Acq(m); return r;
}
