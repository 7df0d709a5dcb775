# BLAKE3 for inputs of at most one chunk (1024 bytes), from the BLAKE3 spec
# (https://github.com/BLAKE3-team/BLAKE3-specs, sections 2.1-2.5), written
# for bwc-core rather than vendored.
#
# Why: tree nodes (65 bytes), small leaves (AAC packets, ~200 bytes) and
# timing tables are hashed tens of thousands of times per segment, and for
# them the cost of a blake3-py call (~0.35 us of Python overhead per hash)
# dwarfs the compression itself. The C below is compiled into every module
# that cimports this file and hashes with no Python object at all. Longer
# inputs stay on blake3-py, whose SIMD code hashes many chunks at once.
# src_cython/_blake3.pyx exposes it to Python so the tests can hold it
# byte-identical to blake3-py.
#
# Only the one-chunk case exists: counter 0, output = the root chaining
# value (32 bytes). It is portable C99: words are assembled from bytes
# (little-endian on any host), the state lives in 16 locals so compilers keep
# it in registers (a Cython version left the G function out of line).

from libc.stdint cimport uint8_t, uint32_t

cdef extern from *:
    """
    #ifndef BWC_BLAKE3_SMALL
    #define BWC_BLAKE3_SMALL
    #include <stdint.h>
    #include <string.h>

    enum {
        BWC_B3_CHUNK_START = 1, BWC_B3_CHUNK_END = 2, BWC_B3_ROOT = 8,
        BWC_B3_DERIVE_KEY_CONTEXT = 32, BWC_B3_DERIVE_KEY_MATERIAL = 64,
        BWC_B3_BLOCK_LEN = 64, BWC_B3_CHUNK_LEN = 1024
    };

    static const uint32_t bwc_b3_iv[8] = {
        0x6A09E667UL, 0xBB67AE85UL, 0x3C6EF372UL, 0xA54FF53AUL,
        0x510E527FUL, 0x9B05688CUL, 0x1F83D9ABUL, 0x5BE0CD19UL
    };

    /* Message word order of each round: MSG_PERMUTATION
       [2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8] applied 0..6 times. */
    static const uint8_t bwc_b3_schedule[7][16] = {
        {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
        {2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8},
        {3, 4, 10, 12, 13, 2, 7, 14, 6, 5, 9, 0, 11, 15, 8, 1},
        {10, 7, 12, 9, 14, 3, 13, 15, 4, 0, 11, 2, 5, 8, 1, 6},
        {12, 13, 9, 11, 15, 10, 14, 8, 7, 2, 5, 3, 0, 1, 6, 4},
        {9, 14, 11, 5, 8, 12, 15, 1, 13, 3, 0, 10, 2, 6, 4, 7},
        {11, 15, 5, 0, 1, 9, 8, 6, 14, 10, 2, 12, 3, 4, 7, 13}
    };

    #define BWC_B3_ROTR(x, n) ((uint32_t)(((x) >> (n)) | ((x) << (32 - (n)))))
    #define BWC_B3_G(a, b, c, d, x, y) do { \
        a = a + b + (x); d = BWC_B3_ROTR(d ^ a, 16); c = c + d; b = BWC_B3_ROTR(b ^ c, 12); \
        a = a + b + (y); d = BWC_B3_ROTR(d ^ a, 8);  c = c + d; b = BWC_B3_ROTR(b ^ c, 7); \
    } while (0)

    /* The 7 rounds of compression with G (scalar or vector) over locals s0..s15
       and message words m[], then the first 8 output words into cv[]. Unrolled
       so every message index is a compile-time constant. */
    #define BWC_B3_ROUND(G, r) do { \
        const uint8_t *k = bwc_b3_schedule[r]; \
        G(s0, s4, s8, s12, m[k[0]], m[k[1]]); \
        G(s1, s5, s9, s13, m[k[2]], m[k[3]]); \
        G(s2, s6, s10, s14, m[k[4]], m[k[5]]); \
        G(s3, s7, s11, s15, m[k[6]], m[k[7]]); \
        G(s0, s5, s10, s15, m[k[8]], m[k[9]]); \
        G(s1, s6, s11, s12, m[k[10]], m[k[11]]); \
        G(s2, s7, s8, s13, m[k[12]], m[k[13]]); \
        G(s3, s4, s9, s14, m[k[14]], m[k[15]]); \
    } while (0)
    #define BWC_B3_ROUNDS(G) do { \
        BWC_B3_ROUND(G, 0); BWC_B3_ROUND(G, 1); BWC_B3_ROUND(G, 2); BWC_B3_ROUND(G, 3); \
        BWC_B3_ROUND(G, 4); BWC_B3_ROUND(G, 5); BWC_B3_ROUND(G, 6); \
        cv[0] = s0 ^ s8; cv[1] = s1 ^ s9; cv[2] = s2 ^ s10; cv[3] = s3 ^ s11; \
        cv[4] = s4 ^ s12; cv[5] = s5 ^ s13; cv[6] = s6 ^ s14; cv[7] = s7 ^ s15; \
    } while (0)

    static inline uint32_t bwc_b3_load(const uint8_t *p) {
        return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
    }

    /* cv <- first 8 words of compress(cv, block, counter, block_len, flags). */
    static inline void bwc_b3_compress(uint32_t cv[8], const uint8_t *block, uint32_t block_len,
                                       uint64_t counter, uint32_t flags) {
        uint32_t m[16];
        int i;
        for (i = 0; i < 16; i++) m[i] = bwc_b3_load(block + 4 * i);
        uint32_t s0 = cv[0], s1 = cv[1], s2 = cv[2], s3 = cv[3];
        uint32_t s4 = cv[4], s5 = cv[5], s6 = cv[6], s7 = cv[7];
        uint32_t s8 = bwc_b3_iv[0], s9 = bwc_b3_iv[1], s10 = bwc_b3_iv[2], s11 = bwc_b3_iv[3];
        uint32_t s12 = (uint32_t)counter, s13 = (uint32_t)(counter >> 32), s14 = block_len, s15 = flags;
        BWC_B3_ROUNDS(BWC_B3_G);
    }

    static inline void bwc_b3_store_cv(const uint32_t cv[8], uint8_t out[32]) {
        int i;
        for (i = 0; i < 8; i++) {
            out[4 * i] = (uint8_t)cv[i];
            out[4 * i + 1] = (uint8_t)(cv[i] >> 8);
            out[4 * i + 2] = (uint8_t)(cv[i] >> 16);
            out[4 * i + 3] = (uint8_t)(cv[i] >> 24);
        }
    }

    /* 32-byte BLAKE3 output of n <= 1024 bytes (not checked). key: the IV for
       plain hashing or the context key for derive-key material; mode: 0,
       BWC_B3_DERIVE_KEY_CONTEXT or BWC_B3_DERIVE_KEY_MATERIAL. */
    static inline void bwc_b3_hash_small(const uint32_t key[8], uint32_t mode,
                                         const uint8_t *data, size_t n, uint8_t out[32]) {
        uint32_t cv[8];
        uint8_t block[64];
        uint32_t flags = mode | BWC_B3_CHUNK_START;
        memcpy(cv, key, sizeof(cv));
        while (n > BWC_B3_BLOCK_LEN) {
            bwc_b3_compress(cv, data, BWC_B3_BLOCK_LEN, 0, flags);
            data += BWC_B3_BLOCK_LEN;
            n -= BWC_B3_BLOCK_LEN;
            flags = mode;
        }
        memset(block, 0, sizeof(block));
        if (n) memcpy(block, data, n);
        bwc_b3_compress(cv, block, (uint32_t)n, 0, flags | BWC_B3_CHUNK_END | BWC_B3_ROOT);
        bwc_b3_store_cv(cv, out);
    }

    /* Tree nodes, many at once: dst[32 j ..] <- BLAKE3(prefix || src[64 j .. 64 j + 63])
       (65 bytes, keyed by key in mode) for j < count. dst may be src (a tree level
       reduced in place): each batch reads all its input before writing, and its
       output lies below its input. With GCC or Clang, BWC_B3_LANES nodes go
       through each compression together, one node per lane of 128-bit vectors
       (SSE2 on x86-64, NEON on arm64: no -m flag needed). 2.3x the scalar
       rate on x86-64; 8 lanes were slower than 4 without AVX2. */
    #if defined(__GNUC__) || defined(__clang__)
    #define BWC_B3_LANES 4
    typedef uint32_t bwc_b3_vec __attribute__((vector_size(4 * BWC_B3_LANES)));
    #define BWC_B3_VROTR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))
    #define BWC_B3_VG(a, b, c, d, x, y) do { \
        a = a + b + (x); d = BWC_B3_VROTR(d ^ a, 16); c = c + d; b = BWC_B3_VROTR(b ^ c, 12); \
        a = a + b + (y); d = BWC_B3_VROTR(d ^ a, 8);  c = c + d; b = BWC_B3_VROTR(b ^ c, 7); \
    } while (0)

    static inline bwc_b3_vec bwc_b3_splat(uint32_t x) {
        bwc_b3_vec v;
        int l;
        for (l = 0; l < BWC_B3_LANES; l++) v[l] = x;
        return v;
    }

    static inline void bwc_b3_vcompress(bwc_b3_vec cv[8], const bwc_b3_vec m[16], uint32_t block_len,
                                        uint32_t flags) {
        bwc_b3_vec s0 = cv[0], s1 = cv[1], s2 = cv[2], s3 = cv[3];
        bwc_b3_vec s4 = cv[4], s5 = cv[5], s6 = cv[6], s7 = cv[7];
        bwc_b3_vec s8 = bwc_b3_splat(bwc_b3_iv[0]), s9 = bwc_b3_splat(bwc_b3_iv[1]);
        bwc_b3_vec s10 = bwc_b3_splat(bwc_b3_iv[2]), s11 = bwc_b3_splat(bwc_b3_iv[3]);
        bwc_b3_vec s12 = bwc_b3_splat(0), s13 = bwc_b3_splat(0);  /* counter 0 */
        bwc_b3_vec s14 = bwc_b3_splat(block_len), s15 = bwc_b3_splat(flags);
        BWC_B3_ROUNDS(BWC_B3_VG);
    }
    #endif

    static inline void bwc_b3_nodes(const uint32_t key[8], uint32_t mode, uint8_t prefix,
                                    const uint8_t *src, size_t count, uint8_t *dst) {
        size_t j = 0;
        uint8_t buf[65];
    #ifdef BWC_B3_LANES
        for (; j + BWC_B3_LANES <= count; j += BWC_B3_LANES) {
            bwc_b3_vec m[16], cv[8];
            uint8_t block[BWC_B3_LANES][64];
            uint8_t last[BWC_B3_LANES];
            uint32_t word[8];
            int l, w;
            for (l = 0; l < BWC_B3_LANES; l++) {
                const uint8_t *in = src + 64 * (j + l);
                block[l][0] = prefix;
                memcpy(block[l] + 1, in, 63);
                last[l] = in[63];
            }
            for (w = 0; w < 16; w++)
                for (l = 0; l < BWC_B3_LANES; l++) m[w][l] = bwc_b3_load(block[l] + 4 * w);
            for (w = 0; w < 8; w++) cv[w] = bwc_b3_splat(key[w]);
            bwc_b3_vcompress(cv, m, BWC_B3_BLOCK_LEN, mode | BWC_B3_CHUNK_START);
            /* The second block: the 65th byte, zero-padded. */
            for (w = 0; w < 16; w++) m[w] = bwc_b3_splat(0);
            for (l = 0; l < BWC_B3_LANES; l++) m[0][l] = last[l];
            bwc_b3_vcompress(cv, m, 1, mode | BWC_B3_CHUNK_END | BWC_B3_ROOT);
            for (l = 0; l < BWC_B3_LANES; l++) {
                for (w = 0; w < 8; w++) word[w] = cv[w][l];
                bwc_b3_store_cv(word, dst + 32 * (j + l));
            }
        }
    #endif
        for (; j < count; j++) {
            buf[0] = prefix;
            memcpy(buf + 1, src + 64 * j, 64);
            bwc_b3_hash_small(key, mode, buf, 65, dst + 32 * j);
        }
    }

    /* The derive-key context key of a context string of at most 1024 bytes; -1 if longer. */
    static inline int bwc_b3_context_key(const uint8_t *context, size_t n, uint32_t key[8]) {
        uint8_t out[32];
        int i;
        if (n > BWC_B3_CHUNK_LEN) return -1;
        bwc_b3_hash_small(bwc_b3_iv, BWC_B3_DERIVE_KEY_CONTEXT, context, n, out);
        for (i = 0; i < 8; i++) key[i] = bwc_b3_load(out + 4 * i);
        return 0;
    }
    #endif
    """
    enum:
        B3_DERIVE_KEY_CONTEXT "BWC_B3_DERIVE_KEY_CONTEXT"
        B3_DERIVE_KEY_MATERIAL "BWC_B3_DERIVE_KEY_MATERIAL"
        B3_CHUNK_LEN "BWC_B3_CHUNK_LEN"
    const uint32_t* b3_iv "bwc_b3_iv"
    void b3_hash_small "bwc_b3_hash_small"(const uint32_t* key, uint32_t mode, const uint8_t* data,
                                           size_t n, uint8_t* out) noexcept nogil
    int b3_context_key "bwc_b3_context_key"(const uint8_t* context, size_t n, uint32_t* key) noexcept nogil
    void b3_nodes "bwc_b3_nodes"(const uint32_t* key, uint32_t mode, uint8_t prefix, const uint8_t* src,
                                 size_t count, uint8_t* dst) noexcept nogil
