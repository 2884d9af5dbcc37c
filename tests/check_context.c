/*
 * check_context.c - the context switch: values survive, callee-saved
 * registers and floating-point control words are preserved, deep recursion
 * on a task stack works. Runs against whichever back-end configure chose.
 */
#include "context/context.h"
#include "testutil.h"

#include <fenv.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

/* ---- white-box: two contexts switching directly ---- */

static weft_ctx main_ctx, side_ctx;
static volatile long shared_value;

static void side_entry(void *arg) {
  long step = (long)(intptr_t)arg;
  long local = 1000; /* lives on the side stack across every switch */
  for (;;) {
    local += step;
    shared_value = local;
    weft__ctx_switch(&side_ctx, &main_ctx);
  }
}

static void *map_stack(size_t size) {
  void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ck_assert_ptr_ne(p, MAP_FAILED);
  return p;
}

START_TEST(test_context_values_survive) {
  size_t size = 64 * 1024;
  void *stack = map_stack(size);
  long mine = 7; /* lives on this thread's stack across every switch */

  weft__ctx_init(&side_ctx, stack, size, side_entry, (void *)(intptr_t)3);
  for (long i = 1; i <= 10000; i++) {
    weft__ctx_switch(&main_ctx, &side_ctx);
    ck_assert_int_eq(shared_value, 1000 + 3 * i);
    mine += 2;
  }
  ck_assert_int_eq(mine, 7 + 2 * 10000);
  munmap(stack, size);
}
END_TEST

/*
 * Callee-saved registers: load known values into every callee-saved
 * register, switch to a context that overwrites all of them with garbage
 * and switches back, then read them out. Written in assembly because the
 * compiler decides which registers C code uses.
 */
#if defined(__x86_64__)
#define HAVE_REG_TEST 1
void clobber_entry(void *arg);
__asm__(".text\n"
        ".globl clobber_entry\n"
        "clobber_entry:\n"
        "1:\n"
        "  movabsq $0xdeadbeefdeadbeef, %rbx\n"
        "  movq %rbx, %rbp\n"
        "  movq %rbx, %r12\n"
        "  movq %rbx, %r13\n"
        "  movq %rbx, %r14\n"
        "  movq %rbx, %r15\n"
        "  leaq side_ctx(%rip), %rdi\n"
        "  leaq main_ctx(%rip), %rsi\n"
        "  call weft__ctx_switch\n"
        "  jmp 1b\n");

static void switch_with_known_registers(uint64_t out[6]) {
  __asm__ volatile("subq $128, %%rsp\n" /* step over the red zone */
                   "pushq %%rbp\n"
                   "pushq %%rbx\n"
                   "pushq %%r12\n"
                   "pushq %%r13\n"
                   "pushq %%r14\n"
                   "pushq %%r15\n"
                   "pushq %%rdi\n"
                   "subq $8, %%rsp\n" /* keep the stack 16-byte aligned for the call */
                   "movq $0x1111, %%rbx\n"
                   "movq $0x2222, %%rbp\n"
                   "movq $0x3333, %%r12\n"
                   "movq $0x4444, %%r13\n"
                   "movq $0x5555, %%r14\n"
                   "movq $0x6666, %%r15\n"
                   "leaq main_ctx(%%rip), %%rdi\n"
                   "leaq side_ctx(%%rip), %%rsi\n"
                   "call weft__ctx_switch\n"
                   "addq $8, %%rsp\n"
                   "popq %%rdi\n"
                   "movq %%rbx, 0(%%rdi)\n"
                   "movq %%rbp, 8(%%rdi)\n"
                   "movq %%r12, 16(%%rdi)\n"
                   "movq %%r13, 24(%%rdi)\n"
                   "movq %%r14, 32(%%rdi)\n"
                   "movq %%r15, 40(%%rdi)\n"
                   "popq %%r15\n"
                   "popq %%r14\n"
                   "popq %%r13\n"
                   "popq %%r12\n"
                   "popq %%rbx\n"
                   "popq %%rbp\n"
                   "addq $128, %%rsp\n"
                   :
                   : "D"(out)
                   : "rax", "rcx", "rdx", "rsi", "r8", "r9", "r10", "r11", "memory", "cc");
}
static const uint64_t expect_regs[6] = {0x1111, 0x2222, 0x3333, 0x4444, 0x5555, 0x6666};
#elif defined(__aarch64__)
#define HAVE_REG_TEST 1
void clobber_entry(void *arg);
__asm__(".text\n"
        ".globl clobber_entry\n"
        "clobber_entry:\n"
        "1:\n"
        "  mov x19, #0xbeef\n"
        "  mov x20, x19\n  mov x21, x19\n  mov x22, x19\n  mov x23, x19\n"
        "  mov x24, x19\n  mov x25, x19\n  mov x26, x19\n  mov x27, x19\n  mov x28, x19\n"
        "  fmov d8, x19\n  fmov d15, x19\n"
        "  adrp x0, side_ctx\n  add x0, x0, :lo12:side_ctx\n"
        "  adrp x1, main_ctx\n  add x1, x1, :lo12:main_ctx\n"
        "  bl weft__ctx_switch\n"
        "  b 1b\n");

