/* A known number of instructions between two counting-plugin checkpoints
 * (tests/test_qemu_aarch64.py): a two-instruction loop run argv[1] times,
 * so the counts of two runs differ by exactly 2 * (n2 - n1). */
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char** argv) {
  long n = argc > 1 ? atol(argv[1]) : 1;
  const off_t marker = (off_t)0x5354544E434F5354ll; /* tests/qemu_user.py */
  lseek(-1, marker, SEEK_SET);
#if defined(__aarch64__)
  __asm__ volatile("1: subs %0, %0, #1\n b.ne 1b" : "+r"(n) : : "cc");
#else
  __asm__ volatile("1: dec %0\n jnz 1b" : "+r"(n) : : "cc");
#endif
  lseek(-1, marker, SEEK_SET);
  return 0;
}
