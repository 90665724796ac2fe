//! `k·G` from wider precomputed tables than `p256`'s own.
//!
//! `p256` keeps 33 rows of 8 projective multiples of `G` and spends 64 full
//! point additions and 4 doublings on each `k·G`. Here every `W` bits of the
//! scalar get a row of their own: row `i` holds `j·2^(W·i)·G` for the odd
//! `j` from 1 to `2^W - 1`, in affine form. The scalar, made odd (`k` or
//! `n - k`, the result then negated), is written in odd signed digits
//! `d_i ∈ {±1, ±3, …, ±(2^W - 1)}`, so `k·G = ±Σ d_i·row_i`: one mixed
//! addition per digit (`256/W + 1` of them) and no doublings. No digit is
//! zero and no sum before the last digits is the identity, so neither case
//! costs a selection. The price is memory, `(256/W + 1)·2^(W-1)` affine
//! points, built once per process (per Wasm VM).
//!
//! The additions run on `field.rs`'s arithmetic rather than `p256`'s, whose
//! 64-bit limbs Wasm can only multiply through a 128-bit routine: about
//! twice as fast in V8 (BENCHMARKS.md, "Field arithmetic for Wasm's
//! multiplier").
//!
//! Constant time in the secret scalar: the digits are computed without
//! branches or secret-dependent indices, every entry of a row is read for
//! each digit (under masks behind `subtle`'s optimization barrier), the
//! signs (the digits' and the scalar's) are applied by conditional
//! negation, the additions have no branches (all but the last one or two
//! digits' use a Jacobian formula whose exceptional cases, `p = ±q` and
//! `p` the identity, cannot arise, see `GeneratorTable::UNEQUAL_DIGITS`;
//! the rest a complete formula), and the way back to affine coordinates
//! inverts a randomly blinded `Z` (see `FieldElement::invert`).
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
use p256::elliptic_curve::subtle::{BlackBox, Choice, ConditionallySelectable as _};
use p256::{AffinePoint, ProjectivePoint, PublicKey, Scalar, SecretKey};
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

