//! Modular inversion by Bernstein and Yang's divsteps ("Fast constant-time
//! gcd computation and modular inversion", 2019), in the variable-time form,
//! written for Wasm's multiplier: numbers are nine signed limbs of 30 bits,
//! so every product is one `i64.mul`. `crypto-bigint`'s safegcd works on
//! 64-bit limbs, whose products Wasm can only form through a 128-bit
//! routine: a blinded field inversion took 48,800 instructions in V8 with
//! its variable-time safegcd and takes 26,400 with this one, a field
//! multiplication being about 360 (BENCHMARKS.md, "Inversions of our own,
//! affine sums in batches").
//!
//! Variable time: callers only invert values blinded by a fresh random
//! factor (`x·b` for uniform `b` is uniform whatever `x`), as
//! `FieldElement::invert` and the signer's `k⁻¹` do, and fall back to a
//! constant-time inversion when there is no random source. They also check
//! every inverse this returns (one multiplication) and take the
//! constant-time one should it be wrong.

/// Bits per limb.
const LIMB_BITS: u32 = 30;
const MASK: i64 = (1 << LIMB_BITS) - 1;
/// 9 × 30 = 270 bits: a 256-bit value, its sign and room to carry.
const LIMBS: usize = 9;
/// Divsteps per batch: one per bit of the low limb.
const STEPS: u32 = LIMB_BITS;
/// Batches before giving up: for inputs below 2^256 this divstep (with `δ`
/// starting at 1) reaches `g = 0` within 741 steps (the paper's bound,
/// Theorem 11.2), 25 batches, and about 530 on average. Not there by 64
/// would be a bug, and gives no inverse rather than a loop without end.
const MAX_BATCHES: usize = 64;

/// An odd modulus below 2^256, as the inversion needs it.
pub struct Modulus {
    /// The value in 30-bit limbs, least significant first.
    limbs: [i64; LIMBS],
    /// `1/m mod 2^30`.
    inverse_mod_2_30: i64,
}

/// P-256's field prime `p` (the tests check the limbs and the inverse).
pub const FIELD: Modulus = Modulus {
    limbs: [
        0x3fff_ffff,
        0x3fff_ffff,
        0x3fff_ffff,
        0x3f,
        0,
        0,
        0x1000,
        0x3fff_c000,
        0xffff,
    ],
    inverse_mod_2_30: 0x3fff_ffff,
};

/// P-256's group order `n` (the tests check the limbs and the inverse).
pub const ORDER: Modulus = Modulus {
    limbs: [
        0x3c63_2551,
        0x0ee7_2b0b,
        0x3179_e84f,
        0x39be_ab69,
        0x3fff_ffbc,
        0x3fff_ffff,
        0xfff,
        0x3fff_c000,
        0xffff,
    ],
    inverse_mod_2_30: 0x11ff_43b1,
};

/// `1/x mod m` as 32 big-endian bytes, for `x` below `m` (32 big-endian
/// bytes); `None` if `x` has no inverse (0, or a common factor with `m`).
///
/// What it computes on is not wiped: callers pass a blinded value (above).
pub fn invert_vartime(x: &[u8; 32], modulus: &Modulus) -> Option<[u8; 32]> {
    let m = &modulus.limbs;
    // Invariants: f ≡ d·x and g ≡ e·x (mod m); f odd; d and e in (-2m, m).
    let mut f = *m;
    let mut g = limbs_from_bytes(x);
    let mut d = [0i64; LIMBS];
    let mut e = ONE;
    let mut delta: i64 = 1;
    for _ in 0..MAX_BATCHES {
        if g.iter().all(|limb| *limb == 0) {
            return inverse_from(&f, &d, m);
        }
        let (next_delta, t) = divsteps(delta, f[0], g[0]);
        delta = next_delta;
        update_fg(&mut f, &mut g, &t);
        update_de(&mut d, &mut e, &t, modulus);
    }
    None
}

/// 1 and -1 in carried limbs.
const ONE: [i64; LIMBS] = [1, 0, 0, 0, 0, 0, 0, 0, 0];
const MINUS_ONE: [i64; LIMBS] = [MASK, MASK, MASK, MASK, MASK, MASK, MASK, MASK, -1];

