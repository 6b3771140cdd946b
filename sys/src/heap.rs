//! A small global allocator for husk and husk-rootfs, on anonymous mmap.
//!
//! Requests up to 32 KiB come from power-of-two size classes carved out of
//! 256 KiB chunks, with one free list per class; larger ones get their own
//! mapping, which realloc grows with mremap (no copy for big buffers).
//! The binaries are single-threaded, which is what makes the plain cell safe.

use core::alloc::{GlobalAlloc, Layout};
use core::cell::UnsafeCell;

const MIN_SHIFT: u32 = 4; // 16 bytes
const CLASSES: usize = 12; // 16 B .. 32 KiB
const MAX_SMALL: usize = 1 << (MIN_SHIFT as usize + CLASSES - 1);
const CHUNK: usize = 256 * 1024;
const PAGE: usize = 4096;

struct State {
    free: [usize; CLASSES],
    next: usize,
    end: usize,
}

pub struct Heap {
    state: UnsafeCell<State>,
}

// SAFETY: husk's binaries run one thread; forked children get their own copy.
unsafe impl Sync for Heap {}

impl Heap {
    pub const fn new() -> Heap {
        Heap { state: UnsafeCell::new(State { free: [0; CLASSES], next: 0, end: 0 }) }
    }
}

impl Default for Heap {
    fn default() -> Self {
        Self::new()
    }
}

/// The size class of a small layout, or None for a dedicated mapping.
fn class(layout: Layout) -> Option<usize> {
    let size = layout.size().max(1 << MIN_SHIFT);
    if size > MAX_SMALL || layout.align() > 64 {
        return None;
    }
    let c = (usize::BITS - (size - 1).leading_zeros()) - MIN_SHIFT;
    Some(c as usize)
}

fn pages(n: usize) -> usize {
    (n + PAGE - 1) & !(PAGE - 1)
}

// SAFETY: blocks handed out never overlap: each is carved once from a chunk
// or comes off a free list it was put on by dealloc of the same class.
unsafe impl GlobalAlloc for Heap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let Some(c) = class(layout) else {
            if layout.align() > PAGE {
                return core::ptr::null_mut();
            }
            return crate::mem::mmap_anon(pages(layout.size())).map_or(core::ptr::null_mut(), |p| p as *mut u8);
        };
        // SAFETY: single-threaded, so this is the only live reference.
        let st = unsafe { &mut *self.state.get() };
        let head = st.free[c];
        if head != 0 {
            // SAFETY: a free block's first word holds the next free block.
            st.free[c] = unsafe { *(head as *const usize) };
            return head as *mut u8;
        }
        let size = 1usize << (c as u32 + MIN_SHIFT);
        let align = size.min(64);
        let mut start = (st.next + align - 1) & !(align - 1);
        if st.next == 0 || start + size > st.end {
            let Ok(chunk) = crate::mem::mmap_anon(CHUNK) else { return core::ptr::null_mut() };
            st.end = chunk + CHUNK;
            start = chunk;
        }
        st.next = start + size;
        start as *mut u8
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        match class(layout) {
            Some(c) => {
                // SAFETY: single-threaded; ptr is a block of class c we handed out.
                let st = unsafe { &mut *self.state.get() };
                unsafe { *(ptr as *mut usize) = st.free[c] };
                st.free[c] = ptr as usize;
            }
            // SAFETY: large blocks are whole mappings of this many bytes.
            None => unsafe {
                let _ = crate::mem::munmap(ptr as usize, pages(layout.size()));
            },
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let Ok(new_layout) = Layout::from_size_align(new_size, layout.align()) else {
            return core::ptr::null_mut();
        };
        match (class(layout), class(new_layout)) {
            (Some(a), Some(b)) if a == b => ptr,
            // SAFETY: ptr is a whole mapping of pages(layout.size()) bytes.
            (None, None) => unsafe { crate::mem::mremap(ptr as usize, pages(layout.size()), pages(new_size)) }
                .map_or(core::ptr::null_mut(), |p| p as *mut u8),
            _ => {
                // SAFETY: standard alloc-copy-free with valid layouts.
                unsafe {
                    let new = self.alloc(new_layout);
                    if !new.is_null() {
                        core::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                        self.dealloc(ptr, layout);
                    }
                    new
                }
            }
        }
    }
}

/// The binaries' allocator, present only when they link (panic = "abort").
#[cfg(panic = "abort")]
#[global_allocator]
static GLOBAL: Heap = Heap::new();

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_round_up_to_powers_of_two() {
        let l = |s, a| Layout::from_size_align(s, a).unwrap();
        assert_eq!(class(l(1, 1)), Some(0));
        assert_eq!(class(l(16, 8)), Some(0));
        assert_eq!(class(l(17, 8)), Some(1));
        assert_eq!(class(l(32768, 8)), Some(11));
        assert_eq!(class(l(32769, 8)), None);
        assert_eq!(class(l(64, 128)), None);
    }

    #[test]
    fn blocks_are_distinct_reused_and_growable() {
        let h = Heap::new();
        let l = Layout::from_size_align(24, 8).unwrap();
        unsafe {
            let a = h.alloc(l);
            let b = h.alloc(l);
            assert_ne!(a, b);
            a.write_bytes(0xaa, 24);
            b.write_bytes(0xbb, 24);
            assert_eq!(*a, 0xaa);
            h.dealloc(a, l);
            assert_eq!(h.alloc(l), a);
            let big = Layout::from_size_align(100_000, 8).unwrap();
            let p = h.alloc(big);
            p.add(99_999).write(7);
            let q = h.realloc(p, big, 1_000_000);
            assert_eq!(*q.add(99_999), 7);
            h.dealloc(q, Layout::from_size_align(1_000_000, 8).unwrap());
        }
    }
}
