/* Executed-instruction counting for QEMU user mode (TCG plugin, API v1).
 *
 * Loaded with `qemu-<arch> -plugin insn_count.so,out=FILE`. Every translated
 * block gets its own 64-bit counter; an inline add of the block's
 * instruction count runs each time the block executes (no helper call, so
 * the emulation stays fast). Counters of blocks retranslated at the same
 * guest address are summed by the reader.
 *
 * Checkpoints: the guest marks a point of its run by calling lseek with the
 * offset kMarker (any fd; Python: os.lseek(-1, MARKER, 0), which fails with
 * EBADF and does nothing else). At each checkpoint and at exit the plugin
 * appends to FILE a header line "checkpoint <k> <total>" (k = -1 at exit)
 * and one line "<guest address hex> <count>" per block executed so far.
 * The difference of two checkpoints is what ran between them, attributable
 * to guest code by address.
 *
 * The declarations below are our own, written from QEMU's documented plugin
 * API (docs/devel/tcg-plugins.rst, version 1); only what is used.
 * Counters are plain (non-atomic) adds: exact for a single guest thread,
 * which is how the benchmark runs (num_threads=1).
 */
#include <inttypes.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef uint64_t qemu_plugin_id_t;
struct qemu_plugin_tb;
typedef struct qemu_info_t qemu_info_t; /* not read */
typedef void (*tb_trans_cb)(qemu_plugin_id_t id, struct qemu_plugin_tb* tb);
typedef void (*udata_cb)(qemu_plugin_id_t id, void* userdata);
typedef void (*syscall_cb)(qemu_plugin_id_t id, unsigned int vcpu_index,
                           int64_t num, uint64_t a1, uint64_t a2, uint64_t a3,
                           uint64_t a4, uint64_t a5, uint64_t a6, uint64_t a7,
                           uint64_t a8);
enum plugin_op { kInlineAddU64 = 0 };

void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, tb_trans_cb cb);
void qemu_plugin_register_vcpu_tb_exec_inline(struct qemu_plugin_tb* tb,
                                              enum plugin_op op, void* ptr,
                                              uint64_t imm);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb* tb);
uint64_t qemu_plugin_tb_vaddr(const struct qemu_plugin_tb* tb);
void qemu_plugin_register_vcpu_syscall_cb(qemu_plugin_id_t id, syscall_cb cb);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, udata_cb cb,
                                    void* userdata);
void qemu_plugin_outs(const char* string);

__attribute__((visibility("default"))) int qemu_plugin_version = 1;

/* "STTNCOST": the checkpoint marker (a positive 64-bit file offset). */
static const uint64_t kMarker = 0x5354544E434F5354ull;

typedef struct {
  uint64_t vaddr;
  uint64_t count;
} Block;

/* Blocks live in fixed chunks that never move (the inline adds hold their
 * addresses). */
enum { kChunk = 1 << 16 };
typedef struct Chunk {
  Block blocks[kChunk];
  size_t used;
  struct Chunk* next;
} Chunk;

static Chunk* chunks;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static FILE* out;
static int checkpoints;

static Block* NewBlock(uint64_t vaddr) {
  if (chunks == NULL || chunks->used == kChunk) {
    Chunk* c = calloc(1, sizeof(Chunk));
    if (c == NULL) {
      qemu_plugin_outs("insn_count: out of memory\n");
      abort();
    }
    c->next = chunks;
    chunks = c;
  }
  Block* b = &chunks->blocks[chunks->used++];
  b->vaddr = vaddr;
  b->count = 0;
  return b;
}

static void OnTranslate(qemu_plugin_id_t id, struct qemu_plugin_tb* tb) {
  (void)id;
  pthread_mutex_lock(&lock);
  Block* b = NewBlock(qemu_plugin_tb_vaddr(tb));
  pthread_mutex_unlock(&lock);
  qemu_plugin_register_vcpu_tb_exec_inline(tb, kInlineAddU64, &b->count,
                                           qemu_plugin_tb_n_insns(tb));
}

static void Dump(int k) {
  uint64_t total = 0;
  pthread_mutex_lock(&lock);
  for (Chunk* c = chunks; c != NULL; c = c->next) {
    for (size_t i = 0; i < c->used; ++i) total += c->blocks[i].count;
  }
  fprintf(out, "checkpoint %d %" PRIu64 "\n", k, total);
  for (Chunk* c = chunks; c != NULL; c = c->next) {
    for (size_t i = 0; i < c->used; ++i) {
      if (c->blocks[i].count != 0) {
        fprintf(out, "%" PRIx64 " %" PRIu64 "\n", c->blocks[i].vaddr,
                c->blocks[i].count);
      }
    }
  }
  pthread_mutex_unlock(&lock);
  fflush(out);
}

static void OnSyscall(qemu_plugin_id_t id, unsigned int vcpu_index, int64_t num,
                      uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4,
                      uint64_t a5, uint64_t a6, uint64_t a7, uint64_t a8) {
  (void)id, (void)vcpu_index, (void)num, (void)a1, (void)a3, (void)a4;
  (void)a5, (void)a6, (void)a7, (void)a8;
  if (a2 == kMarker) Dump(checkpoints++);
}

static void OnExit(qemu_plugin_id_t id, void* userdata) {
  (void)id, (void)userdata;
  Dump(-1);
  fclose(out);
}

__attribute__((visibility("default"))) int qemu_plugin_install(
    qemu_plugin_id_t id, const qemu_info_t* info, int argc, char** argv) {
  (void)info;
  const char* path = NULL;
  for (int i = 0; i < argc; ++i) {
    if (strncmp(argv[i], "out=", 4) == 0) path = argv[i] + 4;
  }
  if (path == NULL) {
    qemu_plugin_outs("insn_count: give the output file as out=FILE\n");
    return -1;
  }
  out = fopen(path, "w");
  if (out == NULL) {
    qemu_plugin_outs("insn_count: cannot open the out= file\n");
    return -1;
  }
  qemu_plugin_register_vcpu_tb_trans_cb(id, OnTranslate);
  qemu_plugin_register_vcpu_syscall_cb(id, OnSyscall);
  qemu_plugin_register_atexit_cb(id, OnExit, NULL);
  return 0;
}
