# Output of riscv64-unknown-elf-gcc 12.2 -S -O2 -march=rv32ima_zicsr -mabi=ilp32
# -ffreestanding -fno-builtin for the C program below, unedited: what gcc emits must assemble.
#   #include <stdint.h>
#   static const char msg[] = "hello from C\n";
#   volatile uint32_t *const uart = (uint32_t *)0x10000000;
#   int counter;
#   int table[8] = {1, 2, 3, 4, 5, 6, 7, 8};
#   const short shorts[3] = {-1, 2, 30000};
#   static void putc_(char c) { *(volatile char *)uart = c; }
#   void puts_(const char *s) { while (*s) putc_(*s++); }
#   unsigned fib(unsigned n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }
#   long long mul64(long long a, long long b) { return a * b; }
#   int divide(int a, int b) { return b ? a / b : -1; }
#   int sum(int n) { int s = 0; for (int i = 0; i < n; i++) s += table[i & 7]; return s; }
#   int sw(int x) { switch (x) { case 0: return 10; case 1: return 20; case 2: return 33; case 3: return 47; case 4: return 51; default: return 0; } }
#   void _start(void) { puts_(msg); counter = fib(10) + sum(100) + sw(counter) + divide(100, 7); for (;;) ; }
	.file	"c1.c"
	.option nopic
	.attribute arch, "rv32i2p1_m2p0_a2p1_zicsr2p0"
	.attribute unaligned_access, 0
	.attribute stack_align, 16
	.text
	.align	2
	.globl	puts_
	.type	puts_, @function
puts_:
	lbu	a5,0(a0)
	beq	a5,zero,.L1
	li	a4,268435456
.L3:
	addi	a0,a0,1
	sb	a5,0(a4)
	lbu	a5,0(a0)
	bne	a5,zero,.L3
.L1:
	ret
	.size	puts_, .-puts_
	.align	2
	.globl	fib
	.type	fib, @function
fib:
	addi	sp,sp,-128
	sw	s3,108(sp)
	sw	ra,124(sp)
	sw	s0,120(sp)
	sw	s1,116(sp)
	sw	s2,112(sp)
	sw	s4,104(sp)
	sw	s5,100(sp)
	sw	s6,96(sp)
	sw	s7,92(sp)
	sw	s8,88(sp)
	sw	s9,84(sp)
	sw	s10,80(sp)
	sw	s11,76(sp)
	li	a5,1
	mv	s3,a0
	bleu	a0,a5,.L10
	addi	a5,a0,-1
	andi	a4,a5,-2
	sub	s9,a0,a4
	mv	s10,s9
	li	s6,0
	li	s7,1
	mv	s9,a5
	beq	s3,s10,.L11
.L72:
	addi	s3,s3,-2
	andi	a5,s3,-2
	li	s4,0
	mv	s0,s6
	sub	s1,s9,a5
	mv	s6,s4
.L40:
	addi	s11,s9,-1
	beq	s9,s1,.L12
.L71:
	addi	s9,s9,-2
	andi	a5,s9,-2
	sub	s2,s11,a5
	mv	s4,s1
	mv	a5,s3
	li	s5,0
	mv	a4,s0
	mv	s1,s6
	mv	s3,s10
.L37:
	addi	s8,s11,-1
	beq	s11,s2,.L13
	addi	s11,s11,-2
	andi	a3,s11,-2
	sub	a2,s8,a3
	mv	a6,a4
	mv	a1,a5
	mv	a4,s4
	mv	a5,s3
	mv	s4,s11
	mv	s3,s9
	li	s10,0
	mv	s11,s5
	mv	a3,s2
	mv	s9,s1
.L34:
	addi	s0,s8,-1
	beq	s8,a2,.L14
	addi	s8,s8,-2
	andi	s6,s8,-2
	sub	s6,s0,s6
	li	s5,0
	mv	t3,a6
	mv	t1,a5
	mv	s2,s5
	mv	a5,s8
	mv	a6,s3
	mv	s8,s11
	mv	a7,s4
	mv	s11,s9
	mv	s9,s6
.L31:
	addi	s4,s0,-1
	beq	s0,s9,.L15
	addi	s0,s0,-2
	andi	s6,s0,-2
	sub	s6,s4,s6
	mv	t5,s6
	li	s5,0
	mv	s6,s4
.L28:
	addi	t4,s6,-1
	beq	s6,t5,.L16
	addi	t2,s6,-3
	addi	s6,s6,-2
	andi	a0,s6,-2
	sub	a0,t4,a0
	sw	a0,4(sp)
	li	s4,0
