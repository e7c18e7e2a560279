// Compiler and target macros shared by the optimized kernel files.
//
// STTN_ALWAYS_INLINE: force inlining (GCC/clang), so per-ISA helpers compile
// into their callers' target("...") functions.
// STTN_X86_DISPATCH: 1 on x86 with GCC/clang, where ISA paths are compiled
// with target attributes and chosen at run time (isa.h); <immintrin.h> is
// included then.
#ifndef STTN_EXPORT_CORE_CPU_TARGET_H_
#define STTN_EXPORT_CORE_CPU_TARGET_H_

#if defined(__GNUC__)
#define STTN_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define STTN_ALWAYS_INLINE inline
#endif

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
#define STTN_X86_DISPATCH 1
#if defined(__GNUC__) && !defined(__clang__)
// GCC 12's avx512fintrin.h seeds results with a self-initialised
// _mm512_undefined_*(), which -Wmaybe-uninitialized reports at -O2+.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>
#else
#define STTN_X86_DISPATCH 0
#endif

#endif  // STTN_EXPORT_CORE_CPU_TARGET_H_
