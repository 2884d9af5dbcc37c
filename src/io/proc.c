/*
 * proc.c - child processes through uv_spawn on the I/O thread.
 *
 * A child's standard streams are inherited, /dev/null, or pipes. weft makes
 * each pipe a socketpair and hands the parent's end to the program as a
 * weft_sock, so weft_recv and weft_send (and their deadlines and
 * cancellation) work on it; the child's end is passed with UV_INHERIT_FD
 * and closed in the parent once the child has it.
 *
 * Ownership: the weft_proc is shared by the program's tasks and the I/O
 * thread. Its uv_process_t is the I/O thread's; the exit status fields are
 * written there before `exited` is set, and read by a task only after a
 * wait op finished (which orders them, op.c). weft_proc_free closes the
 * handle on the I/O thread (an op it waits for) before freeing.
 */
#define _GNU_SOURCE
#include "io/sock.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#define PROC_MAGIC 0x70726f63u /* "proc": a live handle */

struct weft_proc {
  uint32_t magic;            /* PROC_MAGIC until weft_proc_free */
  uv_process_t handle;       /* I/O thread only */
  int pid;                   /* immutable after spawn */
  bool exited;               /* I/O thread; read by tasks after a wait */
  int64_t exit_status;       /* as exited */
  int term_signal;           /* as exited */
  struct proc_op *waiter;    /* I/O thread only: the one task waiting */
};

enum proc_kind { PROC_SPAWN, PROC_WAIT, PROC_KILL, PROC_FREE };

struct proc_op {
  weft__io_op op;
  enum proc_kind kind;
  weft_proc *proc;
  const weft_proc_opts *opts;    /* PROC_SPAWN */
  int spawn_rc;                  /* PROC_SPAWN: the error, while the handle closes */
  int child_fd[3];               /* PROC_SPAWN: -1, or the child's end */
  int sig;                       /* PROC_KILL */
  int result;
};

/* Finish op now and drop the I/O thread's reference (no handle of its own). */
static void done(struct proc_op *p, int rc) {
  weft__io_finish(&p->op, rc);
  weft__io_op_unref(&p->op);
}

static void wait_end(struct proc_op *p, int rc) {
  if (p->proc->waiter == p)
    p->proc->waiter = NULL;
  done(p, rc);
}

static void on_exit_cb(uv_process_t *h, int64_t status, int sig) {
  weft_proc *pr = h->data;
  pr->exit_status = status;
  pr->term_signal = sig;
  pr->exited = true;
  if (pr->waiter)
    wait_end(pr->waiter, 0);
}

static void spawn_failed_closed(uv_handle_t *h) {
  struct proc_op *p = h->data;
  done(p, p->spawn_rc);
}

static void spawn_now(struct proc_op *p) {
  const weft_proc_opts *o = p->opts;
  uv_process_options_t uo;
  uv_stdio_container_t stdio[3];
  int rc;

  memset(&uo, 0, sizeof uo);
  for (int i = 0; i < 3; i++) {
    if (p->child_fd[i] >= 0) {
      stdio[i].flags = UV_INHERIT_FD;
      stdio[i].data.fd = p->child_fd[i];
    } else if (o->stdio[i] == WEFT_STDIO_INHERIT) {
      stdio[i].flags = UV_INHERIT_FD;
      stdio[i].data.fd = i;
    } else {
      stdio[i].flags = UV_IGNORE; /* /dev/null */
    }
  }
  uo.file = o->file ? o->file : o->argv[0];
  uo.args = o->argv;
  uo.env = o->env;
  uo.cwd = o->cwd;
  uo.stdio = stdio;
  uo.stdio_count = 3;
  uo.exit_cb = on_exit_cb;
  p->proc->handle.data = p->proc;
  rc = uv_spawn(weft__io_loop(p->op.io), &p->proc->handle, &uo);
  if (rc == 0) {
    p->proc->pid = p->proc->handle.pid;
    done(p, 0);
    return;
  }
  /* libuv wants a handle whose spawn failed closed, and touches it until
   * the close callback: only then may the task free the weft_proc. */
  p->spawn_rc = weft__uv_error(rc);
  p->proc->handle.data = p;
  uv_close((uv_handle_t *)&p->proc->handle, spawn_failed_closed);
}

static void wait_now(struct proc_op *p) {
  if (p->proc->exited) {
    wait_end(p, 0);
    return;
  }
  if (p->proc->waiter) { /* one waiter at a time */
    done(p, WEFT_EBUSY);
    return;
  }
  p->proc->waiter = p; /* until the exit, a cancel or the deadline (op.c) */
}

static void free_closed(uv_handle_t *h) {
  struct proc_op *p = h->data; /* set just before uv_close below */
  done(p, 0);
}

static void proc_start(weft__io_op *op) {
  struct proc_op *p = container_of(op, struct proc_op, op);
  switch (p->kind) {
  case PROC_SPAWN:
    spawn_now(p);
    break;
  case PROC_WAIT:
    wait_now(p);
    break;
  case PROC_KILL: /* only while not reaped: the pid cannot have been reused */
    done(p, p->proc->exited ? WEFT_ESRCH : weft__uv_error(uv_process_kill(&p->proc->handle, p->sig)));
    break;
  case PROC_FREE:
    if (!p->proc->exited) {
      done(p, WEFT_EBUSY);
      break;
    }
    p->proc->handle.data = p;
    uv_close((uv_handle_t *)&p->proc->handle, free_closed);
    break;
  }
}

