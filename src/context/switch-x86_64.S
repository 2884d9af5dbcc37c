/*
 * switch-x86_64.S - context switch for x86-64, System V ABI.
 *
 *   void weft__ctx_switch(weft_ctx *from, const weft_ctx *to);
 *                         %rdi            %rsi
 *
 * The System V ABI (AMD64 supplement, section 3.2.1) makes %rbx, %rbp and
 * %r12-%r15 callee-saved, together with the MXCSR control bits and the x87
 * control word (section 3.2.3). Everything else is clobbered by any call,
 * so the compiler has already saved what it needs before calling us.
 *
 * Frame left on the suspended stack, from the saved %rsp upwards:
 *
 *   offset  contents
 *     0     MXCSR (4 bytes)
 *     4     x87 control word (2 bytes, 2 bytes padding)
 *     8     %r15
 *    16     %r14
 *    24     %r13
 *    32     %r12
 *    40     %rbx
 *    48     %rbp
 *    56     return address
 *
 * frame-x86_64.c builds the same frame for a context that has never run,
 * with weft__ctx_start as its return address.
 */
	.text
	.globl	weft__ctx_switch
	.hidden	weft__ctx_switch
	.type	weft__ctx_switch, @function
	.p2align 4
weft__ctx_switch:
	.cfi_startproc
	pushq	%rbp
	.cfi_adjust_cfa_offset 8
	pushq	%rbx
	.cfi_adjust_cfa_offset 8
	pushq	%r12
	.cfi_adjust_cfa_offset 8
	pushq	%r13
	.cfi_adjust_cfa_offset 8
	pushq	%r14
	.cfi_adjust_cfa_offset 8
	pushq	%r15
	.cfi_adjust_cfa_offset 8
	subq	$8, %rsp
	.cfi_adjust_cfa_offset 8
	stmxcsr	(%rsp)
	fnstcw	4(%rsp)
	/* The live values, each read back at the width it was stored (a wider
	 * load would stall store-to-load forwarding). */
	movl	(%rsp), %eax
	movzwl	4(%rsp), %ecx
	movq	%rsp, (%rdi)		/* from->sp = %rsp */
	movq	(%rsi), %rsp		/* %rsp = to->sp */
	/* Loading MXCSR and the x87 control word costs tens of cycles and
	 * they almost never differ between contexts: load them only when the
	 * saved ones differ from the live values. */
	cmpl	(%rsp), %eax
	jne	2f
	cmpw	4(%rsp), %cx
	jne	2f
1:	addq	$8, %rsp
	.cfi_adjust_cfa_offset -8
	popq	%r15
	.cfi_adjust_cfa_offset -8
	popq	%r14
	.cfi_adjust_cfa_offset -8
	popq	%r13
	.cfi_adjust_cfa_offset -8
	popq	%r12
	.cfi_adjust_cfa_offset -8
	popq	%rbx
	.cfi_adjust_cfa_offset -8
	popq	%rbp
	.cfi_adjust_cfa_offset -8
	ret
	.cfi_adjust_cfa_offset 56	/* the slow path runs with the frame still in place */
2:	ldmxcsr	(%rsp)
	fldcw	4(%rsp)
	jmp	1b
	.cfi_endproc
	.size	weft__ctx_switch, .-weft__ctx_switch

/*
 * First code a new context runs: %r12 holds entry, %r13 its argument (put
 * there by weft__ctx_init). %rsp is 16-byte aligned here, so the call
 * leaves it as the ABI wants at entry's first instruction. Marking %rip
 * undefined ends debugger backtraces at this frame.
 */
	.globl	weft__ctx_start
	.hidden	weft__ctx_start
	.type	weft__ctx_start, @function
	.p2align 4
weft__ctx_start:
	.cfi_startproc
	.cfi_undefined rip
	xorl	%ebp, %ebp
	movq	%r13, %rdi
	callq	*%r12
	ud2				/* entry never returns */
	.cfi_endproc
	.size	weft__ctx_start, .-weft__ctx_start

	.section .note.GNU-stack,"",@progbits
