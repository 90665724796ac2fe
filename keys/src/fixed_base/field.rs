//! Arithmetic modulo P-256's prime, written for Wasm's multiplier.
//!
//! `p256`'s field code multiplies 64-bit limbs into 128-bit products. Wasm
//! has no such instruction, so each product is a call to a 128-bit
//! multiplication routine built from four 64-bit ones, and a field
//! multiplication makes sixteen of those calls plus their carries. Here an
//! element is nine limbs of 29 bits: a product of two limbs is one
//! `i64.mul`, and nine of them summed stay below 2^62, so a multiplication
//! is 81 plain multiply-adds with no carries until the end.
//!
//! Elements are in Montgomery form with `R = 2^261` (nine limbs), every limb
//! below 2^29 and the value below `2p`, not always below `p`: since
//! `R > 4p`, a Montgomery product of two such values is again below `2p`
//! without a final subtraction (see [`montgomery_reduce`]), which saves
//! each multiplication a tenth of its work. Additions and subtractions
//! subtract `2p` when their result reaches it, except those whose result
//! only a multiplication takes ([`Unreduced`]: a product of values below
//! `4p` is below `2p` too). Only [`FieldElement::to_bytes`]
//! and [`FieldElement::is_zero`] need the canonical value. Since
//! `p ≡ -1 mod 2^29`, each Montgomery step's multiplier is the low limb
//! itself, and adding that multiple of
//! `p = 2^256 - 2^224 + 2^192 + 2^96 - 1` is five shifted adds: no
//! multiplications in the reduction.
//!
//! Constant time: no branch or memory index depends on a value; carries use
//! arithmetic shifts and conditional subtractions select by mask.

use p256::elliptic_curve::bigint::{Odd, U256};
use p256::elliptic_curve::subtle::{Choice, ConditionallySelectable, ConstantTimeEq as _};
use zeroize::Zeroize;

use crate::safegcd;

const LIMBS: usize = 9;
const LIMB_BITS: u32 = 29;
const MASK: i64 = (1 << LIMB_BITS) - 1;

/// `p` in 29-bit limbs, least significant first.
const P: [i64; LIMBS] = [
    0x1fff_ffff,
    0x1fff_ffff,
    0x1fff_ffff,
    0x1ff,
    0,
    0,
    0x4_0000,
    0x1fe0_0000,
    0xff_ffff,
];

/// `2p`, each of [`P`]'s limbs doubled (limbs up to 2^30, which [`carry`]
/// takes).
const TWO_P: [i64; LIMBS] = [
    0x3fff_fffe,
    0x3fff_fffe,
    0x3fff_fffe,
    0x3fe,
    0,
    0,
    0x8_0000,
    0x3fc0_0000,
    0x1ff_fffe,
];

/// `p` for `crypto-bigint`'s inversion.
const MODULUS: Odd<U256> =
    Odd::<U256>::from_be_hex("ffffffff00000001000000000000000000000000ffffffffffffffffffffffff");

/// `R^2 mod p` (`R = 2^261`), which `mul` turns a canonical value into its
/// Montgomery form with.
const R_SQUARED: [i64; LIMBS] = [
    0xc00,
    0,
    0x1fff_0000,
    0x1fdf_ffff,
    0x1fbf_ffff,
    0x1fff_ffff,
    0x1fff_ffff,
    0x1fff_fffe,
    0x13,
];

/// An element of GF(p) in Montgomery form, below `2p`: one element can have
/// two representations, so equality compares canonical values.
#[derive(Clone, Copy, Debug, Default)]
pub struct FieldElement([u32; LIMBS]);

impl FieldElement {
    pub const ZERO: Self = Self([0; LIMBS]);

    /// 1, in Montgomery form `R mod p` (a test checks it against
    /// `from_bytes`).
    const ONE: Self = Self([
        0x20,
        0,
        0,
        0x1fff_c000,
        0x1fff_ffff,
        0x1fff_ffff,
        0x1f7f_ffff,
        0x3ff_ffff,
        0,
    ]);

    /// From 32 big-endian bytes; `None` unless the value is below `p`.
    pub fn from_bytes(bytes: &[u8; 32]) -> Option<Self> {
        let mut plain = limbs_from_bytes(bytes);
        let canonical = is_below_p(&plain);
        let element = canonical.then(|| Self::from_limbs(&mul_limbs(&plain, &R_SQUARED)));
        plain.zeroize();
        element
    }

    /// The canonical value as 32 big-endian bytes.
    pub fn to_bytes(self) -> [u8; 32] {
        let mut one = [0i64; LIMBS];
        one[0] = 1;
        // Out of Montgomery form the value is below 2p/R + p (the bound at
        // `montgomery_reduce`, with a·1 < 2p): at most p, which stands for 0.
        let mut plain = subtract_if_not_below(mul_limbs(&self.limbs(), &one), &P);
        let bytes = limbs_to_bytes(&plain);
        plain.zeroize();
        bytes
    }

    /// Whether the value is 0 or `p`, zero's two representations.
    pub fn is_zero(&self) -> Choice {
        let (mut zero, mut p) = (0u32, 0u32);
        for (limb, p_limb) in self.0.iter().zip(P) {
            zero |= limb;
            p |= limb ^ (p_limb as u32);
        }
        zero.ct_eq(&0) | p.ct_eq(&0)
    }

    pub fn mul(&self, other: &impl Factor) -> Self {
        Self::from_limbs(&mul_limbs(&self.limbs(), &other.limbs()))
    }

    /// `self·self`: the 36 cross products computed once and doubled, 45
    /// limb products in place of 81.
    pub fn square(&self) -> Self {
        Self::from_limbs(&square_limbs(&self.limbs()))
    }

    pub fn add(&self, other: &Self) -> Self {
        // Below 4p: one conditional subtraction of 2p brings it below 2p.
        Self::from_limbs(&subtract_if_not_below(sum(self, other), &TWO_P))
    }

    pub fn double(&self) -> Self {
        self.add(self)
    }

    /// `self + other` without the conditional subtraction: below 4p, for a
    /// multiplication only.
    pub fn add_unreduced(&self, other: &Self) -> Unreduced {
        Unreduced(masked(&sum(self, other)))
    }

    /// `self - other` (plus 2p) without the conditional subtraction: below
    /// 4p, for a multiplication only.
    pub fn sub_unreduced(&self, other: &Self) -> Unreduced {
        Unreduced(masked(&difference(self, other)))
    }

    pub fn sub(&self, other: &Self) -> Self {
        Self::from_limbs(&subtract_if_not_below(difference(self, other), &TWO_P))
    }

    pub fn neg(&self) -> Self {
        Self::ZERO.sub(self)
    }

    /// `1/self` (zero for zero): one per `k·G` (or per batch, or per digit
    /// of a batch), where an exponentiation would cost some 270
    /// multiplications. Blinded: a variable-time safegcd (`safegcd.rs`)
    /// inverts `self·b` for a fresh random `b ≠ 0`, which is uniformly
    /// distributed whatever `self` is (unless zero), so its running time
    /// says nothing about `self`; then `1/self = b/(self·b)`. If the random
    /// source fails, `crypto-bigint`'s constant-time safegcd, as `p256`
    /// inverts.
    pub fn invert(&self) -> Self {
        self.invert_blinded_by(Self::random_nonzero())
    }

    fn invert_blinded_by(&self, blind: Option<Self>) -> Self {
        let Some(mut blind) = blind else {
            return self.invert_with(invert_constant_time);
        };
        let mut blinded = self.mul(&blind);
        let mut inverse =
            blinded.invert_with(|bytes| safegcd::invert_vartime(bytes, &safegcd::FIELD));
        // Checked, at the cost of one multiplication: a wrong or missing
        // fast inverse (a bug) costs time, the constant-time inversion,
        // never a wrong point or a signer that retries for ever.
        if blinded.mul(&inverse) != Self::ONE {
            inverse = blinded.invert_with(invert_constant_time);
        }
        let inverse_of_self = inverse.mul(&blind);
        blinded.zeroize();
        inverse.zeroize();
        blind.zeroize();
        inverse_of_self
    }

    /// Zero for zero (which `invert` finds no inverse of).
    fn invert_with(&self, invert: impl Fn(&[u8; 32]) -> Option<[u8; 32]>) -> Self {
        let mut bytes = self.to_bytes();
        let mut inverse = invert(&bytes).unwrap_or([0; 32]);
        let element = Self::from_bytes(&inverse).unwrap_or(Self::ZERO);
        bytes.zeroize();
        inverse.zeroize();
        element
    }