static void proc_cancel(weft__io_op *op, int result) {
  struct proc_op *p = container_of(op, struct proc_op, op);
  if (p->kind == PROC_WAIT)
    wait_end(p, result);
  /* spawn, kill and free finish at once on the I/O thread anyway */
}

static const weft__io_op_kind proc_kind = {
    .size = sizeof(struct proc_op),
    .start = proc_start,
    .cancel = proc_cancel,
};
WEFT__IO_OP_FIRST(struct proc_op);

static int proc_run(const struct proc_op *tmpl, int64_t deadline, bool cancellable) {
  struct proc_op *p;
  int rc;
  if (!weft_self())
    return WEFT_EPERM;
  if (!(p = (struct proc_op *)weft__io_op_new(&proc_kind)))
    return WEFT_ENOMEM;
  *p = *tmpl; /* its op is all zero but the kind */
  p->op.kind = &proc_kind;
  weft__wait_note(weft_self(), "process", 0, deadline);
  rc = weft__io_wait(&p->op, deadline, cancellable);
  weft__io_op_unref(&p->op);
  return rc;
}

void weft_proc_opts_init(weft_proc_opts *o) {
  if (o)
    memset(o, 0, sizeof *o);
}

static void close_pipes(int fds[3][2]) {
  for (int i = 0; i < 3; i++)
    for (int k = 0; k < 2; k++)
      if (fds[i][k] >= 0)
        close(fds[i][k]);
}

/* A handle weft_proc_spawn made and weft_proc_free has not freed (while
 * its memory is not reused). */
static bool proc_valid(const weft_proc *pr) {
  return pr && pr->magic == PROC_MAGIC;
}

int weft_proc_spawn(weft_proc **out, const weft_proc_opts *o, weft_sock *pipes[3]) {
  struct proc_op p = {.kind = PROC_SPAWN, .opts = o, .child_fd = {-1, -1, -1}};
  int fds[3][2] = {{-1, -1}, {-1, -1}, {-1, -1}};
  weft_proc *pr;
  int rc;

  if (!out || !o || !o->argv || !o->argv[0])
    return WEFT_EINVAL;
  *out = NULL;
  if (!weft_self())
    return WEFT_EPERM;
  for (int i = 0; i < 3; i++) {
    if (o->stdio[i] < WEFT_STDIO_INHERIT || o->stdio[i] > WEFT_STDIO_PIPE)
      return WEFT_EINVAL;
    if (o->stdio[i] == WEFT_STDIO_PIPE && !pipes)
      return WEFT_EINVAL;
  }
  if (!(pr = calloc(1, sizeof *pr)))
    return WEFT_ENOMEM;
  pr->magic = PROC_MAGIC;
  for (int i = 0; i < 3; i++) {
    if (o->stdio[i] != WEFT_STDIO_PIPE)
      continue;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds[i]) < 0) {
      rc = -errno;
      goto out_fail;
    }
    fcntl(fds[i][0], F_SETFL, O_NONBLOCK); /* ours; the child's stays blocking */
    p.child_fd[i] = fds[i][1];
  }
  p.proc = pr;
  if ((rc = proc_run(&p, -1, false)))
    goto out_fail;
  for (int i = 0; i < 3; i++) {
    if (fds[i][1] >= 0)
      close(fds[i][1]); /* the child has its own copy now */
    if (pipes)
      pipes[i] = NULL;
    if (fds[i][0] >= 0 && !(pipes[i] = weft__sock_wrap(fds[i][0])))
      close(fds[i][0]); /* out of memory: the child sees EOF */
  }
  *out = pr;
  return 0;

out_fail:
  close_pipes(fds);
  free(pr);
  return rc;
}

int weft_proc_wait(weft_proc *pr, int64_t *exit_status, int *term_signal, int64_t deadline) {
  struct proc_op p = {.kind = PROC_WAIT, .proc = pr};
  weft_task *t;
  int rc;
  if (!proc_valid(pr))
    return WEFT_EINVAL;
  if (!(t = weft__blocking_enter()))
    return WEFT_EPERM;
  if (weft__cancel_pending(t))
    return WEFT_ECANCELED;
  if ((rc = proc_run(&p, deadline, true)))
    return rc;
  if (exit_status)
    *exit_status = pr->exit_status;
  if (term_signal)
    *term_signal = pr->term_signal;
  return 0;
}

int weft_proc_kill(weft_proc *pr, int sig) {
  struct proc_op p = {.kind = PROC_KILL, .proc = pr, .sig = sig};
  if (!proc_valid(pr) || sig < 0 || sig >= NSIG)
    return WEFT_EINVAL;
  return proc_run(&p, -1, false);
}

int weft_proc_pid(const weft_proc *pr) {
  return proc_valid(pr) ? pr->pid : WEFT_EINVAL;
}

int weft_proc_free(weft_proc *pr) {
  struct proc_op p = {.kind = PROC_FREE, .proc = pr};
  int rc;
  if (!proc_valid(pr))
    return WEFT_EINVAL;
  if ((rc = proc_run(&p, -1, false)))
    return rc;
  pr->magic = 0;
  free(pr);
  return 0;
}