/// `x⁻¹` once `g` is zero: `f = ±gcd(x, m)`, which must be ±1, and then
/// `x⁻¹ = ±d`, brought from (-2m, m) into [0, m).
fn inverse_from(f: &[i64; LIMBS], d: &[i64; LIMBS], m: &[i64; LIMBS]) -> Option<[u8; 32]> {
    let mut inverse = if *f == ONE {
        *d
    } else if *f == MINUS_ONE {
        negate(d)
    } else {
        return None;
    };
    while is_negative(&inverse) {
        inverse = add(&inverse, m);
    }
    while !is_negative(&subtract(&inverse, m)) {
        inverse = subtract(&inverse, m);
    }
    Some(limbs_to_bytes(&inverse))
}

/// The matrix of `STEPS` divsteps: `2^STEPS·(f', g') = (u·f + v·g, q·f +
/// r·g)`, each entry at most 2^30 in magnitude, `|u| + |v| ≤ 2^30` and
/// `|q| + |r| ≤ 2^30` (each step at most doubles a row's sum, or sets it to
/// the sum of both rows').
struct Transition {
    u: i64,
    v: i64,
    q: i64,
    r: i64,
}

/// `STEPS` divsteps on the low 30 bits of `f` and `g` (all that the next
/// `STEPS` steps depend on): each step halves `g` after making it even, so
/// step `i` reads only bits `0..=i`. Rather than halve, it doubles the
/// other row, so the matrix stays integral.
fn divsteps(mut delta: i64, f_low: i64, g_low: i64) -> (i64, Transition) {
    let (mut f, mut g) = (f_low, g_low);
    let (mut u, mut v, mut q, mut r) = (1i64, 0i64, 0i64, 1i64);
    for _ in 0..STEPS {
        if g & 1 == 0 {
            // (δ, f, g) → (1 + δ, f, g/2)
            delta += 1;
            g >>= 1;
            u <<= 1;
            v <<= 1;
        } else if delta > 0 {
            // (δ, f, g) → (1 - δ, g, (g - f)/2)
            delta = 1 - delta;
            (f, g) = (g, (g - f) >> 1);
            (u, v, q, r) = (q << 1, r << 1, q - u, r - v);
        } else {
            // (δ, f, g) → (1 + δ, f, (g + f)/2)
            delta += 1;
            g = (g + f) >> 1;
            (u, v, q, r) = (u << 1, v << 1, q + u, r + v);
        }
    }
    (delta, Transition { u, v, q, r })
}

/// `(f, g) ← ((u·f + v·g)/2^30, (q·f + r·g)/2^30)`, both divisions exact:
/// limb by limb, each result limb written one place down.
fn update_fg(f: &mut [i64; LIMBS], g: &mut [i64; LIMBS], t: &Transition) {
    // Limbs below 2^30 in magnitude, entries at most 2^30: each sum stays
    // below 2^62.
    let mut limbs = f.iter_mut().zip(g.iter_mut());
    let Some((f_low, g_low)) = limbs.next() else {
        return;
    };
    let mut carry_f = (t.u * *f_low + t.v * *g_low) >> LIMB_BITS;
    let mut carry_g = (t.q * *f_low + t.r * *g_low) >> LIMB_BITS;
    let (mut below_f, mut below_g) = (f_low, g_low);
    for (f_limb, g_limb) in limbs {
        carry_f += t.u * *f_limb + t.v * *g_limb;
        carry_g += t.q * *f_limb + t.r * *g_limb;
        *below_f = carry_f & MASK;
        *below_g = carry_g & MASK;
        carry_f >>= LIMB_BITS;
        carry_g >>= LIMB_BITS;
        (below_f, below_g) = (f_limb, g_limb);
    }
    *below_f = carry_f;
    *below_g = carry_g;
}

