//! The layer descriptor: one word per (layer, width) in `capim_desc.memh`,
//! read by the convolution engine at the start of every layer.
//!
//! The word is defined once, by the `descriptor!` table below: each field's
//! name, its bit width (fixed or one of the RTL widths) and what it holds.
//! From it come the typed [`Descriptor`] that the layout fills in (every
//! field must be given, the compiler checks), the packer ([`pack`]), the
//! engine's `d_<name>` wires in the template ([`layout`]) and the manifest's
//! `descriptors.fields`. Fields are packed LSB first in table order.

use super::{Bits, Widths};
use serde::Serialize;

/// Bit width of a descriptor field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldBits {
    /// Activation lane address / shape bits (`Widths::aw`).
    Aw,
    /// Sub-array row address bits (`Widths::rw`).
    Rw,
    /// Sub-array count bits (`Widths::sw`).
    Sw,
    /// Requantization-image address bits (`Widths::qaw`).
    Qaw,
    /// Gather-buffer value index bits (`Widths::bw`).
    Bw,
    /// A fixed number of bits.
    Fixed(u32),
}

impl FieldBits {
    pub fn resolve(self, w: &Widths) -> u32 {
        match self {
            FieldBits::Aw => w.aw,
            FieldBits::Rw => w.rw,
            FieldBits::Sw => w.sw,
            FieldBits::Qaw => w.qaw,
            FieldBits::Bw => w.bw,
            FieldBits::Fixed(b) => b,
        }
    }
}

/// One entry of the descriptor table.
pub struct FieldSpec {
    pub name: &'static str,
    pub bits: FieldBits,
    pub doc: &'static str,
    /// Reads this field from a [`Descriptor`].
    pub get: fn(&Descriptor) -> u64,
}