    /// A uniformly random nonzero element; `None` if the random source
    /// fails (or, with probability 2^-32, draws a value of `p` or above).
    fn random_nonzero() -> Option<Self> {
        let mut bytes = [0u8; 32];
        let element = getrandom::fill(&mut bytes)
            .ok()
            .and_then(|()| Self::from_bytes(&bytes))
            .filter(|element| !bool::from(element.is_zero()));
        bytes.zeroize();
        element
    }

    /// Two elements in eight 64-bit words, each as its canonical value
    /// (below p, so 256 bits) in four, `self`'s first: what a table row
    /// holds, so that reading an entry under a mask takes eight words, not
    /// the eighteen its limbs fill.
    pub fn pack_with(&self, second: &Self) -> [u64; 2 * WORDS] {
        let mut words = [0u64; 2 * WORDS];
        for (half, element) in words.chunks_exact_mut(WORDS).zip([self, second]) {
            let mut bytes = limbs_to_bytes(&subtract_if_not_below(element.limbs(), &P));
            // Big-endian bytes, so the last eight are the lowest word.
            for (word, eight) in half.iter_mut().zip(bytes.rchunks_exact(8)) {
                let mut be = [0u8; 8];
                be.copy_from_slice(eight);
                *word = u64::from_be_bytes(be);
            }
            bytes.zeroize();
        }
        words
    }

    /// The two elements [`Self::pack_with`] packed.
    pub fn unpack(words: &[u64; 2 * WORDS]) -> (Self, Self) {
        let (first, second) = words.split_at(WORDS);
        (
            Self(limbs_from_words(first)),
            Self(limbs_from_words(second)),
        )
    }

    /// From limbs that are each below 2^29 and a value below 2p (the
    /// operations above ensure both).
    fn from_limbs(limbs: &[i64; LIMBS]) -> Self {
        Self(masked(limbs))
    }
}

/// `crypto-bigint`'s constant-time safegcd, on 32 big-endian bytes.
fn invert_constant_time(bytes: &[u8; 32]) -> Option<[u8; 32]> {
    let inverse = U256::from_be_slice(bytes).invert_odd_mod(&MODULUS);
    Option::<U256>::from(inverse).map(|inverse| inverse.to_be_bytes().into())
}

/// `a + b`, carried: below 4p for elements.
fn sum(a: &FieldElement, b: &FieldElement) -> [i64; LIMBS] {
    let mut sum = [0i64; LIMBS];
    for ((s, x), y) in sum.iter_mut().zip(a.limbs()).zip(b.limbs()) {
        *s = x + y;
    }
    carry(sum)
}

/// `a - b + 2p`, carried: in (0, 4p) for elements.
fn difference(a: &FieldElement, b: &FieldElement) -> [i64; LIMBS] {
    let mut difference = [0i64; LIMBS];
    for (((d, x), y), two_p) in difference
        .iter_mut()
        .zip(a.limbs())
        .zip(b.limbs())
        .zip(TWO_P)
    {
        *d = x - y + two_p;
    }
    carry(difference)
}

/// Carried limbs (each below 2^29) as stored.
fn masked(limbs: &[i64; LIMBS]) -> [u32; LIMBS] {
    limbs.map(|limb| (limb & MASK) as u32)
}

/// A sum or difference of two elements left below `4p` instead of `2p`:
/// a Montgomery product of two values below 4p is below
/// `16p²/R + p < 1.5p` (as `R = 2^261 > 32p`), an element again, so only
/// multiplications take these, which saves the sum its conditional
/// subtraction (about 2 % of a `k·G`, BENCHMARKS.md).
#[derive(Clone, Copy, Debug)]
pub struct Unreduced([u32; LIMBS]);

impl Unreduced {
    pub fn mul(&self, other: &impl Factor) -> FieldElement {
        FieldElement::from_limbs(&mul_limbs(&self.limbs(), &other.limbs()))
    }

    pub fn square(&self) -> FieldElement {
        FieldElement::from_limbs(&square_limbs(&self.limbs()))
    }
}

/// What a multiplication takes: an element, or a sum left [`Unreduced`].
pub trait Factor {
    /// Nine limbs below 2^29, of a value below 4p.
    fn limbs(&self) -> [i64; LIMBS];
}

impl Factor for FieldElement {
    fn limbs(&self) -> [i64; LIMBS] {
        self.0.map(i64::from)
    }
}

impl Factor for Unreduced {
    fn limbs(&self) -> [i64; LIMBS] {
        self.0.map(i64::from)
    }
}

