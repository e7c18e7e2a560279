// The inner loop of an int8 GEMM micro-kernel with SDOT (Armv8.2 dot
// product), the baseline of benchmarks/llvm_mca.py: 8 pixels x 8 output
// channels, K in steps of 4 (the "8x8c4" shape of the int8 kernels of
// TFLite/XNNPACK). Per iteration: one ldp of the 8 pixels' 4 bytes, one ldp
// of the 8 channels' 4 bytes and 16 SDOT (by element) = 256
// multiply-accumulates into 16 accumulators (v16-v31). Written for the
// analysis only; not part of the library.
	# LLVM-MCA-BEGIN sdot_8x8c4
	ldp	q0, q1, [x0], #32
	ldp	q2, q3, [x1], #32
	sdot	v16.4s, v2.16b, v0.4b[0]
	sdot	v17.4s, v3.16b, v0.4b[0]
	sdot	v18.4s, v2.16b, v0.4b[1]
	sdot	v19.4s, v3.16b, v0.4b[1]
	sdot	v20.4s, v2.16b, v0.4b[2]
	sdot	v21.4s, v3.16b, v0.4b[2]
	sdot	v22.4s, v2.16b, v0.4b[3]
	sdot	v23.4s, v3.16b, v0.4b[3]
	sdot	v24.4s, v2.16b, v1.4b[0]
	sdot	v25.4s, v3.16b, v1.4b[0]
	sdot	v26.4s, v2.16b, v1.4b[1]
	sdot	v27.4s, v3.16b, v1.4b[1]
	sdot	v28.4s, v2.16b, v1.4b[2]
	sdot	v29.4s, v3.16b, v1.4b[2]
	sdot	v30.4s, v2.16b, v1.4b[3]
	sdot	v31.4s, v3.16b, v1.4b[3]
	subs	x2, x2, #1
	b.ne	.+4
	# LLVM-MCA-END
