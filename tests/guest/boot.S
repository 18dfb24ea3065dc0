/* PVH entry of the test guest: the loader starts us in 32-bit protected mode with paging off,
   flat segments and EBX = guest-physical address of hvm_start_info. We load our own GDT, build
   identity page tables for the low 4 GiB, enter long mode and call guest_main(start_info).
   Also here: the 256 interrupt entry stubs the IDT points at. */

#define XEN_ELFNOTE_PHYS32_ENTRY 18
#define MSR_EFER 0xc0000080
#define EFER_LME (1 << 8)
#define CR0_PE 1
#define CR0_PG (1 << 31)
#define CR4_PAE (1 << 5)
#define PTE_PRESENT 0x1
#define PTE_WRITE 0x2
#define PTE_PWT 0x8
#define PTE_PCD 0x10
#define PTE_HUGE 0x80

/* Loaders read the entry as a pointer-sized value after the 4-byte-aligned name. */
    .section .note.xen, "a"
    .balign 4
    .long 4                      /* namesz: "Xen\0" */
    .long 8                      /* descsz */
    .long XEN_ELFNOTE_PHYS32_ENTRY
    .asciz "Xen"
    .balign 4
    .quad pvh_entry

    .section .text.boot32, "ax"
    .code32
    .globl pvh_entry
pvh_entry:
    cli
    cld
    movl %ebx, start_info_paddr
    movl $boot_stack_top, %esp
    lgdt gdt_pointer

    /* Zero .bss: it holds the page tables and the stack (the stack top is only used later). */
    movl $__bss_start, %edi
    movl $__bss_end, %ecx
    subl %edi, %ecx
    shrl $2, %ecx
    xorl %eax, %eax
    rep stosl

    /* PML4[0] -> PDPT; PDPT[0..3] -> the four page directories; 2048 2 MiB pages cover 4 GiB.
       The top GiB (PCI hole, IOAPIC, LAPIC) is uncached. */
    movl $boot_pdpt, %eax
    orl $(PTE_PRESENT | PTE_WRITE), %eax
    movl %eax, boot_pml4
    movl $boot_pd, %eax
    orl $(PTE_PRESENT | PTE_WRITE), %eax
    movl $boot_pdpt, %edi
    movl $4, %ecx
1:  movl %eax, (%edi)
    addl $0x1000, %eax
    addl $8, %edi
    loop 1b

    movl $boot_pd, %edi
    xorl %edx, %edx              /* entry index 0..2047 */
2:  movl %edx, %eax
    shll $21, %eax               /* low 32 bits of the address */
    orl $(PTE_PRESENT | PTE_WRITE | PTE_HUGE), %eax
    cmpl $1536, %edx
    jb 3f
    orl $(PTE_PCD | PTE_PWT), %eax
3:  movl %eax, (%edi,%edx,8)
    incl %edx
    cmpl $2048, %edx
    jb 2b

    movl %cr4, %eax
    orl $CR4_PAE, %eax
    movl %eax, %cr4
    movl $boot_pml4, %eax
    movl %eax, %cr3
    movl $MSR_EFER, %ecx
    rdmsr
    orl $EFER_LME, %eax
    wrmsr
    movl %cr0, %eax
    orl $(CR0_PG | CR0_PE), %eax
    movl %eax, %cr0
    ljmp $0x08, $long_mode_entry

    .code64
long_mode_entry:
    movw $0x10, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    movw %ax, %fs
    movw %ax, %gs
    movq $boot_stack_top, %rsp
    xorl %ebp, %ebp
    movl start_info_paddr, %edi
    call guest_main
4:  cli
    hlt
    jmp 4b

/* Interrupt entry: one 16-byte stub per vector pushes a dummy error code where the CPU pushes
   none, then the vector, and joins the common path that saves the registers and calls
   interrupt_dispatch(InterruptFrame*). */
    .text
    .balign 16
    .globl interrupt_stubs
interrupt_stubs:
    .set vec, 0
    .rept 256
    .balign 16
    .if (vec == 8) || (vec == 10) || (vec == 11) || (vec == 12) || (vec == 13) || (vec == 14) || (vec == 17) || (vec == 21) || (vec == 29) || (vec == 30)
    .else
    pushq $0
    .endif
    pushq $vec
    jmp interrupt_common
    .set vec, vec + 1
    .endr

interrupt_common:
    pushq %rax
    pushq %rbx
    pushq %rcx
    pushq %rdx
    pushq %rsi
    pushq %rdi
    pushq %rbp
    pushq %r8
    pushq %r9
    pushq %r10
    pushq %r11
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, %rdi
    cld
    call interrupt_dispatch
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %r11
    popq %r10
    popq %r9
    popq %r8
    popq %rbp
    popq %rdi
    popq %rsi
    popq %rdx
    popq %rcx
    popq %rbx
    popq %rax
    addq $16, %rsp
    iretq

    .section .rodata
    .balign 8
gdt:
    .quad 0                      /* null */
    .quad 0x00af9a000000ffff     /* 0x08: 64-bit code */
    .quad 0x00cf92000000ffff     /* 0x10: data */
gdt_end:
gdt_pointer:
    .word gdt_end - gdt - 1
    .quad gdt

    .data
    .balign 4
    .globl start_info_paddr
start_info_paddr:
    .long 0

    .bss
    .balign 4096
    .globl boot_pml4
boot_pml4:
    .skip 4096
boot_pdpt:
    .skip 4096
boot_pd:
    .skip 4 * 4096
boot_stack:
    .skip 32768
boot_stack_top:
