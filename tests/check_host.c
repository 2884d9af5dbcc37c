/*
 * check_host.c - linking weft must not change the host program: no thread
 * before weft_rt_new and none left after weft_rt_free, no signal
 * disposition changed except the overflow handler, which hands faults that
 * are not stack overflows to the handler the program had before.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <dirent.h>
#include <setjmp.h>
#include <stdbool.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static int count_threads(void) {
  DIR *d = opendir("/proc/self/task");
  struct dirent *e;
  int n = 0;
  ck_assert_ptr_nonnull(d);
  while ((e = readdir(d)))
    if (e->d_name[0] != '.')
      n++;
  closedir(d);
  return n;
}

static void *nothing(void *arg) {
  return arg;
}

START_TEST(test_host_no_threads_before_rt_new_and_none_after_free) {
  weft_config cfg;
  weft_rt *rt;
  int base = count_threads(), extra = 0;
#ifdef __SANITIZE_THREAD__
  extra = 1; /* ThreadSanitizer starts a thread of its own with the first */
#endif

  /* Everything that needs no runtime leaves the process alone. */
  weft_config_init(&cfg);
  (void)weft_version();
  (void)weft_strerror(WEFT_EINVAL);
  (void)weft_now();
  ck_assert_int_eq(count_threads(), base);
  cfg.workers = 3;
  ck_assert_int_eq(weft_rt_new(&rt, &cfg), 0);
  /* The workers and the I/O thread. */
  ck_assert_int_ge(count_threads(), base + 3 + 1);
  ck_assert_int_le(count_threads(), base + 3 + 1 + extra);
  ck_assert_int_eq(weft_rt_spawn(rt, NULL, nothing, NULL), 0);
  ck_assert_int_eq(weft_rt_wait(rt), 0);
  ck_assert_int_eq(weft_rt_free(rt), 0);
  ck_assert_int_le(count_threads(), base + extra);
}
END_TEST

static bool same_disposition(int sig, const struct sigaction *before) {
  struct sigaction now;
  ck_assert_int_eq(sigaction(sig, NULL, &now), 0);
  return now.sa_handler == before->sa_handler;
}

static int use_sockets(void *arg) {
  weft_sock *l, *c;
  char port[16];
  (void)arg;
  ck_assert_int_eq(weft_tcp_listen(&l, "127.0.0.1", "0", 0), 0);
  snprintf(port, sizeof port, "%d", weft_sock_port(l));
  ck_assert_int_eq(weft_tcp_connect(&c, "127.0.0.1", port, -1), 0);
  weft_sock_close(c);
  weft_sock_close(l);
  return 0;
}

START_TEST(test_host_signal_dispositions_unchanged) {
  static const int sigs[] = {SIGPIPE, SIGCHLD, SIGINT, SIGTERM, SIGUSR1, SIGUSR2, SIGHUP};
  struct sigaction before[sizeof sigs / sizeof sigs[0]];
  for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
    ck_assert_int_eq(sigaction(sigs[i], NULL, &before[i]), 0);
  ck_assert_int_eq(run_in_task(2, use_sockets, NULL), 0);
  for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
    ck_assert_msg(same_disposition(sigs[i], &before[i]), "signal %d changed", sigs[i]);
}
END_TEST

/* ---- SIGSEGV chaining ---- */

static sigjmp_buf back;
static volatile sig_atomic_t host_handler_ran;
static void *fault_addr;

static void host_segv(int sig, siginfo_t *si, void *uc) {
  (void)sig;
  (void)uc;
  host_handler_ran = si->si_addr == fault_addr;
  siglongjmp(back, 1);
}

START_TEST(test_host_segv_that_is_not_an_overflow_reaches_the_program_handler) {
  struct sigaction sa, now;
  weft_rt *rt;
  char *page;

  if (WEFT_ON_VALGRIND())
    return; /* Valgrind reports the deliberate fault as an invalid write */
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = host_segv;
  sa.sa_flags = SA_SIGINFO;
  sigemptyset(&sa.sa_mask);
  ck_assert_int_eq(sigaction(SIGSEGV, &sa, NULL), 0);
  ck_assert_int_eq(weft_rt_new(&rt, NULL), 0);
  /* weft's overflow handler sits in front now... */
  ck_assert_int_eq(sigaction(SIGSEGV, NULL, &now), 0);
  ck_assert_ptr_ne((void *)now.sa_sigaction, (void *)host_segv);
  /* ...and passes on a fault that is not a task's stack overflow. */
  page = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ck_assert_ptr_ne(page, MAP_FAILED);
  fault_addr = page;
  if (sigsetjmp(back, 1) == 0) {
    *(volatile char *)page = 1;
    ck_abort_msg("the write to a PROT_NONE page did not fault");
  }
  ck_assert_int_eq(host_handler_ran, 1);
  munmap(page, 4096);
  ck_assert_int_eq(weft_rt_free(rt), 0);
}
END_TEST

static Suite *host_suite(void) {
  Suite *s = suite_create("host");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, test_host_no_threads_before_rt_new_and_none_after_free);
  tcase_add_test(tc, test_host_signal_dispositions_unchanged);
  tcase_add_test(tc, test_host_segv_that_is_not_an_overflow_reaches_the_program_handler);
  suite_add_tcase(s, tc);
  return s;
}

WEFT_TEST_MAIN(host_suite)
