/* A small bare-metal RV32 program for tests/test_elf.py: code in .text, constants in
 * .rodata, initialised data in .data (and .sdata), zeroed data in .bss, and the HTIF
 * tohost/fromhost words the test finisher convention uses. */

volatile unsigned int tohost __attribute__((section(".tohost")));
volatile unsigned int fromhost __attribute__((section(".tohost")));

static const char message[] = "hello from vmkit\n";
int counter = 7;                 /* .sdata */
int table[16] = {1, 2, 3};       /* .data */
static int scratch[64];          /* .bss */

#define UART ((volatile unsigned char *)0x10000000)

static void put(const char *s)
{
    while (*s)
        *UART = *s++;
}

int main(void)
{
    put(message);
    for (int i = 0; i < 64; i++)
        scratch[i] = table[i % 16] + counter;
    tohost = (scratch[3] << 1) | 1;
    return 0;
}
