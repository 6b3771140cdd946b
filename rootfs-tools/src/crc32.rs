//! CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320), as gzip's trailer
//! and FHCRC field use it.
//!
//! One 1 KiB table built at compile time, one byte per step: that is fast
//! enough next to inflate (the CRC runs over the output once) and keeps the
//! binary small; slicing-by-8 would cost 8 KiB of tables.

const TABLE: [u32; 256] = build_table();

const fn build_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
}

/// A running CRC-32. `Crc32::new().update(b"123456789").value() == 0xCBF43926`.
#[derive(Clone, Copy, Debug)]
pub struct Crc32 {
    state: u32,
}

impl Default for Crc32 {
    fn default() -> Self {
        Self::new()
    }
}

impl Crc32 {
    pub const fn new() -> Self {
        Crc32 { state: 0xFFFF_FFFF }
    }

    pub fn update(&mut self, data: &[u8]) -> &mut Self {
        let mut c = self.state;
        for &b in data {
            c = TABLE[((c ^ b as u32) & 0xFF) as usize] ^ (c >> 8);
        }
        self.state = c;
        self
    }

    pub fn value(&self) -> u32 {
        !self.state
    }
}

/// CRC-32 of one buffer.
pub fn crc32(data: &[u8]) -> u32 {
    Crc32::new().update(data).value()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_values() {
        // The "check" value of CRC-32/ISO-HDLC from the CRC catalogue.
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
        let mut c = Crc32::new();
        c.update(b"1234").update(b"56789");
        assert_eq!(c.value(), 0xCBF4_3926);
    }
}
