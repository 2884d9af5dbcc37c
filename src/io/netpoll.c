/*
 * netpoll.c - a socket's untimed waits without a message to the I/O thread
 * per wait: protocol "netpoll" (docs/design.md, section 5.23).
 *
 * A weft_sock that once had to wait joins the runtime's own epoll set
 * (weft__io's epfd), edge-triggered for reading and writing, and stays in
 * it until it is closed. Each socket carries a small waiting room
 * (struct weft__pd, sock.h): per direction, the list of tasks waiting
 * (several tasks may wait to read one socket) or a "ready" flag. A task
 * that met EAGAIN parks straight into that room, on its own worker; the
 * workers read the set's events in batches and wake the tasks named there,
 * one parked worker sleeping on the set itself (sched.c, "park" K5 by
 * polling). So a wait costs no message, no allocation, no timer and no
 * epoll_ctl, where the io op path (poll.c) costs all four: a connection
 * that waits, reads, answers and waits again pays them on every request,
 * and its readiness reaches a worker without passing through the I/O
 * thread.
 *
 * Waits with a deadline and weft_fd_wait keep the io op path, whose timer
 * starts inside the same message; an fd may sit in both the epoll set here
 * and libuv's, which are distinct epoll instances.
 *
 * Protocol "netpoll"
 *  1. Join (once per socket, under pd.lock): epoll_ctl(ADD) with EPOLLIN,
 *     EPOLLOUT, EPOLLRDHUP and EPOLLET. Joining reports the fd's present
 *     readiness as an event, so nothing that happened before it is lost.
 *  2. Wait: the task made its system call and saw EAGAIN, then parks
 *     (task.c, "park"); its publish step, under t->wait_lock, takes
 *     pd.lock and: if the socket is closed, wakes it with WEFT_EBADF; if
 *     ready[d] is set, clears it and wakes it at once (it retries the
 *     call); else puts it on the list waiters[d] (a node on its stack),
 *     sets withdraw, and counts the wait (netwaits, for deadlock
 *     detection).
 *  3. Notify (a reader of the set, below): for each event of a batch,
 *     under pd.lock, for
 *     each direction the event concerns (read: IN, RDHUP, HUP, ERR; write:
 *     OUT, HUP, ERR), take the whole list waiters[d] out if it is not
 *     empty, else set ready[d]. The taken tasks are woken with 0 after
 *     pd.lock is dropped. All of them: with edge-triggered events, a
 *     reader woken alone that left bytes unread would leave the others
 *     waiting on data already there, with no new edge to come.
 *  4. Withdraw (a canceller, under t->wait_lock): under pd.lock, unlink
 *     the task if it is still queued (then the canceller wakes it);
 *     otherwise the notifier or the closer took it and wakes it.
 *  5. Close (weft_sock_close, from a task): epoll_ctl(DEL), then under
 *     pd.lock mark it closed and take both lists out, woken with
 *     WEFT_EBADF; the fd is closed, and the socket's memory is freed by a
 *     message to the I/O thread once nobody refers to it (refs below).
 * Why no wakeup is lost: with EPOLLET the kernel queues an event for every
 * readiness change after the join (every segment that arrives, every byte
 * of send buffer freed), and the task's EAGAIN came before its publish. An
 * event handled before step 2 leaves ready[d] set, which step 2 reads
 * under the same lock; one handled after finds the task on the list. A
 * stale ready[d] costs one extra try of the call, never a missed event.
 * Exactly one wakeup: a task is woken only by whoever takes it off the
 * list under pd.lock (clearing `queued`; steps 2-5), and only one can.
 * The taker reads a node's link before it wakes the node's task, whose
 * stack the node lives on.
 * Who reads the set (weft__netpoll_poll, through rt->idle_poll): the
 * parked worker that sleeps on the waiting set (the epoll set and a kick
 * eventfd, weft__netpoll_block) when it wakes; a worker searching for
 * work; a busy worker every few dozen switches (sched.c, "park" K5 by
 * polling, says why that leaves no event unread for long); and the I/O
 * thread's tick, as a backstop (weft__netpoll_dispatch). A worker's batch
 * readies the tasks on that worker, without a trip through the injection
 * queue and a futex wake. Each event goes to one reader (edge-triggered),
 * and a batch is read and handled under the set's lock (np_lock below),
 * taken with a try-lock: whoever holds it is reading already. Nobody
 * blocks while holding np_lock: the sleeper blocks on the waiting set,
 * whose level-triggered readiness only says the set has events, and reads
 * them after, non-blocking, under the lock.
 * Memory: pd.refs (under pd.lock) counts the socket's own reference,
 * dropped by the closer, and one per task left waiting in step 2, dropped
 * by that task once weft__park has returned: after its step 4 cleared
 * withdraw, so no canceller can still be in np_withdraw reading the
 * socket. The last one sends the free message. A reader holds
 * pointers to sockets only within one batch, under np_lock; after
 * epoll_ctl(DEL) returns no later batch names the socket, and the free
 * message takes np_lock before it frees, so it runs after any batch that
 * could still name it.
 */