.L25:
	lw	a0,4(sp)
	addi	s3,t4,-1
	beq	t4,a0,.L17
	andi	a0,t2,-2
	sub	a0,s3,a0
	mv	t0,s9
	sw	a0,0(sp)
	mv	s9,s6
	li	s1,0
	mv	s6,s0
.L22:
	lw	a0,0(sp)
	addi	t6,s3,-1
	beq	s3,a0,.L18
	li	s0,0
.L19:
	addi	a0,t6,-1
	sw	a1,60(sp)
	sw	t2,56(sp)
	sw	t5,52(sp)
	sw	t0,48(sp)
	sw	a2,44(sp)
	sw	a3,40(sp)
	sw	a4,36(sp)
	sw	t1,32(sp)
	sw	a7,28(sp)
	sw	a6,24(sp)
	sw	a5,20(sp)
	sw	t4,16(sp)
	sw	t3,12(sp)
	sw	t6,8(sp)
	call	fib
	lw	t6,8(sp)
	lw	t3,12(sp)
	lw	t4,16(sp)
	addi	t6,t6,-2
	lw	a5,20(sp)
	lw	a6,24(sp)
	lw	a7,28(sp)
	lw	t1,32(sp)
	lw	a4,36(sp)
	lw	a3,40(sp)
	lw	a2,44(sp)
	lw	t0,48(sp)
	lw	t5,52(sp)
	lw	t2,56(sp)
	lw	a1,60(sp)
	add	s0,s0,a0
	bgtu	t6,s7,.L19
	addi	a0,s3,-3
	andi	a0,a0,1
	add	a0,a0,s1
	addi	s3,s3,-2
	add	s1,a0,s0
	bgtu	s3,s7,.L22
	mv	s0,s6
	add	s1,s3,s1
	mv	s6,s9
	mv	s9,t0
.L21:
	addi	t4,t4,-2
	add	s4,s4,s1
	addi	t2,t2,-2
	bgtu	t4,s7,.L25
	add	s4,t4,s4
.L24:
	add	s5,s5,s4
	bgtu	s6,s7,.L28
	add	s5,s5,s6
.L27:
	add	s2,s2,s5
	bgtu	s0,s7,.L31
	mv	s9,s11
	mv	s3,a6
	mv	s11,s8
	mv	a6,t3
	mv	s8,a5
	mv	s4,a7
	mv	a5,t1
	add	s5,s2,s0
.L30:
	add	s10,s10,s5
	bgtu	s8,s7,.L34
	mv	s1,s9
	mv	s5,s11
	mv	s9,s3
	mv	s11,s4
	mv	s3,a5
	mv	s4,a4
	mv	s2,a3
	mv	a4,a6
	mv	a5,a1
	add	s10,s10,s8
.L33:
	add	s5,s5,s10
	bgtu	s11,s7,.L37
	mv	s6,s1
	add	s5,s5,s11
	mv	s10,s3
	mv	s0,a4
	mv	s1,s4
	mv	s3,a5
	add	s6,s6,s5
	bgtu	s9,s7,.L40
.L70:
	mv	s4,s6
	add	s4,s4,s9
	mv	s6,s0
	add	s6,s6,s4
	bgtu	s3,s7,.L69
.L60:
	add	s3,s3,s6
	j	.L10
.L16:
	add	s5,t4,s5
	j	.L27
.L17:
	add	s4,s3,s4
	j	.L24
.L18:
	mv	s0,s6
	add	s1,t6,s1
	mv	s6,s9
	mv	s9,t0
	j	.L21
.L15:
	mv	s1,s4
	mv	s9,s11
	mv	s3,a6
	mv	s11,s8
	mv	a6,t3
	mv	s8,a5
	mv	s4,a7
	mv	a5,t1
	add	s5,s1,s2
	j	.L30
.L14:
	mv	s1,s9
	mv	s5,s11
	mv	s9,s3
	mv	s11,s4
	mv	s3,a5
	mv	s4,a4
	mv	s2,a3
	mv	a4,a6
	mv	a5,a1
	add	s10,s0,s10
	j	.L33
.L13:
	mv	s6,s1
	add	s5,s8,s5
	mv	s10,s3
	mv	s0,a4
	mv	s1,s4
	mv	s3,a5
	add	s6,s6,s5
	bleu	s9,s7,.L70
	addi	s11,s9,-1
	bne	s9,s1,.L71
.L12:
	mv	s4,s6
	add	s4,s11,s4
	mv	s6,s0
	add	s6,s6,s4
	bleu	s3,s7,.L60
.L69:
	addi	a5,s3,-1
	mv	s9,a5
	bne	s3,s10,.L72
.L11:
	add	s3,a5,s6