/// `secret`'s public key, `d·G` from the shared table (constant time in
/// `d`), in place of `p256`'s `SecretKey::public_key`, whose variable-base
/// multiplication the filter needs nowhere else. `None` only if the
/// product were the identity, which a nonzero `d` below `n` never gives.
pub fn public_key(secret: &SecretKey) -> Option<PublicKey> {
    let mut d = secret.to_nonzero_scalar();
    let point = mul_by_generator(d.as_ref());
    d.zeroize();
    PublicKey::from_affine(point).ok()
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

/// Odd multiples of the generator, for odd signed digits below `2^W` in
/// magnitude (`2 ≤ W ≤ 8`).
pub struct GeneratorTable<const W: usize> {
    /// Row `i`, entry `j`: `(2j + 1)·2^(W·i)·G`, at `i·ROW_LEN + j`.
    points: Vec<PackedAffine>,
    curve: Curve,
}

/// The most digits any supported width needs (`W = 2`).
const MAX_DIGITS: usize = 256 / 2 + 1;

impl<const W: usize> GeneratorTable<W> {
    const WIDTH_SUPPORTED: () = assert!(W >= 2 && W <= 8);
    /// Entries per row: the odd magnitudes 1 to `2^W - 1`.
    const ROW_LEN: usize = 1 << (W - 1);
    /// Digits of a 256-bit scalar: each of the first `256/W` takes `W`
    /// bits, the top one what is left, below `2^W` (see
    /// [`Self::odd_digits`]).
    const DIGITS: usize = 256 / W + 1;
    /// The leading digits whose additions can never meet `p = ±q` or the
    /// identity, so that they may use the faster, incomplete formula:
    /// those `j` with `W·(j + 1) ≤ 255`. Before digit `j ≥ 1` the sum is
    /// `s·G` with `s` odd (the first digit is odd, the others' terms even)
    /// and `|s| ≤ (2^W - 1)·(2^(W·j) - 1)/(2^W - 1) < 2^(W·j)` (the digits
    /// are exact, not reduced mod n): nonzero and below `n`, so never the
    /// identity. The entry added is `d·2^(W·j)·G`, `d` odd, `|d| < 2^W`.
    /// `s ≡ ±d·2^(W·j) (mod n)` would need `s ∓ d·2^(W·j)`, odd and of
    /// magnitude below `2^(W·j) + (2^W - 1)·2^(W·j) = 2^(W·(j+1)) ≤ 2^255
    /// < n`, to be a multiple of `n`: it is not, being nonzero and smaller.
    /// The remaining digits, one or two, use the complete formula.
    const UNEQUAL_DIGITS: usize = 255 / W;

    pub fn new() -> Self {
        let () = Self::WIDTH_SUPPORTED;
        let mut projective = Vec::with_capacity(Self::DIGITS * Self::ROW_LEN);
        let mut row_base = ProjectivePoint::GENERATOR;
        for _ in 0..Self::DIGITS {
            let step = row_base.double();
            let mut multiple = row_base;
            for _ in 1..Self::ROW_LEN {
                projective.push(multiple);
                multiple += step;
            }
            projective.push(multiple);
            // (2^W - 1)·base plus base is the next row's base.
            row_base = multiple + row_base;
        }
        // One field inversion for the whole table.
        let points = <ProjectivePoint as BatchNormalize<[ProjectivePoint]>>::batch_normalize(
            projective.as_slice(),
        )
        .iter()
        // j·2^(W·i)·G with j < 2^W and W·i < 256 + W is never the
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
        let (mut digits, negated) = Self::odd_digits(k);
        let mut rows = self.points.chunks_exact(Self::ROW_LEN).zip(digits.iter());
        // The first digit's entry is the sum so far, without an addition.
        let Some((row, digit)) = rows.next() else {
            return self.curve.identity();
        };
        let mut entry = select(row, *digit);
        let mut sum = self.curve.jacobian(&entry);
        for (row, digit) in rows.by_ref().take(Self::UNEQUAL_DIGITS - 1) {
            entry = select(row, *digit);
            sum = self.curve.add_mixed_unless_equal(&sum, &entry);
        }
        let mut sum = sum.to_projective();
        for (row, digit) in rows {
            entry = select(row, *digit);
            sum = self.curve.add_mixed(&sum, &entry);
        }
        entry.zeroize();
        digits.zeroize();
        sum.conditional_negate(negated);
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
        let (mut digits, negated): (Vec<[i16; MAX_DIGITS]>, Vec<Choice>) =
            ks.iter().map(|k| Self::odd_digits(k)).unzip();
        let mut rows = self.points.chunks_exact(Self::ROW_LEN).enumerate();
        // The first digit's entry is each sum so far.
        let mut sums: Vec<Affine> = match rows.next() {
            Some((_, row)) => digits
                .iter()
                .map(|d| select(row, d.first().copied().unwrap_or_default()))
                .collect(),
            None => Vec::new(),
        };
        let mut entries: Vec<Affine> = Vec::with_capacity(ks.len());
        let mut denominators: Vec<FieldElement> = Vec::with_capacity(ks.len());
        for (index, row) in rows.by_ref().take(Self::UNEQUAL_DIGITS - 1) {
            entries.clear();
            denominators.clear();
            for (digits, sum) in digits.iter().zip(&sums) {
                let entry = select(row, digits.get(index).copied().unwrap_or_default());
                denominators.push(sum.dx(&entry));
                entries.push(entry);
            }
            self.curve.invert_all(&mut denominators);
            for ((sum, entry), dx_inverse) in sums.iter_mut().zip(&entries).zip(&denominators) {
                *sum = sum.plus(entry, dx_inverse);
            }
        }
        entries.zeroize();
        denominators.zeroize();
        let mut points: Vec<Projective> =
            sums.iter().map(|sum| self.curve.projective(sum)).collect();
        sums.zeroize();
        for (index, row) in rows {
            for (point, digits) in points.iter_mut().zip(&digits) {
                let mut entry = select(row, digits.get(index).copied().unwrap_or_default());
                *point = self.curve.add_mixed(point, &entry);
                entry.zeroize();
            }
        }
        digits.zeroize();
        for (point, negated) in points.iter_mut().zip(negated) {
            point.conditional_negate(negated);
        }
        self.curve.normalize(&points)
    }

    /// `k' = Σ d_i·2^(W·i)` with every `d_i` odd and `|d_i| < 2^W`, where
    /// `k'` is `k` if odd, else `n - k` (as an integer: `n` for `k = 0`),
    /// and whether it is `n - k` (then `k·G = -k'·G`). Without branches on
    /// `k`. For odd `k'`, the digit at `i` below the top is `2·b + 1 - 2^W`
    /// with `b` the `W` bits of `k'` from bit `W·i + 1`; the top digit is
    /// `2·b + 1` with `b` the bits left above those (fewer than `W - 1`,
    /// none when `W` divides 256), so below `2^W`. Entries past
    /// [`Self::DIGITS`] are zero.
    fn odd_digits(k: &Scalar) -> ([i16; MAX_DIGITS], Choice) {
        let mut bytes = k.to_bytes();
        let mut limbs = [0u64; 4];
        for (limb, chunk) in limbs.iter_mut().zip(bytes.rchunks_exact(8)) {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            *limb = u64::from_be_bytes(word);
            word.zeroize();
        }
        bytes.zeroize();
        let even = Choice::from(((limbs[0] & 1) ^ 1) as u8);
        // n - k, with the borrow carried (k < n, so none is left).
        let mut borrow = 0u64;
        for (limb, n_limb) in limbs.iter_mut().zip(ORDER_LIMBS) {
            let (difference, under) = n_limb.overflowing_sub(*limb);
            let (n_minus_k, under_again) = difference.overflowing_sub(borrow);
            borrow = u64::from(under | under_again);
            *limb = u64::conditional_select(limb, &n_minus_k, even);
        }

        let mut digits = [0i16; MAX_DIGITS];
        for (index, digit) in digits.iter_mut().take(Self::DIGITS).enumerate() {
            let bits = window::<W>(&limbs, W * index + 1);
            // 2·b + 1 is below 2^(W+1) ≤ 512; the top digit keeps it.
            let top = u64::from(index + 1 == Self::DIGITS);
            *digit = ((2 * bits + 1) as i64 - (((1 - top) as i64) << W)) as i16;
        }
        limbs.zeroize();
        (digits, even)
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

/// `digit·P` for an odd `digit` from a row of `P, 3P, 5P, …`, reading every
/// entry.
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
fn select(row: &[PackedAffine], digit: i16) -> Affine {
    let sign = digit >> 15; // all ones if negative
    let magnitude = ((digit ^ sign) - sign) as u16;
    // Magnitude 2j + 1 is entry j, the (j + 1)-th.
    let position = (magnitude + 1) >> 1;
    // Exactly one entry matches an odd digit: OR-ing every entry in under
    // its condition selects it.
    let mut packed = PackedAffine::default();
    let firsts = (1u16..).step_by(MASKS_PER_BARRIER);
    for (entries, first) in row.chunks(MASKS_PER_BARRIER).zip(firsts) {
        // The masks are not wiped: the barrier's own copy cannot be, and
        // wiping this one cost 1.6 % per signing request in Envoy.
        let masks = BlackBox::new(equality_masks(position, first)).get();
        for (entry, mask) in entries.iter().zip(masks) {
            packed.or_masked(entry, mask);
        }
    }
    let mut point = packed.unpack();
    packed.zeroize();
    point.conditional_negate(Choice::from((sign & 1) as u8));
    point
}

/// `n` in 64-bit limbs, least significant first.
const ORDER_LIMBS: [u64; 4] = [
    0xf3b9_cac2_fc63_2551,
    0xbce6_faad_a717_9e84,
    0xffff_ffff_ffff_ffff,
    0xffff_ffff_0000_0000,
];

/// Entries whose masks pass one optimization barrier together. `subtle`
/// puts a barrier (an out-of-line volatile read) behind every `Choice`; one
/// per entry cost a sixth of a signature's time in V8 (BENCHMARKS.md,
/// "Selecting table entries").
const MASKS_PER_BARRIER: usize = 8;

/// All ones for the entry numbered `position`, zero for the others, of
/// the `MASKS_PER_BARRIER` entries numbered from `first`. Arithmetic alone; the
/// caller hides the result behind a barrier, so that the compiler cannot
/// know each mask is zero or all ones and turn the masking into a branch.
fn equality_masks(position: u16, first: u16) -> [u64; MASKS_PER_BARRIER] {
    let mut masks = [0u64; MASKS_PER_BARRIER];
    for (mask, number) in masks.iter_mut().zip(first..) {
        // Zero exactly when equal, else below 2^16: only then does
        // subtracting one set the top bit.
        let difference = u64::from(position ^ number);
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

    /// For width `W`: the digits of every scalar in `recoded` are odd, in
    /// range and recombine to it (negated when it is even), and `k·G` is
    /// `p256`'s for every scalar in `multiplied`.
    fn check_width<const W: usize>(recoded: &[Scalar], multiplied: &[Scalar]) {
        let bound = (1i16 << W) - 1;
        for k in recoded {
            let (digits, negated) = GeneratorTable::<W>::odd_digits(k);
            let used = &digits[..GeneratorTable::<W>::DIGITS];
            assert!(used.iter().all(|d| (-bound..=bound).contains(d)), "W = {W}");
            assert!(used.iter().all(|d| d % 2 != 0), "W = {W}: an even digit");
            assert!(digits[used.len()..].iter().all(|d| *d == 0));
            let even = bool::from(k.is_even());
            assert_eq!(bool::from(negated), even, "W = {W}");
            let expected = if even { -*k } else { *k };
            assert_eq!(recombined::<W>(used), expected, "W = {W}");
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
        // and in batches of 1 and 5.
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
        // Every power of two: for each width and digit, a scalar whose digits
        // are all ±1 or 2^W - 1 but one, even ones (made odd as n - k)
        // among them.
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
    fn select_reads_odd_signed_multiples() {
        let table = GeneratorTable::<3>::new();
        let row = &table.points[..GeneratorTable::<3>::ROW_LEN];
        for digit in (-7i16..=7).step_by(2) {
            let expected = if digit < 0 {
                -(ProjectivePoint::GENERATOR * Scalar::from(u64::from(digit.unsigned_abs())))
            } else {
                ProjectivePoint::GENERATOR * Scalar::from(u64::from(digit.unsigned_abs()))
            };
            assert_eq!(
                Some(select(row, digit)),
                Affine::from_p256(&expected.to_affine()),
                "digit {digit}"
            );
        }
    }
}
