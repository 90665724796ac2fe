//! `k·G` from wider precomputed tables than `p256`'s own.
//!
//! `p256` keeps 33 rows of 8 projective multiples of `G` and spends 64 full
//! point additions and 4 doublings on each `k·G`. Here every `W` bits of the
//! scalar get a row of their own: row `i` holds `j·2^(W·i)·G` for
//! `j = 1..=2^(W-1)`, in affine form. The scalar is written in signed digits
//! `d_i ∈ [-2^(W-1), 2^(W-1)]`, so `k·G = Σ d_i·row_i`: one mixed addition
//! per digit (`256/W + 1` of them) and no doublings. The price is memory,
//! `(256/W + 1)·2^(W-1)` affine points, built once per process (per Wasm VM).
//!
//! The additions run on `field.rs`'s arithmetic rather than `p256`'s, whose
//! 64-bit limbs Wasm can only multiply through a 128-bit routine: about
//! twice as fast in V8 (BENCHMARKS.md, "Field arithmetic for Wasm's
//! multiplier").
//!
//! Constant time in the secret scalar: the digits are computed without
//! branches or secret-dependent indices, every entry of a row is read for
//! each digit (under masks behind `subtle`'s optimization barrier), the
//! sign is applied by a conditional negation, the additions have no
//! branches (all but the last one or two digits' use a Jacobian formula
//! whose exceptional case `p = ±q` cannot arise, see
//! `GeneratorTable::UNEQUAL_DIGITS`, and whose identity case is a
//! conditional selection; the rest a complete formula), a zero digit's sum
//! is dropped by conditional selection, and the way back to affine
//! coordinates inverts a randomly blinded `Z` (see `FieldElement::invert`).
//!
//! A batch of scalars (the nonce producer's) can share more than that last
//! inversion: carried side by side in affine coordinates, its sums need one
//! inversion per digit for all of them, and an affine addition given the
//! inverse costs 2 multiplications and a squaring ([`mul_by_generator_batch`]).

mod field;
mod point;

use std::sync::OnceLock;

use p256::elliptic_curve::BatchNormalize;
use p256::elliptic_curve::group::Group as _;
use p256::elliptic_curve::subtle::{
    BlackBox, Choice, ConditionallySelectable as _, ConstantTimeEq as _,
};
use p256::{AffinePoint, ProjectivePoint, Scalar};
use zeroize::Zeroize as _;

use field::FieldElement;
use point::{Affine, Curve, PackedAffine, Projective};

/// The row width the signer uses: the fewest instructions per signing
/// request in Envoy of 5 to 8 since the additions became cheaper (37 rows
/// of 64 entries of 64 bytes, about 150 KB per Wasm VM; BENCHMARKS.md,
/// "Jacobian additions, blinded inversions").
pub const WINDOW_BITS: usize = 7;

/// `k·G`, constant time in `k`.
pub fn mul_by_generator(k: &Scalar) -> AffinePoint {
    shared_table().mul(k)
}

/// `k·G` for each `k`, constant time in each: from
/// [`AFFINE_BATCH`] scalars on, summed side by side in affine coordinates
/// with one field inversion per digit for all of them; below, each on its
/// own with one inversion at the end for all.
pub fn mul_by_generator_batch<'k>(ks: impl IntoIterator<Item = &'k Scalar>) -> Vec<AffinePoint> {
    let table = shared_table();
    let ks: Vec<&Scalar> = ks.into_iter().collect();
    if ks.len() >= AFFINE_BATCH {
        table.mul_batch(&ks)
    } else {
        let points: Vec<Projective> = ks.into_iter().map(|k| table.mul_projective(k)).collect();
        table.curve.normalize(&points)
    }
}

/// The fewest scalars that [`mul_by_generator_batch`] sums side by side:
/// an affine addition costs 2 multiplications and a squaring against the
/// Jacobian one's 8 and 3, but the batch's inversion per digit (with the 3
/// multiplications a point Montgomery's trick adds) has to be shared by
/// enough points to pay (BENCHMARKS.md, "Inversions of our own, affine sums
/// in batches").
pub const AFFINE_BATCH: usize = 10;