/// `(d, e) ← ((u·d + v·e)/2^30, (q·d + r·e)/2^30) mod m`, each division made
/// exact by adding a multiple of `m`, and the results kept in (-2m, m): a
/// negative `d` (or `e`) counts as `d + m` (so each is in (-m, m) and the
/// sums in (-2^30·m, 2^30·m)), and the multiple added to clear the low 30
/// bits is at most 0 and above -2^30·m. The multiples stay below 2^31 in
/// magnitude, so each limb's sum stays below 2^62.
fn update_de(d: &mut [i64; LIMBS], e: &mut [i64; LIMBS], t: &Transition, modulus: &Modulus) {
    let (d_negative, e_negative) = (is_negative(d), is_negative(e));
    let mut md = if d_negative { t.u } else { 0 } + if e_negative { t.v } else { 0 };
    let mut me = if d_negative { t.q } else { 0 } + if e_negative { t.r } else { 0 };
    let mut limbs = d.iter_mut().zip(e.iter_mut()).zip(&modulus.limbs);
    let Some(((d_low, e_low), m_low)) = limbs.next() else {
        return;
    };
    let carry_d = t.u * *d_low + t.v * *e_low;
    let carry_e = t.q * *d_low + t.r * *e_low;
    // Less (1/m·carry + md) mod 2^30, so that carry + md·m ≡ 0 (mod 2^30).
    md -= (modulus.inverse_mod_2_30 * (carry_d & MASK) + md) & MASK;
    me -= (modulus.inverse_mod_2_30 * (carry_e & MASK) + me) & MASK;
    let mut carry_d = (carry_d + md * m_low) >> LIMB_BITS;
    let mut carry_e = (carry_e + me * m_low) >> LIMB_BITS;
    let (mut below_d, mut below_e) = (d_low, e_low);
    for ((d_limb, e_limb), m_limb) in limbs {
        carry_d += t.u * *d_limb + t.v * *e_limb + md * m_limb;
        carry_e += t.q * *d_limb + t.r * *e_limb + me * m_limb;
        *below_d = carry_d & MASK;
        *below_e = carry_e & MASK;
        carry_d >>= LIMB_BITS;
        carry_e >>= LIMB_BITS;
        (below_d, below_e) = (d_limb, e_limb);
    }
    *below_d = carry_d;
    *below_e = carry_e;
}

/// The sign of a carried value: lower limbs in [0, 2^30), the top one
/// signed.
fn is_negative(limbs: &[i64; LIMBS]) -> bool {
    limbs.last().is_some_and(|top| *top < 0)
}

fn add(a: &[i64; LIMBS], b: &[i64; LIMBS]) -> [i64; LIMBS] {
    let mut sum = *a;
    for (limb, other) in sum.iter_mut().zip(b) {
        *limb += other;
    }
    carried(sum)
}

fn subtract(a: &[i64; LIMBS], b: &[i64; LIMBS]) -> [i64; LIMBS] {
    let mut difference = *a;
    for (limb, other) in difference.iter_mut().zip(b) {
        *limb -= other;
    }
    carried(difference)
}

fn negate(a: &[i64; LIMBS]) -> [i64; LIMBS] {
    carried(a.map(|limb| -limb))
}

/// Lower limbs into [0, 2^30), the excess (and the sign) into the top one.
fn carried(mut limbs: [i64; LIMBS]) -> [i64; LIMBS] {
    for i in 0..LIMBS - 1 {
        if let Some([low, high, ..]) = limbs.get_mut(i..) {
            *high += *low >> LIMB_BITS;
            *low &= MASK;
        }
    }
    limbs
}

/// 32 big-endian bytes in 30-bit limbs.
fn limbs_from_bytes(bytes: &[u8; 32]) -> [i64; LIMBS] {
    let mut limbs = [0i64; LIMBS];
    let mut out = limbs.iter_mut();
    // Bytes from the least significant, gathered into 30-bit limbs.
    let (mut pending, mut pending_bits) = (0i64, 0u32);
    for byte in bytes.iter().rev() {
        pending |= i64::from(*byte) << pending_bits;
        pending_bits += 8;
        if pending_bits >= LIMB_BITS {
            if let Some(limb) = out.next() {
                *limb = pending & MASK;
            }
            pending >>= LIMB_BITS;
            pending_bits -= LIMB_BITS;
        }
    }
    if let Some(limb) = out.next() {
        *limb = pending;
    }
    limbs
}

