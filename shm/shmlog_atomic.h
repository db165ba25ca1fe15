/*
 * shmlog_atomic.h - every memory-ordering primitive shmlog uses, in one place.
 *
 * The shared fields are plain integers in mapped memory read by other processes,
 * so the GCC/Clang __atomic builtins are used on them directly: they work on the
 * same objects from C11 and C++17 alike. Call sites say why they need the order.
 */
#ifndef SHMLOG_ATOMIC_H
#define SHMLOG_ATOMIC_H

#define shmlog__load_relaxed(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define shmlog__load_acquire(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define shmlog__store_relaxed(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define shmlog__store_release(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define shmlog__add_relaxed(p, v) __atomic_fetch_add((p), (v), __ATOMIC_RELAXED)
/* Weak CAS: the caller loops anyway, and on failure *expected is refreshed. */
#define shmlog__cas(p, expected, desired) \
    __atomic_compare_exchange_n((p), (expected), (desired), 1, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)
/* Strong CAS, relaxed: a caller that tries once must not fail spuriously. */
#define shmlog__cas_strong_relaxed(p, expected, desired) \
    __atomic_compare_exchange_n((p), (expected), (desired), 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED)
#define shmlog__exchange_relaxed(p, v) __atomic_exchange_n((p), (v), __ATOMIC_RELAXED)
#define shmlog__fence_release() __atomic_thread_fence(__ATOMIC_RELEASE)
#define shmlog__fence_acquire() __atomic_thread_fence(__ATOMIC_ACQUIRE)

#if defined(__x86_64__) || defined(__i386__)
#define shmlog__cpu_relax() __asm__ __volatile__("pause" ::: "memory")
#else
#define shmlog__cpu_relax() __asm__ __volatile__("" ::: "memory")
#endif

#endif /* SHMLOG_ATOMIC_H */