impl PartialEq for FieldElement {
    fn eq(&self, other: &Self) -> bool {
        self.sub(other).is_zero().into()
    }
}

impl Eq for FieldElement {}

impl ConditionallySelectable for FieldElement {
    fn conditional_select(a: &Self, b: &Self, choice: Choice) -> Self {
        let mut limbs = [0u32; LIMBS];
        for ((limb, x), y) in limbs.iter_mut().zip(a.0).zip(b.0) {
            *limb = u32::conditional_select(&x, &y, choice);
        }
        Self(limbs)
    }
}

impl Zeroize for FieldElement {
    fn zeroize(&mut self) {
        self.0.zeroize();
    }
}

/// Montgomery multiplication: `a·b/R mod p`, below 2p, for `a` and `b` below
/// 4p with limbs below 2^29.
fn mul_limbs(a: &[i64; LIMBS], b: &[i64; LIMBS]) -> [i64; LIMBS] {
    // Columns of the schoolbook product. Each limb product is below 2^58, a
    // column's nine below 2^61.2; the reduction adds less than 2^55 per
    // column and step.
    let mut t = [0i64; 2 * LIMBS];
    for (i, x) in a.iter().enumerate() {
        for (column, y) in t.iter_mut().skip(i).zip(b) {
            *column += x * y;
        }
    }
    montgomery_reduce(t)
}

/// Montgomery squaring: [`mul_limbs`]`(a, a)` with each cross product
/// `a_i·a_j` (`i < j`) computed once, from the doubled limb `2·a_i`. The
/// columns hold exactly what the schoolbook product's would.
fn square_limbs(a: &[i64; LIMBS]) -> [i64; LIMBS] {
    let mut t = [0i64; 2 * LIMBS];
    for (i, x) in a.iter().enumerate() {
        let doubled = x << 1;
        if let Some(column) = t.get_mut(2 * i) {
            *column += x * x;
        }
        for (column, y) in t.iter_mut().skip(2 * i + 1).zip(a.iter().skip(i + 1)) {
            *column += doubled * y;
        }
    }
    montgomery_reduce(t)
}

/// `t/R mod p`, below 2p, for the columns of a product of two values below
/// 4p with limbs below 2^29 (each column below 2^61.2).
fn montgomery_reduce(mut t: [i64; 2 * LIMBS]) -> [i64; LIMBS] {
    // Nine steps of 29 bits each: add m·p·2^(29i), where m is the low limb
    // (-1/p ≡ 1 mod 2^29), so that column i becomes zero and its carry goes
    // up. m·p = m·2^256 - m·2^224 + m·2^192 + m·2^96 - m, and those powers
    // are 29-bit columns plus a shift: 256 = 8·29 + 24, 224 = 7·29 + 21,
    // 192 = 6·29 + 18, 96 = 3·29 + 9.
    for i in 0..LIMBS {
        // Columns i to i + 8 (all present: t has 2·LIMBS of them).
        if let Some(
            [
                column,
                next,
                _,
                plus_96,
                _,
                _,
                plus_192,
                minus_224,
                plus_256,
                ..,
            ],
        ) = t.get_mut(i..)
        {
            let m = *column & MASK;
            *next += (*column - m) >> LIMB_BITS;
            *plus_96 += m << 9;
            *plus_192 += m << 18;
            *minus_224 -= m << 21;
            *plus_256 += m << 24;
        }
    }
    // The upper nine columns, once carried, are (a·b + M·p)/R with M < R.
    // That is below a·b/R + p < 16p²/R + p < 1.5p, as R = 2^261 > 32p
    // (p < 2^256), for a and b below 4p: a value below 2p, with no final
    // subtraction. The
    // columns are not wiped: wiping would keep them in linear memory, not
    // in registers, for 9 % of a k·G (BENCHMARKS.md), and `p256`'s own
    // multiplication leaves its temporaries as well.
    let mut result = [0i64; LIMBS];
    result.copy_from_slice(&t[LIMBS..]);
    carry(result)
}

/// Carries every limb's excess into the next (arithmetic shifts, so a
/// negative limb borrows), leaving limbs below 2^29 and the excess in the
/// top limb, for a nonnegative value below 2^261.
fn carry(mut limbs: [i64; LIMBS]) -> [i64; LIMBS] {
    for i in 0..LIMBS - 1 {
        if let Some([low, high, ..]) = limbs.get_mut(i..) {
            *high += *low >> LIMB_BITS;
            *low &= MASK;
        }
    }
    limbs
}

