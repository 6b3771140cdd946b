//! SHA-256 block compression with the x86 SHA extensions (SHA-NI).
//!
//! husk-rootfs hashes every layer twice (the blob and its uncompressed tar),
//! and the portable block function spent 70% of import time there. The
//! intrinsics are `unsafe` (they need the CPU feature), so they live in sys;
//! the hashing itself stays in rootfs-tools/src/sha256.rs, which falls back
//! to its portable code when `compress_blocks` returns false.

/// True if the CPU has SHA-NI, SSSE3 and SSE4.1.
#[cfg(target_arch = "x86_64")]
pub fn available() -> bool {
    use core::sync::atomic::{AtomicU8, Ordering};
    static CACHE: AtomicU8 = AtomicU8::new(0);
    match CACHE.load(Ordering::Relaxed) {
        1 => return true,
        2 => return false,
        _ => {}
    }
    let yes = detect();
    CACHE.store(if yes { 1 } else { 2 }, Ordering::Relaxed);
    yes
}
#[cfg(target_arch = "x86_64")]
fn detect() -> bool {
    use core::arch::x86_64::{__cpuid, __cpuid_count};
    // SAFETY: cpuid is present on every x86_64 CPU.
    #[allow(unused_unsafe)]
    let (l1, l7) = unsafe { (__cpuid(1), __cpuid_count(7, 0)) };
    l7.ebx & (1 << 29) != 0 && l1.ecx & (1 << 19) != 0 && l1.ecx & (1 << 9) != 0
}
#[cfg(not(target_arch = "x86_64"))]
pub fn available() -> bool {
    false
}

/// Compress whole 64-byte blocks into `state`; false (nothing done) where
/// the CPU lacks SHA-NI.
pub fn compress_blocks(state: &mut [u32; 8], blocks: &[u8], k: &[u32; 64]) -> bool {
    #[cfg(target_arch = "x86_64")]
    if available() {
        // SAFETY: the features were checked just above.
        unsafe { ni(state, blocks, k) };
        return true;
    }
    let _ = (state, blocks, k);
    false
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
unsafe fn ni(state: &mut [u32; 8], blocks: &[u8], k: &[u32; 64]) {
    use core::arch::x86_64::*;
    // SAFETY: unaligned loads/stores of 16 bytes inside `state`, `k` and each 64-byte block.
    unsafe {
        let mask = _mm_set_epi64x(0x0c0d_0e0f_0809_0a0b, 0x0405_0607_0001_0203);
        let tmp = _mm_shuffle_epi32(_mm_loadu_si128(state.as_ptr().cast()), 0xB1);
        let s1 = _mm_shuffle_epi32(_mm_loadu_si128(state.as_ptr().add(4).cast()), 0x1B);
        let mut state0 = _mm_alignr_epi8(tmp, s1, 8);
        let mut state1 = _mm_blend_epi16(s1, tmp, 0xF0);
        for block in blocks.chunks_exact(64) {
            let (save0, save1) = (state0, state1);
            let p = block.as_ptr();
            let mut w = [
                _mm_shuffle_epi8(_mm_loadu_si128(p.cast()), mask),
                _mm_shuffle_epi8(_mm_loadu_si128(p.add(16).cast()), mask),
                _mm_shuffle_epi8(_mm_loadu_si128(p.add(32).cast()), mask),
                _mm_shuffle_epi8(_mm_loadu_si128(p.add(48).cast()), mask),
            ];
            for i in 0..16 {
                let m = _mm_add_epi32(w[i % 4], _mm_loadu_si128(k.as_ptr().add(4 * i).cast()));
                state1 = _mm_sha256rnds2_epu32(state1, state0, m);
                state0 = _mm_sha256rnds2_epu32(state0, state1, _mm_shuffle_epi32(m, 0x0E));
                if i < 12 {
                    let t = _mm_add_epi32(
                        _mm_sha256msg1_epu32(w[i % 4], w[(i + 1) % 4]),
                        _mm_alignr_epi8(w[(i + 3) % 4], w[(i + 2) % 4], 4),
                    );
                    w[i % 4] = _mm_sha256msg2_epu32(t, w[(i + 3) % 4]);
                }
            }
            state0 = _mm_add_epi32(state0, save0);
            state1 = _mm_add_epi32(state1, save1);
        }
        let tmp = _mm_shuffle_epi32(state0, 0x1B);
        let s1 = _mm_shuffle_epi32(state1, 0xB1);
        _mm_storeu_si128(state.as_mut_ptr().cast(), _mm_blend_epi16(tmp, s1, 0xF0));
        _mm_storeu_si128(state.as_mut_ptr().add(4).cast(), _mm_alignr_epi8(s1, tmp, 8));
    }
}