/// Builds the shared table now if no call has yet: a few milliseconds in V8,
/// better spent while a configuration loads than on a request.
pub fn prepare() {
    let _ = shared_table();
}

fn shared_table() -> &'static GeneratorTable<WINDOW_BITS> {
    static TABLE: OnceLock<GeneratorTable<WINDOW_BITS>> = OnceLock::new();
    TABLE.get_or_init(GeneratorTable::new)
}

/// Multiples of the generator for `W`-bit signed digits (`2 ≤ W ≤ 8`).
pub struct GeneratorTable<const W: usize> {
    /// Row `i`, entry `j - 1`: `j·2^(W·i)·G`, at `i·ROW_LEN + j - 1`.
    points: Vec<PackedAffine>,
    curve: Curve,
}

/// The most digits any supported width needs (`W = 2`).
const MAX_DIGITS: usize = 256 / 2 + 1;

impl<const W: usize> GeneratorTable<W> {
    const WIDTH_SUPPORTED: () = assert!(W >= 2 && W <= 8);
    /// Entries per row: the digits' largest magnitude.
    const ROW_LEN: usize = 1 << (W - 1);
    /// Digits of a 256-bit scalar. The top row's digit takes the last
    /// `256 mod W` bits plus a carry, at most `2^(W-1)`, so it never carries
    /// out.
    const DIGITS: usize = 256 / W + 1;
    /// The leading digits whose additions can never meet `p = ±q`, so
    /// that they may use the faster, incomplete formula: those `j` with
    /// `W·(j + 1) ≤ 255`. Before digit `j` the sum is `s·G` with
    /// `|s| ≤ 2^(W-1)·(2^(W·j) - 1)/(2^W - 1) < 2^(W·j)·2/3` (the digits
    /// are exact, not reduced mod n), and the entry added is `d·2^(W·j)·G`
    /// with `1 ≤ |d| ≤ 2^(W-1)`. `s ≡ ±d·2^(W·j) (mod n)` would need
    /// `s ∓ d·2^(W·j)`, whose magnitude lies between `2^(W·j)/3` and
    /// `(2^(W-1) + 2/3)·2^(W·j) < 2^(W·(j+1)) ≤ 2^255 < n`, to be a
    /// multiple of `n`: it is not, being nonzero and smaller. (The sum
    /// being the identity is `s = 0`, which the formula handles.) The
    /// remaining digits, one or two, use the complete formula.
    const UNEQUAL_DIGITS: usize = 255 / W;

    pub fn new() -> Self {
        let () = Self::WIDTH_SUPPORTED;
        let mut projective = Vec::with_capacity(Self::DIGITS * Self::ROW_LEN);
        let mut row_base = ProjectivePoint::GENERATOR;
        for _ in 0..Self::DIGITS {
            let mut multiple = row_base;
            for _ in 1..Self::ROW_LEN {
                projective.push(multiple);
                multiple += row_base;
            }
            projective.push(multiple);
            // 2^(W-1)·base doubled is the next row's base.
            row_base = multiple.double();
        }
        // One field inversion for the whole table.
        let points = <ProjectivePoint as BatchNormalize<[ProjectivePoint]>>::batch_normalize(
            projective.as_slice(),
        )
        .iter()
        // j·2^(W·i)·G with j ≤ 2^(W-1) and W·i < 256 + W is never the
        // identity, as G's order is a 256-bit prime: nothing is dropped.
        .filter_map(|point| Affine::from_p256(point).map(|point| PackedAffine::new(&point)))
        .collect();
        Self {
            points,
            curve: Curve::new(),
        }
    }

    /// `k·G`, constant time in `k`.
    pub fn mul(&self, k: &Scalar) -> AffinePoint {
        self.curve
            .normalize(&[self.mul_projective(k)])
            .pop()
            .unwrap_or(AffinePoint::IDENTITY)
    }

