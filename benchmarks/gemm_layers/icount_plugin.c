/* A QEMU TCG plugin (plugin API version 1, QEMU 7.2): counts the executed
   guest instructions (each translated block adds its instruction count
   inline) and prints the running count to stderr at every syscall numbered
   4242 (the harness's marker) and at exit. Our own declarations of the few
   plugin API functions it calls. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
typedef uint64_t qemu_plugin_id_t;
struct qemu_plugin_tb;
typedef struct {
  const char* target_name;
  int min, cur;
  int system_emulation;
  int smp_vcpus, max_vcpus;
} qemu_info_t;
__attribute__((visibility("default"))) int qemu_plugin_version = 1;
extern size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb* tb);
extern void qemu_plugin_register_vcpu_tb_exec_inline(struct qemu_plugin_tb* tb,
                                                     int op, void* ptr,
                                                     uint64_t imm);
extern void qemu_plugin_register_vcpu_tb_trans_cb(
    qemu_plugin_id_t id, void (*cb)(qemu_plugin_id_t, struct qemu_plugin_tb*));
extern void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id,
                                           void (*cb)(qemu_plugin_id_t, void*),
                                           void* u);
extern void qemu_plugin_register_vcpu_syscall_cb(
    qemu_plugin_id_t id,
    void (*cb)(qemu_plugin_id_t, unsigned int, int64_t, uint64_t, uint64_t,
               uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, uint64_t));
static uint64_t count;
static void trans(qemu_plugin_id_t id, struct qemu_plugin_tb* tb) {
  qemu_plugin_register_vcpu_tb_exec_inline(tb, 0, &count,
                                           qemu_plugin_tb_n_insns(tb));
}
static void sys(qemu_plugin_id_t id, unsigned int vcpu, int64_t num,
                uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5,
                uint64_t a6, uint64_t a7, uint64_t a8) {
  if (num == 4242) {
    fprintf(stderr, "ICOUNT %llu %llu\n", (unsigned long long)a1,
            (unsigned long long)count);
  }
}
static void fin(qemu_plugin_id_t id, void* u) {
  fprintf(stderr, "ICOUNT_TOTAL %llu\n", (unsigned long long)count);
}
__attribute__((visibility("default"))) int qemu_plugin_install(
    qemu_plugin_id_t id, const qemu_info_t* info, int argc, char** argv) {
  qemu_plugin_register_vcpu_tb_trans_cb(id, trans);
  qemu_plugin_register_vcpu_syscall_cb(id, sys);
  qemu_plugin_register_atexit_cb(id, fin, NULL);
  return 0;
}