static void switch_with_known_registers(uint64_t out[6]) {
  register uint64_t *o __asm__("x0") = out;
  __asm__ volatile("stp x19, x20, [sp, #-16]!\n"
                   "stp x21, x22, [sp, #-16]!\n"
                   "stp d8, d15, [sp, #-16]!\n"
                   "stp x0, x30, [sp, #-16]!\n"
                   "mov x19, #0x1111\n"
                   "mov x20, #0x2222\n"
                   "mov x21, #0x3333\n"
                   "mov x22, #0x4444\n"
                   "mov x9, #0x5555\n  fmov d8, x9\n"
                   "mov x9, #0x6666\n  fmov d15, x9\n"
                   "adrp x0, main_ctx\n  add x0, x0, :lo12:main_ctx\n"
                   "adrp x1, side_ctx\n  add x1, x1, :lo12:side_ctx\n"
                   "bl weft__ctx_switch\n"
                   "ldp x0, x30, [sp], #16\n"
                   "stp x19, x20, [x0, #0]\n"
                   "stp x21, x22, [x0, #16]\n"
                   "fmov x9, d8\n  str x9, [x0, #32]\n"
                   "fmov x9, d15\n  str x9, [x0, #40]\n"
                   "ldp d8, d15, [sp], #16\n"
                   "ldp x21, x22, [sp], #16\n"
                   "ldp x19, x20, [sp], #16\n"
                   : "+r"(o)
                   :
                   : "x1", "x2", "x3", "x4", "x5", "x6", "x7", "x8", "x9", "x10", "x11", "x12",
                     "x13", "x14", "x15", "x16", "x17", "memory", "cc");
}
static const uint64_t expect_regs[6] = {0x1111, 0x2222, 0x3333, 0x4444, 0x5555, 0x6666};
#endif

#ifdef HAVE_REG_TEST
START_TEST(test_context_callee_saved_registers) {
  size_t size = 64 * 1024;
  void *stack = map_stack(size);
  uint64_t got[6];

  weft__ctx_init(&side_ctx, stack, size, clobber_entry, NULL);
  for (int round = 0; round < 3; round++) {
    memset(got, 0, sizeof got);
    switch_with_known_registers(got);
    for (int i = 0; i < 6; i++)
      ck_assert_msg(got[i] == expect_regs[i], "register %d: %#llx, expected %#llx", i,
                    (unsigned long long)got[i], (unsigned long long)expect_regs[i]);
  }
  munmap(stack, size);
}
END_TEST
#endif

/* ---- through the runtime: FP control state travels with each task ---- */

static atomic_int fp_failures;

/* Not inlined, reading volatiles: the division happens after the call that
 * set the rounding mode, not where the optimiser would like it. */
__attribute__((noinline)) static double divide(volatile double *a, volatile double *b) {
  return *a / *b;
}

