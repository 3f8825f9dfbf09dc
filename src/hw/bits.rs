//! A little-endian bit vector: one `$readmemh` word of a sub-array row or a
//! descriptor.

/// A little-endian bit vector, rendered as one `$readmemh` word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bits {
    pub width: usize,
    pub words: Vec<u64>,
}

impl Bits {
    pub fn new(width: usize) -> Self {
        Bits {
            width,
            words: vec![0; width.div_ceil(64).max(1)],
        }
    }
    pub fn set(&mut self, offset: usize, bits: u32, value: u64) {
        for k in 0..bits as usize {
            let b = (value >> k) & 1;
            let pos = offset + k;
            let (w, s) = (pos / 64, pos % 64);
            self.words[w] = (self.words[w] & !(1u64 << s)) | (b << s);
        }
    }
    pub fn get(&self, pos: usize) -> bool {
        (self.words[pos / 64] >> (pos % 64)) & 1 == 1
    }
    /// Hex digits, most significant first, `ceil(width/4)` of them.
    pub fn hex(&self) -> String {
        let digits = self.width.div_ceil(4);
        (0..digits)
            .rev()
            .map(|d| {
                let mut v = 0;
                for k in 0..4 {
                    let pos = d * 4 + k;
                    if pos < self.width && self.get(pos) {
                        v |= 1 << k;
                    }
                }
                char::from_digit(v, 16).expect("nibble")
            })
            .collect()
    }
    /// Parses `ceil(width/4)` hex digits (as written by [`Bits::hex`]).
    pub fn from_hex(s: &str, width: usize) -> Option<Bits> {
        let s = s.trim();
        if s.len() != width.div_ceil(4) {
            return None;
        }
        let mut b = Bits::new(width);
        for (d, ch) in s.chars().rev().enumerate() {
            let v = ch.to_digit(16)?;
            for k in 0..4 {
                let pos = d * 4 + k;
                if (v >> k) & 1 == 1 {
                    if pos >= width {
                        return None;
                    }
                    b.set(pos, 1, 1);
                }
            }
        }
        Some(b)
    }
}
