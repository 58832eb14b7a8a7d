//! What the standard library would otherwise give the `no_std` component: a heap, the canonical
//! ABI's `cabi_realloc`, the C memory routines, and a panic handler.

use alloc::alloc::{Layout, alloc, realloc};
use core::arch::wasm32::unreachable;
use lol_alloc::{AssumeSingleThreaded, FreeListAllocator};

use crate::platform;

/// The component's heap: `lol_alloc`'s free list, which reuses and coalesces freed blocks in about
/// a seventh of `dlmalloc`'s code (issue 8's size ceiling). A call allocates little and briefly, so
/// the list stays short.
#[global_allocator]
// SAFETY: a wasm32-wasip2 component runs single-threaded: there are no threads to share the heap.
static ALLOCATOR: AssumeSingleThreaded<FreeListAllocator> =
    unsafe { AssumeSingleThreaded::new(FreeListAllocator::new()) };

// `memcmp`, `memcpy` and their kin come from wasi-libc, as they would with the standard library.
#[link(name = "c")]
unsafe extern "C" {}

/// The canonical ABI's allocator: the host calls it to place a call's arguments (texts, lists) in
/// the component's memory, which the bindings then own and free through the same global heap.
///
/// # Safety
///
/// Called by the host per the canonical ABI: `old_ptr`/`old_len`/`align` describe a block it got
/// from this function before (or `old_len` is 0), and `align` is a power of two.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cabi_realloc(
    old_ptr: *mut u8,
    old_len: usize,
    align: usize,
    new_len: usize,
) -> *mut u8 {
    if new_len == 0 {
        // A zero-sized value needs no memory, only a well-aligned address.
        return align as *mut u8;
    }
    // SAFETY: the canonical ABI guarantees a power-of-two `align` and, for a non-zero `old_len`,
    // a block allocated here with that layout; `new_len` is not zero.
    let ptr = unsafe {
        if old_len == 0 {
            alloc(Layout::from_size_align_unchecked(new_len, align))
        } else {
            realloc(
                old_ptr,
                Layout::from_size_align_unchecked(old_len, align),
                new_len,
            )
        }
    };
    if ptr.is_null() {
        // Out of memory: nothing sensible is left to do.
        unreachable()
    }
    ptr
}

/// A panic is a bug: it is logged (secrets blanked) and the call traps, which the host reports as a
/// failed call.
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    platform::error_log(&alloc::format!("panic: {info}"));
    unreachable()
}