    fn mul_projective(&self, k: &Scalar) -> Projective {
        let mut digits = Self::signed_digits(k);
        let mut rows = self.points.chunks_exact(Self::ROW_LEN).zip(digits.iter());
        // The first digit's entry is the sum so far, without an addition.
        let mut sum = self.curve.jacobian_identity();
        if let Some((row, digit)) = rows.next() {
            let (mut entry, is_zero) = select(row, *digit);
            sum.conditional_assign(&self.curve.jacobian(&entry), !is_zero);
            entry.zeroize();
        }
        for (row, digit) in rows.by_ref().take(Self::UNEQUAL_DIGITS - 1) {
            let (mut entry, is_zero) = select(row, *digit);
            let with_entry = self.curve.add_mixed_unless_equal(&sum, &entry);
            // A zero digit adds the identity, which has no affine form:
            // the sum stays as it was.
            sum.conditional_assign(&with_entry, !is_zero);
            entry.zeroize();
        }
        let mut sum = sum.to_projective();
        for (row, digit) in rows {
            let (mut entry, is_zero) = select(row, *digit);
            let with_entry = self.curve.add_mixed(&sum, &entry);
            // As above: a zero digit leaves the sum as it was.
            sum.conditional_assign(&with_entry, !is_zero);
            entry.zeroize();
        }
        digits.zeroize();
        sum
    }

    /// `k·G` for every `k`, constant time in each: the sums of all the
    /// scalars are carried side by side, digit by digit, in affine
    /// coordinates, and the denominators of each digit's additions are
    /// inverted together. The exceptional case of the affine formula
    /// (`x_p = x_q`, so `p = ±q`) is the Jacobian one's, which
    /// [`Self::UNEQUAL_DIGITS`] rules out for all but the last digit or
    /// two; those use the complete formula, as [`Self::mul_projective`]
    /// does.
    pub fn mul_batch(&self, ks: &[&Scalar]) -> Vec<AffinePoint> {
        let mut digits: Vec<[i16; MAX_DIGITS]> =
            ks.iter().map(|k| Self::signed_digits(k)).collect();
        let mut rows = self.points.chunks_exact(Self::ROW_LEN).enumerate();
        // The first digit's entry is each sum so far. Where a digit is
        // zero, the sum is the identity, which has no affine form: a flag
        // says so, and the coordinates beside it mean nothing.
        let mut sums: Vec<(Affine, Choice)> = match rows.next() {
            Some((_, row)) => digits
                .iter()
                .map(|d| select(row, d.first().copied().unwrap_or_default()))
                .collect(),
            None => Vec::new(),
        };
        let mut entries: Vec<(Affine, Choice)> = Vec::with_capacity(ks.len());
        let mut denominators: Vec<FieldElement> = Vec::with_capacity(ks.len());
        for (index, row) in rows.by_ref().take(Self::UNEQUAL_DIGITS - 1) {
            entries.clear();
            denominators.clear();
            for (digits, (sum, sum_is_identity)) in digits.iter().zip(&sums) {
                let digit = digits.get(index).copied().unwrap_or_default();
                let (entry, is_zero) = select(row, digit);
                // Where nothing is added (a zero digit, or an entry added
                // to the identity, which is the entry), 1 stands in.
                let adds = !is_zero & !*sum_is_identity;
                denominators.push(FieldElement::conditional_select(
                    &self.curve.one(),
                    &sum.dx(&entry),
                    adds,
                ));
                entries.push((entry, is_zero));
            }
            self.curve.invert_all(&mut denominators);
            for (((sum, sum_is_identity), (entry, is_zero)), dx_inverse) in
                sums.iter_mut().zip(&entries).zip(&denominators)
            {
                let added = sum.plus(entry, dx_inverse);
                let with_entry = Affine::conditional_select(&added, entry, *sum_is_identity);
                sum.conditional_assign(&with_entry, !*is_zero);
                *sum_is_identity &= *is_zero;
            }
        }
        for (entry, _) in &mut entries {
            entry.zeroize();
        }
        denominators.zeroize();
        let mut points: Vec<Projective> = sums
            .iter()
            .map(|(sum, is_identity)| self.curve.projective(sum, *is_identity))
            .collect();
        for (index, row) in rows {
            for (point, digits) in points.iter_mut().zip(&digits) {
                let (mut entry, is_zero) =
                    select(row, digits.get(index).copied().unwrap_or_default());
                let with_entry = self.curve.add_mixed(point, &entry);
                point.conditional_assign(&with_entry, !is_zero);
                entry.zeroize();
            }
        }
        for (sum, _) in &mut sums {
            sum.zeroize();
        }
        digits.zeroize();
        self.curve.normalize(&points)
    }