/// A value in [0, 2^256) back to 32 big-endian bytes.
fn limbs_to_bytes(limbs: &[i64; LIMBS]) -> [u8; 32] {
    let mut bytes = [0u8; 32];
    let limb = |index: usize| limbs.get(index).copied().unwrap_or(0);
    for (index, byte) in bytes.iter_mut().rev().enumerate() {
        let bit = index * 8;
        let (at, shift) = (bit / LIMB_BITS as usize, bit % LIMB_BITS as usize);
        let mut value = limb(at) >> shift;
        if shift + 8 > LIMB_BITS as usize {
            value |= limb(at + 1) << (LIMB_BITS as usize - shift);
        }
        *byte = (value & 0xff) as u8;
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::elliptic_curve::bigint::{Odd, U256};

    const P_HEX: &str = "ffffffff00000001000000000000000000000000ffffffffffffffffffffffff";
    const N_HEX: &str = "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551";

    fn bytes_of(value: &U256) -> [u8; 32] {
        value.to_be_bytes().into()
    }

    fn values(modulus: &U256) -> Vec<U256> {
        let mut values: Vec<U256> = [1u64, 2, 3, 0x3fff_ffff, 0x4000_0000, u64::MAX]
            .into_iter()
            .map(U256::from_u64)
            .collect();
        for d in 1u64..=3 {
            values.push(modulus.wrapping_sub(&U256::from_u64(d)));
        }
        for bit in 0..256 {
            let power = U256::ONE.shl_vartime(bit);
            if power < *modulus {
                values.push(power);
                values.push(modulus.wrapping_sub(&power));
            }
        }
        for pattern in ["5555", "aaaa", "ffff", "0001"] {
            let value = U256::from_be_hex(&pattern.repeat(16));
            values.push(value.wrapping_rem_vartime(&modulus.to_nz().unwrap()));
        }
        // Random values from SHA-256 of a counter (deterministic, so a
        // failure reproduces).
        use sha2::Digest as _;
        for counter in 0u32..4000 {
            let digest: [u8; 32] = sha2::Sha256::digest(counter.to_be_bytes()).into();
            let value = U256::from_be_slice(&digest);
            values.push(value.wrapping_rem_vartime(&modulus.to_nz().unwrap()));
        }
        values
    }

    impl Modulus {
        /// Any odd modulus below 2^256, its inverse by Newton's iteration
        /// (each step doubles the correct low bits, from 1 right mod 2).
        fn new(bytes: &[u8; 32]) -> Self {
            let limbs = limbs_from_bytes(bytes);
            let inverse = (0..5).fold(1i64, |inverse, _| {
                inverse.wrapping_mul(2i64.wrapping_sub(limbs[0].wrapping_mul(inverse)))
            });
            Self {
                limbs,
                inverse_mod_2_30: inverse & MASK,
            }
        }
    }

    fn check(modulus_hex: &str, ours: &Modulus) {
        let modulus = U256::from_be_hex(modulus_hex);
        assert_eq!(ours.limbs, Modulus::new(&bytes_of(&modulus)).limbs);
        let odd = Odd::new(modulus).unwrap();
        for value in values(&modulus) {
            let expected: U256 = Option::from(value.invert_odd_mod(&odd)).unwrap();
            let inverse = invert_vartime(&bytes_of(&value), ours);
            assert_eq!(
                inverse,
                Some(bytes_of(&expected)),
                "1/{value} mod {modulus}"
            );
        }
        assert_eq!(invert_vartime(&[0; 32], ours), None, "0 has no inverse");
    }

    #[test]
    fn inverses_modulo_p_agree_with_crypto_bigint() {
        check(P_HEX, &FIELD);
    }

    #[test]
    fn inverses_modulo_n_agree_with_crypto_bigint() {
        check(N_HEX, &ORDER);
    }

    #[test]
    fn a_common_factor_has_no_inverse() {
        // Modulo 15, 5 and 3 share a factor with the modulus; 7 does not.
        let mut fifteen = [0u8; 32];
        fifteen[31] = 15;
        let modulus = Modulus::new(&fifteen);
        let value = |v: u8| {
            let mut bytes = [0u8; 32];
            bytes[31] = v;
            bytes
        };
        assert_eq!(invert_vartime(&value(5), &modulus), None);
        assert_eq!(invert_vartime(&value(3), &modulus), None);
        assert_eq!(invert_vartime(&value(7), &modulus), Some(value(13)));
    }

    #[test]
    fn the_constants_are_p_and_n_with_their_inverses_modulo_2_30() {
        for (constant, hex) in [(FIELD, P_HEX), (ORDER, N_HEX)] {
            let bytes = bytes_of(&U256::from_be_hex(hex));
            assert_eq!(constant.limbs, limbs_from_bytes(&bytes));
            assert_eq!(limbs_to_bytes(&constant.limbs), bytes);
            assert_eq!((constant.inverse_mod_2_30 * constant.limbs[0]) & MASK, 1);
        }
    }
}