static void *rounding_task(void *arg) {
  int mode = (int)(intptr_t)arg;
  volatile double third = 1.0, three = 3.0;
  double down, up;

  if (mode != FE_TONEAREST)
    fesetround(mode);
  for (int i = 0; i < 200; i++) {
    weft_yield(); /* other tasks run with their own modes; we may migrate */
    if (fegetround() != mode)
      atomic_fetch_add(&fp_failures, 1);
  }
  /* The mode really governs arithmetic: 1/3 rounds differently. */
  fesetround(FE_DOWNWARD);
  down = divide(&third, &three);
  fesetround(FE_UPWARD);
  up = divide(&third, &three);
  fesetround(FE_TONEAREST);
  return (void *)(intptr_t)(down < up);
}

static int rounding_body(void *arg) {
  static const int modes[4] = {FE_TONEAREST, FE_UPWARD, FE_DOWNWARD, FE_TOWARDZERO};
  weft_task *t[16];
  void *r;
  int ok = 1;
  (void)arg;
  for (int i = 0; i < 16; i++)
    ck_assert_int_eq(weft_spawn(&t[i], rounding_task, (void *)(intptr_t)modes[i % 4]), 0);
  for (int i = 0; i < 16; i++) {
    ck_assert_int_eq(weft_join(t[i], &r), 0);
    ok &= (int)(intptr_t)r;
  }
  return ok;
}

START_TEST(test_context_fp_control_preserved) {
  if (WEFT_ON_VALGRIND())
    return; /* Valgrind runs every rounding mode as round-to-nearest */
  ck_assert_int_eq(run_in_task(2, rounding_body, NULL), 1);
  ck_assert_int_eq(atomic_load(&fp_failures), 0);
}
END_TEST

/* ---- deep recursion on a task stack ---- */

static long recurse(int depth, volatile char *prev) {
  volatile char frame[512];
  frame[0] = (char)depth;
  frame[511] = prev ? prev[0] : 0;
  if (depth == 0)
    return frame[0] + frame[511];
  return recurse(depth - 1, frame) + frame[0];
}

static void *deep_task(void *arg) {
  int depth = (int)(intptr_t)arg;
  weft_yield(); /* a switch in the middle of the task's life */
  return (void *)(intptr_t)recurse(depth, NULL);
}

static long expected_recurse(int depth) {
  long sum = 0;
  for (int d = depth; d >= 1; d--)
    sum += (char)d;
  return sum + 0 + (char)1;
}

static int deep_body(void *arg) {
  weft_spawn_attr big;
  weft_task *a, *b;
  void *ra, *rb;
  (void)arg;
  /* ~600 bytes a frame: 300 frames in the default 256 KiB... */
  ck_assert_int_eq(weft_spawn(&a, deep_task, (void *)(intptr_t)300), 0);
  /* ...and 10,000 frames (about 6 MiB) in an 8 MiB stack. */
  weft_spawn_attr_init(&big);
  big.stack_size = 8u << 20;
  big.name = "deep";
  ck_assert_int_eq(weft_spawn_ex(&b, &big, deep_task, (void *)(intptr_t)10000), 0);
  ck_assert_int_eq(weft_join(a, &ra), 0);
  ck_assert_int_eq(weft_join(b, &rb), 0);
  ck_assert_int_eq((long)(intptr_t)ra, expected_recurse(300));
  ck_assert_int_eq((long)(intptr_t)rb, expected_recurse(10000));
  return 0;
}

START_TEST(test_context_deep_recursion) {
  ck_assert_int_eq(run_in_task(2, deep_body, NULL), 0);
}
END_TEST

static Suite *context_suite(void) {
  Suite *s = suite_create("context");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, test_context_values_survive);
#ifdef HAVE_REG_TEST
  tcase_add_test(tc, test_context_callee_saved_registers);
#endif
  tcase_add_test(tc, test_context_fp_control_preserved);
  tcase_add_test(tc, test_context_deep_recursion);
  tcase_set_timeout(tc, 60);
  suite_add_tcase(s, tc);
  return s;
}

WEFT_TEST_MAIN(context_suite)
