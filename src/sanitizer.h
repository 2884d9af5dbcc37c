/*
 * sanitizer.h - telling AddressSanitizer, ThreadSanitizer and Valgrind
 * about the stacks weft switches between (stack.c, gen.c). Each hook
 * compiles to nothing unless that tool is in use, so the switch path of a
 * normal build carries no cost.
 */
#ifndef WEFT_SANITIZER_H
#define WEFT_SANITIZER_H

#ifdef HAVE_CONFIG_H
#include "config.h" /* configure's choices: context back-end, valgrind.h */
#endif
#include <stddef.h>

#if defined(__SANITIZE_ADDRESS__)
#define WEFT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define WEFT_ASAN 1
#endif
#endif

#if defined(__SANITIZE_THREAD__)
#define WEFT_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define WEFT_TSAN 1
#endif
#endif

#ifdef WEFT_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#define weft__asan_start_switch(save, lo, size) __sanitizer_start_switch_fiber((save), (lo), (size))
#define weft__asan_finish_switch(save) __sanitizer_finish_switch_fiber((save), NULL, NULL)
#define weft__asan_unpoison(lo, size) ASAN_UNPOISON_MEMORY_REGION((lo), (size))
#else
#define weft__asan_start_switch(save, lo, size) ((void)(save), (void)(lo), (void)(size))
#define weft__asan_finish_switch(save) ((void)(save))
#define weft__asan_unpoison(lo, size) ((void)(lo), (void)(size))
#endif

#ifdef WEFT_TSAN
#include <sanitizer/tsan_interface.h>
#define weft__tsan_current() __tsan_get_current_fiber()
#define weft__tsan_create() __tsan_create_fiber(0)
#define weft__tsan_destroy(f) __tsan_destroy_fiber(f)
#define weft__tsan_switch(f) __tsan_switch_to_fiber((f), 0)
#else
#define weft__tsan_current() ((void *)0)
#define weft__tsan_create() ((void *)0)
#define weft__tsan_destroy(f) ((void)(f))
#define weft__tsan_switch(f) ((void)(f))
#endif

#ifdef HAVE_VALGRIND_VALGRIND_H
#include <valgrind/valgrind.h>
#define weft__vg_stack_register(lo, hi) VALGRIND_STACK_REGISTER((lo), (hi))
#define weft__vg_stack_deregister(id) VALGRIND_STACK_DEREGISTER(id)
#else
#define weft__vg_stack_register(lo, hi) ((void)(lo), (void)(hi), 0u)
#define weft__vg_stack_deregister(id) ((void)(id))
#endif

#endif /* WEFT_SANITIZER_H */
