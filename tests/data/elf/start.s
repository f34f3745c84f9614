# Entry point for prog.c: set up a stack in .bss and call main, then spin.
    .section .text.start, "ax"
    .globl _start
_start:
    la      sp, stack_top
    call    main
1:  j       1b

    .bss
    .balign 16
    .space  1024
stack_top:
