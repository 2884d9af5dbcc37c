/*
 * list.h - an intrusive doubly-linked list, for the wait queues of
 * channels and locks. Callers embed a weft__node and recover their struct
 * with container_of; they provide the locking.
 */
#ifndef WEFT_LIST_H
#define WEFT_LIST_H

#include <stdbool.h>
#include <stddef.h>

struct weft__node {
  struct weft__node *prev, *next;
  bool linked; /* on a list */
};

struct weft__list {
  struct weft__node *head, *tail;
};

/* Link n at the back, or at the front. */
static inline void weft__list_push(struct weft__list *l, struct weft__node *n, bool front) {
  if (front) {
    n->prev = NULL;
    n->next = l->head;
    if (l->head)
      l->head->prev = n;
    else
      l->tail = n;
    l->head = n;
  } else {
    n->next = NULL;
    n->prev = l->tail;
    if (l->tail)
      l->tail->next = n;
    else
      l->head = n;
    l->tail = n;
  }
  n->linked = true;
}

static inline void weft__list_unlink(struct weft__list *l, struct weft__node *n) {
  if (n->prev)
    n->prev->next = n->next;
  else
    l->head = n->next;
  if (n->next)
    n->next->prev = n->prev;
  else
    l->tail = n->prev;
  n->linked = false;
}

#endif /* WEFT_LIST_H */
