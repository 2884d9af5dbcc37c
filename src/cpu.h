/*
 * cpu.h - a spin-wait hint for the CPU, per architecture, on the ground
 * floor: the scheduler's search loop and the spinlocks (weft-int.h) call
 * it between polls. It depends on the CPU, not on the context back-end,
 * so a ucontext build on x86-64 pauses as the assembly one does.
 */
#ifndef WEFT_CPU_H
#define WEFT_CPU_H

static inline void weft__cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __asm__ volatile("pause");
#elif defined(__aarch64__)
  __asm__ volatile("yield");
#else
  /* no hint on this CPU: spinning just spins */
#endif
}

#endif /* WEFT_CPU_H */