macro_rules! descriptor {
    ($( #[doc = $doc:literal] $name:ident : $bits:expr, )*) => {
        /// The values of one descriptor word (one layer at one width).
        #[derive(Debug, Clone, Default, PartialEq, Eq)]
        pub struct Descriptor {
            $( #[doc = $doc] pub $name: u64, )*
        }

        /// The descriptor word, LSB first.
        pub const FIELDS: &[FieldSpec] = &[
            $( FieldSpec {
                name: stringify!($name),
                bits: $bits,
                doc: $doc,
                get: |d: &Descriptor| d.$name,
            }, )*
        ];
    };
}

use FieldBits::{Aw, Bw, Fixed, Qaw, Rw, Sw};

descriptor! {
    /// lane address of the input tensor's pixel (0, 0)
    in_base: Aw,
    /// lane address of the output tensor's pixel (0, 0)
    out_base: Aw,
    /// lane address of the residual tensor's pixel (0, 0)
    res_base: Aw,
    /// input height
    in_h: Aw,
    /// input width
    in_w: Aw,
    /// output width
    out_w: Aw,
    /// input pixels (in_h * in_w)
    in_hw: Aw,
    /// lanes from one input pixel to the next
    in_ps: Aw,
    /// lanes from one output pixel to the next
    out_ps: Aw,
    /// lanes from one residual pixel to the next
    res_ps: Aw,
    /// kernel width
    kw: Aw,
    /// stride
    stride: Aw,
    /// zero padding
    pad: Aw,
    /// active input channels at this width
    cin_a: Aw,
    /// active output channels at this width
    cout_a: Aw,
    /// kernel taps (kh * kw)
    taps: Aw,
    /// output positions (out_h * out_w)
    positions: Aw,
    /// activation words per tap holding the active input channels
    words: Aw,
    /// log2 of the pieces of one dot product side by side in a row-group (d)
    ld: Fixed(4),
    /// log2 of the arrays splitting the piece-rows (qp; counts summed across them)
    lqp: Fixed(4),
    /// log2 of the arrays splitting the output-channel groups (qg)
    lqg: Fixed(4),
    /// log2 of the output positions computed at once (sets)
    lsets: Fixed(4),
    /// output channels per row-group (segments / d)
    cpr: Aw,
    /// piece-rows per array in the weight rows (row stride of a group)
    ppa: Rw,
    /// channel groups per array in the weight rows
    gpa: Rw,
    /// piece-rows written and computed per round
    ppa_it: Rw,
    /// channel groups computed per round
    gpa_it: Rw,
    /// pieces per set in the gather buffer (qp * ppa * d)
    pps: Bw,
    /// active pieces of a dot product (ceil(cin_a / segment) * taps); higher ones read as 0
    pieces: Bw,
    /// first weight row of the plan
    wrow_base: Rw,
    /// sub-arrays of the plan's geometry (sets * qg * qp)
    n_arrays: Sw,
    /// piece slots with work at this width (higher ones are gated off)
    qp_used: Sw,
    /// group slots with work at this width (higher ones are gated off)
    qg_used: Sw,
    /// first requantization entry of this layer and width
    qbase: Qaw,
    /// requantization shift S
    shift: Fixed(6),
    /// residual multiplier R
    res_mult: Fixed(16),
    /// the input tensor is signed
    in_signed: Fixed(1),
    /// ReLU clamp
    relu: Fixed(1),
    /// a residual is added
    has_res: Fixed(1),
    /// the residual tensor is signed
    res_signed: Fixed(1),
    /// global average pooling (no sub-arrays)
    op_gap: Fixed(1),
    /// raw accumulator output (requant = none)
    raw: Fixed(1),
}

/// One field placed in the word for a design's RTL widths.
#[derive(Debug, Clone, Serialize)]
pub struct DescField {
    pub name: &'static str,
    pub bits: u32,
    pub offset: u32,
}

/// The descriptor word for RTL widths `w`: every field with its offset.
pub fn layout(w: &Widths) -> Vec<DescField> {
    let mut off = 0;
    FIELDS
        .iter()
        .map(|f| {
            let bits = f.bits.resolve(w);
            let d = DescField {
                name: f.name,
                bits,
                offset: off,
            };
            off += bits;
            d
        })
        .collect()
}

/// Total bits of a descriptor word.
pub fn width(fields: &[DescField]) -> u32 {
    fields.last().map(|f| f.offset + f.bits).unwrap_or(0)
}

/// Packs `d` into a word laid out as `fields` (from [`layout`]).
pub fn pack(fields: &[DescField], d: &Descriptor) -> Bits {
    let mut word = Bits::new(width(fields) as usize);
    for (f, spec) in fields.iter().zip(FIELDS) {
        let v = (spec.get)(d);
        debug_assert!(
            f.bits >= 64 || v < (1u64 << f.bits),
            "{} = {v} overflows {} bits",
            f.name,
            f.bits
        );
        word.set(f.offset as usize, f.bits, v);
    }
    word
}

/// The field table for the manifest: name, bits, offset and meaning.
pub fn manifest(fields: &[DescField]) -> serde_json::Value {
    serde_json::Value::Array(
        fields
            .iter()
            .zip(FIELDS)
            .map(|(f, spec)| {
                serde_json::json!({
                    "name": f.name, "bits": f.bits, "offset": f.offset,
                    "doc": spec.doc.trim(),
                })
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each field lands at its offset and nowhere else.
    #[test]
    fn pack_places_each_field_at_its_offset() {
        let fields = layout(&Widths::example());
        let d = Descriptor {
            in_base: 0xABCDE,
            wrow_base: 0x3FF,
            shift: 62,
            raw: 1,
            ..Descriptor::default()
        };
        let word = pack(&fields, &d);
        for (f, spec) in fields.iter().zip(FIELDS) {
            let mut v = 0u64;
            for k in 0..f.bits as usize {
                v |= (word.get(f.offset as usize + k) as u64) << k;
            }
            assert_eq!(v, (spec.get)(&d), "{}", f.name);
        }
        assert_eq!(width(&fields), fields.iter().map(|f| f.bits).sum::<u32>());
    }

    /// Field names are unique Verilog identifiers.
    #[test]
    fn field_names_are_unique() {
        let mut names: Vec<&str> = FIELDS.iter().map(|f| f.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), FIELDS.len());
    }
}
