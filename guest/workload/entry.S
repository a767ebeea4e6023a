/* SPDX-License-Identifier: Apache-2.0 */
/* Multiboot 1 entry: QEMU's -kernel loads this ELF at 1 MiB and jumps here
 * in 32-bit protected mode with paging off, EAX = the Multiboot magic and
 * EBX = the physical address of the Multiboot information. The spec leaves
 * GDTR undefined, so a GDT of our own is loaded before segments are used;
 * interrupts stay off for the guest's whole life (time comes from polling
 * the PIT, the serial port is polled too). */
#define MB_MAGIC 0x1BADB002
#define MB_FLAGS 0x00000003 /* page-aligned modules, memory information */

	.section .multiboot, "a"
	.align 4
	.long MB_MAGIC
	.long MB_FLAGS
	.long -(MB_MAGIC + MB_FLAGS)

	.section .text
	.globl _start
_start:
	cli
	lgdt gdt_descriptor
	ljmp $0x08, $1f
1:	movw $0x10, %cx
	movw %cx, %ds
	movw %cx, %es
	movw %cx, %fs
	movw %cx, %gs
	movw %cx, %ss
	movl $stack_top, %esp
	cld
	pushl %ebx
	pushl %eax
	call workload_main
2:	hlt
	jmp 2b

	.section .rodata
	.align 8
gdt:
	.quad 0
	.quad 0x00cf9a000000ffff /* 0x08: code, base 0, limit 4 GiB */
	.quad 0x00cf92000000ffff /* 0x10: data, base 0, limit 4 GiB */
gdt_end:
gdt_descriptor:
	.word gdt_end - gdt - 1
	.long gdt

	.section .bss
	.align 16
	.space 16384
stack_top:

	.section .note.GNU-stack, "", @progbits