.L10:
	lw	ra,124(sp)
	lw	s0,120(sp)
	lw	s1,116(sp)
	lw	s2,112(sp)
	lw	s4,104(sp)
	lw	s5,100(sp)
	lw	s6,96(sp)
	lw	s7,92(sp)
	lw	s8,88(sp)
	lw	s9,84(sp)
	lw	s10,80(sp)
	lw	s11,76(sp)
	mv	a0,s3
	lw	s3,108(sp)
	addi	sp,sp,128
	jr	ra
	.size	fib, .-fib
	.align	2
	.globl	mul64
	.type	mul64, @function
mul64:
	mul	a3,a3,a0
	mul	a1,a1,a2
	mulhu	a5,a0,a2
	add	a1,a1,a3
	mul	a0,a0,a2
	add	a1,a1,a5
	ret
	.size	mul64, .-mul64
	.align	2
	.globl	divide
	.type	divide, @function
divide:
	beq	a1,zero,.L76
	div	a0,a0,a1
	ret
.L76:
	li	a0,-1
	ret
	.size	divide, .-divide
	.align	2
	.globl	sum
	.type	sum, @function
sum:
	mv	a3,a0
	ble	a0,zero,.L80
	lui	a2,%hi(.LANCHOR0)
	li	a4,0
	li	a0,0
	addi	a2,a2,%lo(.LANCHOR0)
.L79:
	andi	a5,a4,7
	slli	a5,a5,2
	add	a5,a2,a5
	lw	a5,0(a5)
	addi	a4,a4,1
	add	a0,a0,a5
	bne	a3,a4,.L79
	ret
.L80:
	li	a0,0
	ret
	.size	sum, .-sum
	.align	2
	.globl	sw
	.type	sw, @function
sw:
	li	a5,4
	bgtu	a0,a5,.L84
	lui	a5,%hi(.LANCHOR1)
	slli	a0,a0,2
	addi	a5,a5,%lo(.LANCHOR1)
	add	a5,a5,a0
	lw	a0,0(a5)
	ret
.L84:
	li	a0,0
	ret
	.size	sw, .-sw
	.align	2
	.globl	_start
	.type	_start, @function
_start:
	addi	sp,sp,-16
	sw	s0,8(sp)
	lui	s0,%hi(.LANCHOR1)
	addi	s0,s0,%lo(.LANCHOR1)
	sw	ra,12(sp)
	li	a4,104
	addi	a5,s0,20
	li	a3,268435456
.L86:
	addi	a5,a5,1
	sb	a4,0(a3)
	lbu	a4,0(a5)
	bne	a4,zero,.L86
	li	a0,10
	call	fib
	lui	a2,%hi(.LANCHOR0)
	li	a3,0
	li	a4,0
	addi	a2,a2,%lo(.LANCHOR0)
	li	a1,100
.L87:
	andi	a5,a4,7
	slli	a5,a5,2
	add	a5,a2,a5
	lw	a5,0(a5)
	addi	a4,a4,1
	add	a3,a3,a5
	bne	a4,a1,.L87
	lui	a2,%hi(counter)
	lw	a4,%lo(counter)(a2)
	li	a6,4
	addi	a5,a0,14
	li	a1,0
	bgtu	a4,a6,.L88
	slli	a4,a4,2
	add	s0,s0,a4
	lw	a1,0(s0)
.L88:
	add	a5,a3,a5
	add	a5,a5,a1
	sw	a5,%lo(counter)(a2)
.L89:
	j	.L89
	.size	_start, .-_start
	.globl	shorts
	.globl	table
	.globl	counter
	.globl	uart
	.section	.rodata
	.align	2
	.set	.LANCHOR1,. + 0
	.type	CSWTCH.11, @object
	.size	CSWTCH.11, 20
CSWTCH.11:
	.word	10
	.word	20
	.word	33
	.word	47
	.word	51
	.type	msg, @object
	.size	msg, 14
msg:
	.string	"hello from C\n"
	.data
	.align	2
	.set	.LANCHOR0,. + 0
	.type	table, @object
	.size	table, 32
table:
	.word	1
	.word	2
	.word	3
	.word	4
	.word	5
	.word	6
	.word	7
	.word	8
	.section	.sbss,"aw",@nobits
	.align	2
	.type	counter, @object
	.size	counter, 4
counter:
	.zero	4
	.section	.srodata,"a"
	.align	2
	.type	shorts, @object
	.size	shorts, 6
shorts:
	.half	-1
	.half	2
	.half	30000
	.zero	2
	.type	uart, @object
	.size	uart, 4
uart:
	.word	268435456
	.ident	"GCC: (12.2.0-14+deb12u1+11+b2) 12.2.0"