#define _GNU_SOURCE
#include "io/sock.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#define NP_READ 0
#define NP_WRITE 1
#define NP_BATCH 128

/* A parked task's place in a socket's wait list: on its stack, named by
 * wait_obj. The links and `queued` are under pd.lock. */
struct weft__np_wait {
  weft_sock *sock;
  int dir;
  bool held;   /* step 2 left it waiting: it holds a reference (pd.refs) */
  bool queued; /* in pd.waiters[dir] */
  weft_task *task;
  struct weft__np_wait *next, **prevp;
};

static void np_free(weft__io_msg *m) {
  weft_sock *s = container_of(m, weft_sock, pd.free_msg);
  weft__spinlock *np_lock = weft__io_np_lock(s->pd.io);
  weft__io_netsocks_add(s->pd.io, -1);
  weft__spin_lock(np_lock); /* no batch that may name s is still running */
  weft__spin_unlock(np_lock);
  free(s);
}

/* Drop a reference to s; the last one has the I/O thread free it. */
static void np_unref(weft_sock *s) {
  struct weft__pd *pd = &s->pd;
  bool last;
  weft__spin_lock(&pd->lock);
  last = --pd->refs == 0;
  weft__spin_unlock(&pd->lock);
  if (last) {
    pd->free_msg.run = np_free;
    weft__io_send(pd->io, &pd->free_msg);
  }
}

static bool np_withdraw(weft_task *t) {
  struct weft__np_wait *w = t->wait_obj;
  struct weft__pd *pd = &w->sock->pd;
  bool mine;
  weft__spin_lock(&pd->lock);
  if ((mine = w->queued)) {
    *w->prevp = w->next;
    if (w->next)
      w->next->prevp = w->prevp;
    w->queued = false;
    weft__io_netwaits_add(pd->io, -1);
  }
  weft__spin_unlock(&pd->lock);
  return mine;
}

/* Take the whole wait list of direction d out of pd (under pd.lock).
 * Returns its head; the nodes stay valid until their tasks are woken. */
static struct weft__np_wait *np_take_all(struct weft__pd *pd, int d) {
  struct weft__np_wait *list = pd->waiters[d];
  long n = 0;
  pd->waiters[d] = NULL;
  for (struct weft__np_wait *w = list; w; w = w->next, n++)
    w->queued = false;
  if (n)
    weft__io_netwaits_add(pd->io, (int)-n);
  return list;
}

/* Wake every task of a list np_take_all returned, pd.lock dropped. A
 * node lives on its task's stack: read the link before the wakeup. */
static void np_wake_all(struct weft__np_wait *w, int result) {
  while (w) {
    struct weft__np_wait *next = w->next;
    weft__wake(w->task, result);
    w = next;
  }
}

/* Step 2, on the scheduler's stack under t->wait_lock. */
static void np_publish(weft_task *t, void *arg) {
  struct weft__np_wait *w = arg;
  struct weft__pd *pd = &w->sock->pd;
  int result = 1; /* 1: left waiting */
  weft__spin_lock(&pd->lock);
  if (pd->closed) {
    result = WEFT_EBADF;
  } else if (pd->ready[w->dir]) {
    pd->ready[w->dir] = false;
    result = 0;
  } else {
    w->task = t;
    w->next = pd->waiters[w->dir];
    if (w->next)
      w->next->prevp = &w->next;
    w->prevp = &pd->waiters[w->dir];
    pd->waiters[w->dir] = w;
    w->queued = true;
    pd->refs++;
    w->held = true;
    t->withdraw = np_withdraw;
    t->wait_obj = w;
    weft__io_netwaits_add(pd->io, 1);
  }
  weft__spin_unlock(&pd->lock);
  if (result <= 0)
    weft__wake(t, result);
}

/* Step 1. Returns 0 or -errno. */
static int np_join(weft_sock *s, weft__io *io) {
  struct weft__pd *pd = &s->pd;
  int rc = 0;
  weft__spin_lock(&pd->lock);
  if (!atomic_load_explicit(&pd->joined, memory_order_relaxed)) {
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
                             .data.ptr = s};
    pd->io = io;
    pd->refs = 1; /* the socket's own */
    if (epoll_ctl(weft__io_epfd(io), EPOLL_CTL_ADD, s->fd, &ev) == 0) {
      atomic_store_explicit(&pd->joined, true, memory_order_relaxed);
      weft__io_netsocks_add(io, 1);
    } else
      rc = -errno;
  }
  weft__spin_unlock(&pd->lock);
  return rc;
}

