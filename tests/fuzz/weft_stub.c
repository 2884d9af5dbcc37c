/*
 * weft_stub.c - the two weft calls examples/fetch/links.c makes, for the
 * fuzz harnesses, which link the parsers without the weft runtime:
 * outside a task weft_self() is NULL, and links.c then never yields.
 */
#include <stddef.h>
#include <weft.h>

weft_task *weft_self(void) {
  return NULL;
}

void weft_yield(void) {
}