    /// `k = Σ d_i·2^(W·i)` with every `d_i ∈ [-2^(W-1), 2^(W-1)]`, without
    /// branches on `k`. Entries past [`Self::DIGITS`] are zero.
    fn signed_digits(k: &Scalar) -> [i16; MAX_DIGITS] {
        let mut bytes = k.to_bytes();
        let mut limbs = [0u64; 4];
        for (limb, chunk) in limbs.iter_mut().zip(bytes.rchunks_exact(8)) {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            *limb = u64::from_be_bytes(word);
            word.zeroize();
        }
        bytes.zeroize();

        let mut digits = [0i16; MAX_DIGITS];
        let mut carry = 0u64;
        for (index, digit) in digits.iter_mut().take(Self::DIGITS).enumerate() {
            let raw = window::<W>(&limbs, index * W) + carry;
            // raw ∈ [0, 2^W]; above 2^(W-1) it becomes raw - 2^W, carrying 1.
            carry = (raw + (1 << (W - 1)) - 1) >> W;
            // |raw - carry·2^W| ≤ 2^(W-1) ≤ 128, so it fits an i16.
            *digit = (raw.wrapping_sub(carry << W) as i64) as i16;
        }
        debug_assert_eq!(carry, 0, "the top digit never carries out");
        limbs.zeroize();
        digits
    }
}

impl<const W: usize> Default for GeneratorTable<W> {
    fn default() -> Self {
        Self::new()
    }
}

/// The `W` bits of the scalar at bit `offset` (zero past bit 255). The limbs
/// read depend on `offset` only, never on the scalar.
fn window<const W: usize>(limbs: &[u64; 4], offset: usize) -> u64 {
    let (index, shift) = (offset / 64, offset % 64);
    let mut bits = limbs.get(index).map_or(0, |limb| limb >> shift);
    if shift + W > 64 {
        bits |= limbs.get(index + 1).map_or(0, |limb| limb << (64 - shift));
    }
    bits & ((1 << W) - 1)
}

/// `digit·P` from a row of `P, 2P, …`, reading every entry, and whether the
/// digit is zero (then the point returned is meaningless).
///
/// Built for the filter (`wasm32-wasip1`), this one function may use Wasm
/// SIMD, which LLVM uses to mask and OR in two words at a time: 4 % fewer
/// instructions per signing request. The module-wide feature made the
/// field multiplication slower (BENCHMARKS.md, "Selecting table entries").
/// The browser verifiers' build (`wasm32-unknown-unknown`) stays without.
#[cfg_attr(
    all(target_arch = "wasm32", target_os = "wasi"),
    target_feature(enable = "simd128")
)]
fn select(row: &[PackedAffine], digit: i16) -> (Affine, Choice) {
    let sign = digit >> 15; // all ones if negative
    let magnitude = ((digit ^ sign) - sign) as u16;
    // Exactly one entry matches a nonzero digit: OR-ing every entry in
    // under its condition selects it.
    let mut packed = PackedAffine::default();
    let firsts = (1u16..).step_by(MASKS_PER_BARRIER);
    for (entries, first) in row.chunks(MASKS_PER_BARRIER).zip(firsts) {
        // The masks are not wiped: the barrier's own copy cannot be, and
        // wiping this one cost 1.6 % per signing request in Envoy.
        let masks = BlackBox::new(equality_masks(magnitude, first)).get();
        for (entry, mask) in entries.iter().zip(masks) {
            packed.or_masked(entry, mask);
        }
    }
    let mut point = packed.unpack();
    packed.zeroize();
    point.conditional_negate(Choice::from((sign & 1) as u8));
    (point, magnitude.ct_eq(&0))
}

