//! The one host call the filter makes without the SDK's wrapper: reading a
//! header map. `hostcalls::get_map_bytes` copies every name and value into
//! an allocation of its own (about 15 allocations and frees a request,
//! before the filter has looked at anything), and panics on a status or a
//! layout it does not expect. Here the host's one buffer is kept and read
//! in place by [`crate::data::header_map`], and anything unexpected is an
//! error the request fails on.
//!
//! The only `unsafe` in the filter: the import, and taking ownership of the
//! buffer the host allocated through the SDK's `proxy_on_memory_allocate`.

use proxy_wasm::types::MapType;

#[link(wasm_import_module = "env")]
unsafe extern "C" {
    // The same import as the SDK's (ABI 0.2.1). The status comes back as a
    // plain integer: a value outside the SDK's `Status` enum must not be UB.
    fn proxy_get_header_map_pairs(
        map_type: u32,
        return_map_data: *mut *mut u8,
        return_map_size: *mut usize,
    ) -> u32;
}

/// The host's serialized copy of `map`, for [`crate::data::header_map::parse`];
/// empty for a map the host does not have. `Err` carries the host's status.
pub fn serialized_header_map(map: MapType) -> Result<Box<[u8]>, u32> {
    let mut data: *mut u8 = std::ptr::null_mut();
    let mut size: usize = 0;
    // SAFETY: the host writes one pointer and one size through the two
    // out-pointers, which are valid for the call.
    let status = unsafe { proxy_get_header_map_pairs(map as u32, &mut data, &mut size) };
    if status != 0 {
        return Err(status);
    }
    if data.is_null() {
        return Ok(Box::default());
    }
    // SAFETY: a non-null `data` is what the host got from the SDK's
    // `proxy_on_memory_allocate(size)` (a `Box<[MaybeUninit<u8>]>` of
    // exactly `size` bytes, leaked) and then filled; nothing else owns it,
    // so it is taken back as the box it was, with the same layout.
    Ok(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(data, size)) })
}