int weft__netpoll_wait(weft_sock *s, int events) {
  struct weft__np_wait w = {.sock = s, .dir = events == WEFT_WRITABLE ? NP_WRITE : NP_READ};
  weft_task *t = weft_self();
  int rc;
  /* Relaxed: only this socket's tasks join it, and a second join is
   * settled under pd.lock. */
  if (!atomic_load_explicit(&s->pd.joined, memory_order_relaxed) &&
      (rc = np_join(s, t->rt->io)) != 0)
    return rc;
  weft__wait_note(t, w.dir == NP_WRITE ? "fd %lu writable" : "fd %lu readable",
                  (uintptr_t)s->fd, -1);
  rc = weft__park(np_publish, &w, true);
  if (w.held) /* after step 4: no canceller reads the socket any more */
    np_unref(s);
  return rc;
}

/* Step 3: one batch of events. With np_lock held. Returns how many there
 * were (NP_BATCH: look again). */
static int np_batch(weft__io *io) {
  struct epoll_event evs[NP_BATCH];
  struct weft__np_wait *wake[2 * NP_BATCH]; /* wait lists taken out */
  int n, nwake = 0;
  do
    n = epoll_wait(weft__io_epfd(io), evs, NP_BATCH, 0);
  while (n < 0 && errno == EINTR);
  for (int i = 0; i < n; i++) {
    weft_sock *s = evs[i].data.ptr;
    struct weft__pd *pd = &s->pd;
    uint32_t e = evs[i].events;
    bool hit[2] = {(e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0,
                   (e & (EPOLLOUT | EPOLLHUP | EPOLLERR)) != 0};
    weft__spin_lock(&pd->lock);
    for (int d = 0; d < 2; d++) {
      if (!hit[d])
        continue;
      if (pd->waiters[d])
        wake[nwake++] = np_take_all(pd, d);
      else
        pd->ready[d] = true;
    }
    weft__spin_unlock(&pd->lock);
  }
  for (int i = 0; i < nwake; i++)
    np_wake_all(wake[i], 0);
  return n;
}

/* One batch if nobody reads the set now; how many events it had. */
static int np_try_batch(weft__io *io) {
  weft__spinlock *np_lock = weft__io_np_lock(io);
  int n;
  if (atomic_exchange_explicit(np_lock, true, memory_order_acquire))
    return 0; /* another reader has it */
  n = np_batch(io);
  weft__spin_unlock(np_lock);
  return n;
}

void weft__netpoll_dispatch(weft__io *io) {
  if (weft__io_netwaits(io) == 0)
    return;
  while (np_try_batch(io) == NP_BATCH)
    ;
}

int weft__netpoll_poll(weft__io *io) {
  if (weft__io_netwaits(io) == 0)
    return -1; /* nobody waits: not worth a system call */
  return np_try_batch(io);
}

int weft__netpoll_block(weft__io *io, int ms) {
  struct epoll_event evs[2];
  bool set = false;
  int n;
  do
    n = epoll_wait(weft__io_waitfd(io), evs, 2, ms);
  while (n < 0 && errno == EINTR);
  if (n == 0)
    return -1;
  for (int i = 0; i < n; i++) {
    uint64_t count;
    if (evs[i].data.u32 == 0)
      set = true;
    else if (read(weft__io_kickfd(io), &count, sizeof count) < 0) {
      /* EAGAIN: drained already. Nothing else can fail on an eventfd
       * of ours. */
    }
  }
  /* Read the set whether or not a task waits there: events of sockets
   * nobody waits on (they set ready[d]) would otherwise keep the waiting
   * set readable, and the sleeper would spin. */
  return set ? np_try_batch(io) : 0;
}

void weft__netpoll_kick(weft__io *io) {
  uint64_t one = 1;
  /* Cannot fail but at a counter of 2^64 - 2, which a read resets. */
  if (write(weft__io_kickfd(io), &one, sizeof one) < 0) {
  }
}

/* Step 5. s is invalid already (magic cleared). Returns 0 or -errno of
 * close(2). Task only. */
int weft__netpoll_close(weft_sock *s) {
  struct weft__pd *pd = &s->pd;
  struct weft__np_wait *waiters[2];
  int rc = 0;
  epoll_ctl(weft__io_epfd(pd->io), EPOLL_CTL_DEL, s->fd, NULL);
  weft__spin_lock(&pd->lock);
  pd->closed = true;
  for (int d = 0; d < 2; d++)
    waiters[d] = np_take_all(pd, d);
  weft__spin_unlock(&pd->lock);
  for (int d = 0; d < 2; d++)
    np_wake_all(waiters[d], WEFT_EBADF);
  if (close(s->fd) < 0)
    rc = -errno;
  np_unref(s);
  return rc;
}
