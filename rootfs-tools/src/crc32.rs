//! CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320), as gzip's trailer
//! and FHCRC field use it.
//!
//! Slicing-by-8: eight 1 KiB tables built at compile time, eight bytes per
//! step. The byte-at-a-time loop took 14% of an import's CPU; the 8 KiB of
//! tables fit husk-rootfs's budget (the launcher never links this).

const TABLE: [u32; 256] = build_table();
/// T8[k][b]: the CRC of byte b followed by k zero bytes.
const T8: [[u32; 256]; 8] = build8();
const fn build8() -> [[u32; 256]; 8] {
    let mut t = [[0u32; 256]; 8];
    t[0] = build_table();
    let mut k = 1;
    while k < 8 {
        let mut i = 0;
        while i < 256 {
            let prev = t[k - 1][i];
            t[k][i] = (prev >> 8) ^ t[0][(prev & 0xff) as usize];
            i += 1;
        }
        k += 1;
    }
    t
}

const fn build_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
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
        let mut chunks = data.chunks_exact(8);
        for ch in &mut chunks {
            let lo = c ^ u32::from_le_bytes([ch[0], ch[1], ch[2], ch[3]]);
            let hi = u32::from_le_bytes([ch[4], ch[5], ch[6], ch[7]]);
            c = T8[7][(lo & 0xff) as usize]
                ^ T8[6][((lo >> 8) & 0xff) as usize]
                ^ T8[5][((lo >> 16) & 0xff) as usize]
                ^ T8[4][(lo >> 24) as usize]
                ^ T8[3][(hi & 0xff) as usize]
                ^ T8[2][((hi >> 8) & 0xff) as usize]
                ^ T8[1][((hi >> 16) & 0xff) as usize]
                ^ T8[0][(hi >> 24) as usize];
        }
        for &b in chunks.remainder() {
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
