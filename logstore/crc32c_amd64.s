#include "textflag.h"

// func fold(acc *[64]byte, p *byte, n int, first *[8]uint64, keys *[16]uint64)
//
// Z0-Z3 are the four 64-byte accumulators, Z4 the keys of a 256-byte step
// (K0, K1 in every 128-bit lane), Z10 those of a 64-byte step, Z5-Z8 the
// products of the low words. Each step computes, per lane, clmul(lo, K0) ^
// clmul(hi, K1) ^ the next 256 bytes' lane (VPTERNLOGQ $0x96 is a
// three-way XOR). At the end Z0 moves 64 bytes on into Z1, Z1 into Z2, Z2
// into Z3, which is stored.
TEXT ·fold(SB), NOSPLIT, $0-40
	MOVQ acc+0(FP), DI
	MOVQ p+8(FP), SI
	MOVQ n+16(FP), CX
	MOVQ first+24(FP), AX
	MOVQ keys+32(FP), BX

	VMOVDQU64 0(BX), Z4
	VMOVDQU64 0(AX), Z9
	VMOVDQU64 0(SI), Z0
	VPXORQ    Z9, Z0, Z0
	VMOVDQU64 64(SI), Z1
	VMOVDQU64 128(SI), Z2
	VMOVDQU64 192(SI), Z3
	ADDQ      $256, SI
	SUBQ      $256, CX
	JZ        done

loop:
	VPCLMULQDQ $0x00, Z4, Z0, Z5
	VPCLMULQDQ $0x11, Z4, Z0, Z0
	VPCLMULQDQ $0x00, Z4, Z1, Z6
	VPCLMULQDQ $0x11, Z4, Z1, Z1
	VPCLMULQDQ $0x00, Z4, Z2, Z7
	VPCLMULQDQ $0x11, Z4, Z2, Z2
	VPCLMULQDQ $0x00, Z4, Z3, Z8
	VPCLMULQDQ $0x11, Z4, Z3, Z3
	VPTERNLOGQ $0x96, 0(SI), Z5, Z0
	VPTERNLOGQ $0x96, 64(SI), Z6, Z1
	VPTERNLOGQ $0x96, 128(SI), Z7, Z2
	VPTERNLOGQ $0x96, 192(SI), Z8, Z3
	ADDQ       $256, SI
	SUBQ       $256, CX
	JNZ        loop

done:
	VMOVDQU64  64(BX), Z10
	VPCLMULQDQ $0x00, Z10, Z0, Z5
	VPCLMULQDQ $0x11, Z10, Z0, Z0
	VPTERNLOGQ $0x96, Z5, Z0, Z1
	VPCLMULQDQ $0x00, Z10, Z1, Z6
	VPCLMULQDQ $0x11, Z10, Z1, Z1
	VPTERNLOGQ $0x96, Z6, Z1, Z2
	VPCLMULQDQ $0x00, Z10, Z2, Z7
	VPCLMULQDQ $0x11, Z10, Z2, Z2
	VPTERNLOGQ $0x96, Z7, Z2, Z3
	VMOVDQU64  Z3, 0(DI)
	VZEROUPPER
	RET