/// `value - m`, carried: negative (its top limb below zero) exactly when
/// `value < m`.
fn minus(value: &[i64; LIMBS], m: &[i64; LIMBS]) -> [i64; LIMBS] {
    let mut difference = [0i64; LIMBS];
    for ((d, v), m) in difference.iter_mut().zip(value).zip(m) {
        *d = v - m;
    }
    carry(difference)
}

/// `value - m` if that is not negative, else `value`, for a carried value
/// below 2m.
fn subtract_if_not_below(value: [i64; LIMBS], m: &[i64; LIMBS]) -> [i64; LIMBS] {
    let difference = minus(&value, m);
    // All ones if value < m.
    let keep = difference[LIMBS - 1] >> 63;
    let mut result = [0i64; LIMBS];
    for ((r, v), d) in result.iter_mut().zip(value).zip(difference) {
        *r = (v & keep) | (d & !keep);
    }
    result
}

fn is_below_p(limbs: &[i64; LIMBS]) -> bool {
    minus(limbs, &P)[LIMBS - 1] < 0
}

/// 64-bit words in a value below 2^256.
pub const WORDS: usize = 4;

/// A value below 2^256 as four 64-bit words (least significant first) in
/// nine limbs of 29 bits (any slice past four words is ignored, a shorter
/// one read as zeros above).
fn limbs_from_words(words: &[u64]) -> [u32; LIMBS] {
    let mut limbs = [0u32; LIMBS];
    for (index, limb) in limbs.iter_mut().enumerate() {
        let bit = index * LIMB_BITS as usize;
        let (word, shift) = (bit / 64, bit % 64);
        let mut value = words.get(word).map_or(0, |low| low >> shift);
        if shift + LIMB_BITS as usize > 64 {
            value |= words.get(word + 1).map_or(0, |high| high << (64 - shift));
        }
        *limb = (value & MASK as u64) as u32;
    }
    limbs
}

fn limbs_from_bytes(bytes: &[u8; 32]) -> [i64; LIMBS] {
    let mut limbs = [0i64; LIMBS];
    // Bit k of the value is bit k % 8 of byte 31 - k / 8.
    for (index, byte) in bytes.iter().rev().enumerate() {
        let bit = index * 8;
        let (limb, shift) = (bit / LIMB_BITS as usize, bit % LIMB_BITS as usize);
        let byte = i64::from(*byte);
        if let Some([low, rest @ ..]) = limbs.get_mut(limb..) {
            *low |= (byte << shift) & MASK;
            // The byte's top bits, when it straddles two limbs (never past
            // the last: bit 255 is in limb 8).
            if let (true, Some(high)) = (shift + 8 > LIMB_BITS as usize, rest.first_mut()) {
                *high |= byte >> (LIMB_BITS as usize - shift);
            }
        }
    }
    limbs
}

