/*
 * switch-aarch64.S - context switch for AArch64, AAPCS64.
 *
 *   void weft__ctx_switch(weft_ctx *from, const weft_ctx *to);
 *                         x0              x1
 *
 * AAPCS64 (section 6.1.1, 6.1.2) makes x19-x28, the frame pointer x29, the
 * stack pointer and the low 64 bits of v8-v15 (d8-d15) callee-saved; FPCR
 * holds the rounding mode and travels with the context too. x30 (the link
 * register) is where we return to.
 *
 * Frame left on the suspended stack (176 bytes, 16-byte aligned):
 *
 *   offset  contents        offset  contents
 *     0     x19, x20          96     d8,  d9
 *    16     x21, x22         112     d10, d11
 *    32     x23, x24         128     d12, d13
 *    48     x25, x26         144     d14, d15
 *    64     x27, x28         160     FPCR, padding
 *    80     x29, x30
 *
 * frame-aarch64.c builds the same frame for a context that has never run.
 */
	.text
	.globl	weft__ctx_switch
	.hidden	weft__ctx_switch
	.type	weft__ctx_switch, %function
	.p2align 4
weft__ctx_switch:
	.cfi_startproc
	sub	sp, sp, #176
	.cfi_adjust_cfa_offset 176
	stp	x19, x20, [sp, #0]
	stp	x21, x22, [sp, #16]
	stp	x23, x24, [sp, #32]
	stp	x25, x26, [sp, #48]
	stp	x27, x28, [sp, #64]
	stp	x29, x30, [sp, #80]
	stp	d8, d9, [sp, #96]
	stp	d10, d11, [sp, #112]
	stp	d12, d13, [sp, #128]
	stp	d14, d15, [sp, #144]
	mrs	x9, fpcr
	str	x9, [sp, #160]
	mov	x9, sp
	str	x9, [x0]		/* from->sp = sp */
	ldr	x9, [x1]		/* sp = to->sp */
	mov	sp, x9
	ldr	x9, [sp, #160]
	mrs	x10, fpcr		/* writing FPCR is slow and rarely needed */
	cmp	x9, x10
	b.eq	1f
	msr	fpcr, x9
1:
	ldp	x19, x20, [sp, #0]
	ldp	x21, x22, [sp, #16]
	ldp	x23, x24, [sp, #32]
	ldp	x25, x26, [sp, #48]
	ldp	x27, x28, [sp, #64]
	ldp	x29, x30, [sp, #80]
	ldp	d8, d9, [sp, #96]
	ldp	d10, d11, [sp, #112]
	ldp	d12, d13, [sp, #128]
	ldp	d14, d15, [sp, #144]
	add	sp, sp, #176
	.cfi_adjust_cfa_offset -176
	ret
	.cfi_endproc
	.size	weft__ctx_switch, .-weft__ctx_switch

/*
 * First code a new context runs: x19 holds entry, x20 its argument.
 * x30 undefined ends debugger backtraces here.
 */
	.globl	weft__ctx_start
	.hidden	weft__ctx_start
	.type	weft__ctx_start, %function
	.p2align 4
weft__ctx_start:
	.cfi_startproc
	.cfi_undefined x30
	mov	x29, #0
	mov	x0, x20
	blr	x19
	brk	#0			/* entry never returns */
	.cfi_endproc
	.size	weft__ctx_start, .-weft__ctx_start

	.section .note.GNU-stack,"",%progbits