/// Entries whose masks pass one optimization barrier together. `subtle`
/// puts a barrier (an out-of-line volatile read) behind every `Choice`; one
/// per entry cost a sixth of a signature's time in V8 (BENCHMARKS.md,
/// "Selecting table entries").
const MASKS_PER_BARRIER: usize = 8;

/// All ones for the multiple equal to `magnitude`, zero for the others, of
/// the `MASKS_PER_BARRIER` multiples from `first`. Arithmetic alone; the
/// caller hides the result behind a barrier, so that the compiler cannot
/// know each mask is zero or all ones and turn the masking into a branch.
fn equality_masks(magnitude: u16, first: u16) -> [u64; MASKS_PER_BARRIER] {
    let mut masks = [0u64; MASKS_PER_BARRIER];
    for (mask, multiple) in masks.iter_mut().zip(first..) {
        // Zero exactly when equal, else below 2^16: only then does
        // subtracting one set the top bit.
        let difference = u64::from(magnitude ^ multiple);
        *mask = (difference.wrapping_sub(1) >> 63).wrapping_neg();
    }
    masks
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::elliptic_curve::ff::PrimeField as _;

    fn scalar_from_hex(hex: &str) -> Scalar {
        let mut repr = p256::FieldBytes::default();
        for (byte, pair) in repr.iter_mut().zip(hex.as_bytes().chunks(2)) {
            *byte = u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap();
        }
        Scalar::from_repr(repr).unwrap()
    }

    /// Scalars where digit recoding goes wrong first: zero, one, the top
    /// and bottom of the order, runs of ones that carry through every digit,
    /// and alternating bits.
    fn edge_scalars() -> Vec<Scalar> {
        let n_minus = |d: u64| -Scalar::from(d);
        vec![
            Scalar::ZERO,
            Scalar::ONE,
            Scalar::from(2u64),
            Scalar::from(31u64),
            Scalar::from(32u64),
            Scalar::from(33u64),
            Scalar::from(127u64),
            Scalar::from(128u64),
            Scalar::from(129u64),
            Scalar::from(u64::MAX),
            n_minus(1),
            n_minus(2),
            n_minus(128),
            scalar_from_hex("7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"),
            scalar_from_hex("8000000000000000000000000000000000000000000000000000000000000000"),
            scalar_from_hex("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632550"),
            scalar_from_hex("5555555555555555555555555555555555555555555555555555555555555555"),
            scalar_from_hex("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
            scalar_from_hex("0fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"),
            scalar_from_hex("fffffffefffffffffffffffffffffffffffffffffffffffffffffffffffffffe"),
        ]
    }

    fn random_scalars(count: usize) -> Vec<Scalar> {
        use p256::elliptic_curve::Generate as _;
        (0..count)
            .map(|_| *p256::NonZeroScalar::try_generate().unwrap().as_ref())
            .collect()
    }

    #[test]
    fn equality_masks_are_all_ones_for_the_magnitude_only() {
        for magnitude in 0..=256u16 {
            for first in (1u16..=129).step_by(MASKS_PER_BARRIER) {
                let masks = equality_masks(magnitude, first);
                for (multiple, mask) in (first..).zip(masks) {
                    let expected = if multiple == magnitude { u64::MAX } else { 0 };
                    assert_eq!(mask, expected, "magnitude {magnitude}, multiple {multiple}");
                }
            }
        }
    }

    fn recombined<const W: usize>(digits: &[i16]) -> Scalar {
        let radix = Scalar::from(1u64 << W);
        digits.iter().rev().fold(Scalar::ZERO, |sum, digit| {
            let magnitude = Scalar::from(u64::from(digit.unsigned_abs()));
            sum * radix + if *digit < 0 { -magnitude } else { magnitude }
        })
    }

    /// For width `W`: the digits of every scalar in `recoded` stay in
    /// range and recombine to it, and `k·G` is `p256`'s for every scalar in
    /// `multiplied`.
    fn check_width<const W: usize>(recoded: &[Scalar], multiplied: &[Scalar]) {
        let bound = 1i16 << (W - 1);
        for k in recoded {
            let digits = GeneratorTable::<W>::signed_digits(k);
            let used = &digits[..GeneratorTable::<W>::DIGITS];
            assert!(used.iter().all(|d| (-bound..=bound).contains(d)), "W = {W}");
            assert!(digits[used.len()..].iter().all(|d| *d == 0));
            assert_eq!(recombined::<W>(used), *k, "W = {W}");
        }
        let table = GeneratorTable::<W>::new();
        let expected: Vec<AffinePoint> = multiplied
            .iter()
            .map(|k| ProjectivePoint::mul_by_generator(k).to_affine())
            .collect();
        for (k, expected) in multiplied.iter().zip(&expected) {
            assert_eq!(table.mul(k), *expected, "W = {W}, k = {k:?}");
        }
        // Side by side in affine coordinates: the whole list as one batch,
        // and in batches of 1 and 5 (sums that are the identity for
        // different digits share each digit's inversion).
        let ks: Vec<&Scalar> = multiplied.iter().collect();
        assert_eq!(table.mul_batch(&ks), expected, "W = {W}, one batch");
        for size in [1, 5] {
            for (ks, expected) in ks.chunks(size).zip(expected.chunks(size)) {
                assert_eq!(table.mul_batch(ks), expected, "W = {W}, batches of {size}");
            }
        }
    }

    #[test]
    fn every_width_recodes_and_multiplies_edge_and_random_scalars_like_p256() {
        let with_random = |count| {
            let mut scalars = edge_scalars();
            scalars.extend(random_scalars(count));
            scalars
        };
        let (recoded, mut multiplied) = (with_random(256), with_random(64));
        // Every power of two: for each width and digit, a sum that stays the
        // identity up to that digit and then takes the Jacobian formula's
        // case for it (or reaches the complete formula still the identity).
        multiplied.extend((0..256).map(|bit| {
            let mut bytes = p256::FieldBytes::default();
            bytes[31 - bit / 8] = 1 << (bit % 8);
            Scalar::from_repr(bytes).unwrap()
        }));
        check_width::<2>(&recoded, &multiplied);
        check_width::<3>(&recoded, &multiplied);
        check_width::<4>(&recoded, &multiplied);
        check_width::<5>(&recoded, &multiplied);
        check_width::<6>(&recoded, &multiplied);
        check_width::<7>(&recoded, &multiplied);
        check_width::<8>(&recoded, &multiplied);
    }

    #[test]
    fn the_shared_table_agrees_with_p256_one_by_one_and_in_batches() {
        let scalars: Vec<Scalar> = edge_scalars()
            .into_iter()
            .chain(random_scalars(256))
            .collect();
        let expected: Vec<AffinePoint> = scalars
            .iter()
            .map(|k| ProjectivePoint::mul_by_generator(k).to_affine())
            .collect();
        for (k, expected) in scalars.iter().zip(&expected) {
            assert_eq!(mul_by_generator(k), *expected, "k = {k:?}");
        }
        // Batches of every small size, the identity (k = 0) among them.
        for size in [1, 2, 3, AFFINE_BATCH - 1, AFFINE_BATCH, 16, 17] {
            for (ks, expected) in scalars.chunks(size).zip(expected.chunks(size)) {
                assert_eq!(mul_by_generator_batch(ks), expected);
            }
        }
        assert_eq!(mul_by_generator_batch(&[]), []);
    }

    #[test]
    fn select_reads_signed_multiples() {
        let table = GeneratorTable::<3>::new();
        let row = &table.points[..GeneratorTable::<3>::ROW_LEN];
        for digit in -4i16..=4 {
            let expected = if digit < 0 {
                -(ProjectivePoint::GENERATOR * Scalar::from(u64::from(digit.unsigned_abs())))
            } else {
                ProjectivePoint::GENERATOR * Scalar::from(u64::from(digit.unsigned_abs()))
            };
            let (point, is_zero) = select(row, digit);
            assert_eq!(bool::from(is_zero), digit == 0);
            if digit != 0 {
                assert_eq!(
                    Some(point),
                    Affine::from_p256(&expected.to_affine()),
                    "digit {digit}"
                );
            }
        }
    }
}