fn limbs_to_bytes(limbs: &[i64; LIMBS]) -> [u8; 32] {
    let mut bytes = [0u8; 32];
    for (index, byte) in bytes.iter_mut().rev().enumerate() {
        let bit = index * 8;
        let (limb, shift) = (bit / LIMB_BITS as usize, bit % LIMB_BITS as usize);
        let mut value = limbs.get(limb).map_or(0, |low| low >> shift);
        if shift + 8 > LIMB_BITS as usize {
            value |= limbs
                .get(limb + 1)
                .map_or(0, |high| high << (LIMB_BITS as usize - shift));
        }
        *byte = (value & 0xff) as u8;
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::elliptic_curve::bigint::NonZero;

    fn p() -> NonZero<U256> {
        MODULUS.into_nz()
    }

    fn uint(hex: &str) -> U256 {
        U256::from_be_hex(hex)
    }

    fn bytes(value: &U256) -> [u8; 32] {
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(&value.to_be_bytes());
        bytes
    }

    fn element(value: &U256) -> FieldElement {
        FieldElement::from_bytes(&bytes(value)).unwrap()
    }

    /// Values where limb arithmetic goes wrong first: zero, one, the top of
    /// the field, every limb at its largest, single bits at limb
    /// boundaries, and the powers p is made of.
    fn edge_values() -> Vec<U256> {
        let p = *MODULUS.as_ref();
        let mut values = vec![
            U256::ZERO,
            U256::ONE,
            U256::from_u64(2),
            U256::from_u64(3),
            p.wrapping_sub(&U256::ONE),
            p.wrapping_sub(&U256::from_u64(2)),
            // 2^256 - 2^224 - 1: every bit below 224.
            uint("fffffffeffffffffffffffffffffffffffffffffffffffffffffffffffffffff"),
            uint("00000000ffffffffffffffffffffffffffffffffffffffffffffffffffffffff"),
            uint("ffffffff00000000ffffffffffffffffffffffffffffffffffffffffffffffff"),
            uint("ffffffff00000000000000000000000000000000000000000000000000000000"),
            uint("5555555555555555555555555555555555555555555555555555555555555555"),
            uint("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
        ];
        for bit in [28, 29, 57, 58, 95, 96, 191, 192, 223, 224, 231, 232, 255] {
            let power = U256::ONE.shl(bit);
            values.push(power);
            values.push(power.wrapping_sub(&U256::ONE));
        }
        values.retain(|value| value < &p);
        assert_eq!(values.len(), 38, "every edge value is below p");
        values
    }

    fn random_values(count: usize) -> Vec<U256> {
        let p = *MODULUS.as_ref();
        let mut values = Vec::new();
        while values.len() < count {
            let mut bytes = [0u8; 32];
            getrandom::fill(&mut bytes).unwrap();
            let value = U256::from_be_slice(&bytes);
            if value < p {
                values.push(value);
            }
        }
        values
    }

    /// Asserts `value`'s limbs are below 2^29 and its value below `bound`.
    fn assert_below(value: &(impl Factor + std::fmt::Debug), bound: &[i64; LIMBS], name: &str) {
        let limbs = value.limbs();
        assert!(limbs.iter().all(|limb| *limb < 1 << LIMB_BITS), "{value:?}");
        assert!(minus(&limbs, bound)[LIMBS - 1] < 0, "{value:?} ≥ {name}");
    }

    /// `element`, checked to be within the bounds every operation keeps:
    /// limbs below 2^29, the value below 2p.
    fn bounded(element: FieldElement) -> FieldElement {
        assert_below(&element, &TWO_P, "2p");
        element
    }

    /// `value`, checked to be within an unreduced sum's bounds: limbs below
    /// 2^29, the value below 4p.
    fn below_4p(value: Unreduced) -> Unreduced {
        assert_below(&value, &TWO_P.map(|limb| 2 * limb), "4p");
        value
    }

    /// The element's other representation below 2p: its value plus or
    /// minus p.
    fn other_representation(element: FieldElement) -> FieldElement {
        let limbs = element.limbs();
        let other = if is_below_p(&limbs) {
            let mut sum = limbs;
            for (s, p) in sum.iter_mut().zip(P) {
                *s += p;
            }
            carry(sum)
        } else {
            minus(&limbs, &P)
        };
        bounded(FieldElement::from_limbs(&other))
    }

    #[test]
    fn arithmetic_agrees_with_crypto_bigint_on_edge_and_random_values() {
        let mut values = edge_values();
        values.extend(random_values(64));
        for a in &values {
            // Every operation on both of the value's representations below
            // 2p (equality compares values; `bounded` checks each result
            // stays below 2p).
            for x in [element(a), other_representation(element(a))] {
                let x = bounded(x);
                assert_eq!(x.to_bytes(), bytes(a), "round trip of {a}");
                assert_eq!(bounded(x.neg()), element(&U256::ZERO.sub_mod(a, &p())));
                assert_eq!(bool::from(x.is_zero()), a == &U256::ZERO);
                assert_eq!(bounded(x.square()), element(&a.mul_mod(a, &p())), "{a}²");
                let inverse =
                    Option::<U256>::from(a.invert_odd_mod(&MODULUS)).unwrap_or(U256::ZERO);
                assert_eq!(bounded(x.invert()), element(&inverse), "1/{a}");
                // Both ways the inversion can go: unblinded (no random
                // source), and blinded by edge values as well as random ones.
                assert_eq!(x.invert_blinded_by(None), element(&inverse), "1/{a}");
                for blind in edge_values().iter().filter(|b| *b != &U256::ZERO).take(6) {
                    let blinded = x.invert_blinded_by(Some(element(blind)));
                    assert_eq!(blinded, element(&inverse), "1/{a} blinded by {blind}");
                }
                for b in &values {
                    for y in [element(b), other_representation(element(b))] {
                        let sum = bounded(x.add(&y));
                        assert_eq!(sum, element(&a.add_mod(b, &p())), "{a}+{b}");
                        let difference = bounded(x.sub(&y));
                        assert_eq!(difference, element(&a.sub_mod(b, &p())), "{a}-{b}");
                        let product = bounded(x.mul(&y));
                        assert_eq!(product.to_bytes(), bytes(&a.mul_mod(b, &p())), "{a}·{b}");
                        // Left unreduced (up to 4p), a sum and a difference
                        // still multiply into elements.
                        let (sum, difference) = (a.add_mod(b, &p()), a.sub_mod(b, &p()));
                        let loose_sum = below_4p(x.add_unreduced(&y));
                        let loose_difference = below_4p(x.sub_unreduced(&y));
                        assert_eq!(
                            bounded(loose_sum.mul(&y)),
                            element(&sum.mul_mod(b, &p())),
                            "({a}+{b})·{b}"
                        );
                        assert_eq!(
                            bounded(y.mul(&loose_difference)),
                            element(&difference.mul_mod(b, &p())),
                            "{b}·({a}-{b})"
                        );
                        assert_eq!(
                            bounded(loose_sum.mul(&loose_difference)),
                            element(&sum.mul_mod(&difference, &p())),
                            "({a}+{b})·({a}-{b})"
                        );
                        assert_eq!(
                            bounded(loose_sum.square()),
                            element(&sum.mul_mod(&sum, &p())),
                            "({a}+{b})²"
                        );
                    }
                }
            }
        }
    }

    /// A table entry's two coordinates come back as their canonical
    /// values, from either representation, whatever their bits.
    #[test]
    fn packing_keeps_values_and_canonicalizes() {
        let values: Vec<U256> = edge_values().into_iter().chain(random_values(16)).collect();
        for (a, b) in values.iter().zip(values.iter().rev()) {
            for (x, y) in [
                (element(a), element(b)),
                (
                    other_representation(element(a)),
                    other_representation(element(b)),
                ),
            ] {
                let (first, second) = FieldElement::unpack(&x.pack_with(&y));
                for (unpacked, value) in [(first, a), (second, b)] {
                    assert_eq!(unpacked, element(value));
                    assert!(is_below_p(&bounded(unpacked).limbs()), "{value} canonical");
                }
            }
        }
    }

    #[test]
    fn one_is_one_in_montgomery_form() {
        let mut one = [0u8; 32];
        one[31] = 1;
        assert_eq!(
            FieldElement::ONE.0,
            FieldElement::from_bytes(&one).unwrap().0
        );
        assert_eq!(FieldElement::ONE.to_bytes(), one);
    }

    #[test]
    fn two_p_is_p_doubled() {
        assert_eq!(TWO_P, P.map(|limb| 2 * limb));
    }

    /// Equality compares values, and zero is zero in both of its
    /// representations.
    #[test]
    fn equality_and_zero_see_values_not_representations() {
        for value in edge_values().iter().chain(&random_values(8)) {
            let x = element(value);
            let other = other_representation(x);
            assert_ne!(x.0, other.0);
            assert_eq!(x, other);
            assert_eq!(x.is_zero().unwrap_u8(), other.is_zero().unwrap_u8());
            assert_ne!(x, x.add(&element(&U256::ONE)));
        }
        let zero = FieldElement::ZERO;
        let p = other_representation(zero);
        assert_eq!(p.0.map(i64::from), P);
        assert!(bool::from(p.is_zero()));
        assert_eq!(p.to_bytes(), [0; 32]);
        assert!(bool::from(p.neg().is_zero()));
    }

    #[test]
    fn only_values_below_p_are_elements() {
        let p = *MODULUS.as_ref();
        for above in [
            p,
            p.wrapping_add(&U256::ONE),
            U256::MAX,
            uint("ffffffff00000001000000000000000000000001000000000000000000000000"),
        ] {
            assert_eq!(FieldElement::from_bytes(&bytes(&above)), None, "{above}");
        }
        assert!(FieldElement::from_bytes(&bytes(&p.wrapping_sub(&U256::ONE))).is_some());
    }

    #[test]
    fn select_takes_the_chosen_element() {
        let (a, b) = (element(&U256::ONE), element(&U256::from_u64(7)));
        assert_eq!(FieldElement::conditional_select(&a, &b, Choice::from(0)), a);
        assert_eq!(FieldElement::conditional_select(&a, &b, Choice::from(1)), b);
    }
}
