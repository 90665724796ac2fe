//! P-256 points over [`FieldElement`]: just what the comb needs, two mixed
//! additions (a fast one in Jacobian coordinates for the sums where the comb
//! proves `p ≠ ±q`, a complete one for the rest) and the way back to
//! `p256`'s points.

use p256::elliptic_curve::sec1::{FromSec1Point as _, Sec1Point, ToSec1Point as _};
use p256::elliptic_curve::subtle::{Choice, ConditionallySelectable as _};
use p256::{AffinePoint, NistP256};
use zeroize::Zeroize;

use super::field::{FieldElement, WORDS};

/// The curve's `b`, big-endian.
const B: [u8; 32] = [
    0x5a, 0xc6, 0x35, 0xd8, 0xaa, 0x3a, 0x93, 0xe7, 0xb3, 0xeb, 0xbd, 0x55, 0x76, 0x98, 0x86, 0xbc,
    0x65, 0x1d, 0x06, 0xb0, 0xcc, 0x53, 0xb0, 0xf6, 0x3b, 0xce, 0x3c, 0x3e, 0x27, 0xd2, 0x60, 0x4b,
];

/// A point other than the identity, in affine coordinates.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Affine {
    x: FieldElement,
    y: FieldElement,
}

impl Affine {
    /// `None` for the identity, which has no affine coordinates.
    pub fn from_p256(point: &AffinePoint) -> Option<Self> {
        let encoded = point.to_sec1_point(false);
        let coordinate = |bytes: Option<&p256::FieldBytes>| {
            let bytes: &[u8; 32] = bytes?.as_slice().try_into().ok()?;
            FieldElement::from_bytes(bytes)
        };
        Some(Self {
            x: coordinate(encoded.x())?,
            y: coordinate(encoded.y())?,
        })
    }

    pub fn conditional_negate(&mut self, choice: Choice) {
        let negated = self.y.neg();
        self.y.conditional_assign(&negated, choice);
    }
}

/// An [`Affine`] as a table row holds it (see [`FieldElement::pack_with`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PackedAffine([u64; 2 * WORDS]);

impl PackedAffine {
    pub fn new(point: &Affine) -> Self {
        Self(point.x.pack_with(&point.y))
    }

    pub fn unpack(&self) -> Affine {
        let (x, y) = FieldElement::unpack(&self.0);
        Affine { x, y }
    }

    /// ORs `other & mask` in: over an all-zero point and with a mask of
    /// zero or all ones, a copy of `other` or nothing.
    pub fn or_masked(&mut self, other: &Self, mask: u64) {
        for (word, other) in self.0.iter_mut().zip(other.0) {
            *word |= other & mask;
        }
    }
}

impl Affine {
    /// `self + q` for `self ≠ ±q`, given `1/(q.x - self.x)`: with
    /// `λ = (q.y - self.y)/(q.x - self.x)`, the sum is
    /// `(λ² - self.x - q.x, λ·(self.x - x) - self.y)`. 2 multiplications and
    /// a squaring once the inverse is known, which is why a batch of sums
    /// shares one inversion ([`Curve::invert_all`]) per addition.
    pub fn plus(&self, q: &Self, dx_inverse: &FieldElement) -> Self {
        let lambda = q.y.sub_unreduced(&self.y).mul(dx_inverse);
        let x = lambda.square().sub(&self.x).sub(&q.x);
        let y = self.x.sub_unreduced(&x).mul(&lambda).sub(&self.y);
        Self { x, y }
    }

    /// `q.x - self.x`, what [`Self::plus`] inverts.
    pub fn dx(&self, q: &Self) -> FieldElement {
        q.x.sub(&self.x)
    }
}

impl Zeroize for PackedAffine {
    fn zeroize(&mut self) {
        self.0.zeroize();
    }
}

impl Zeroize for Affine {
    fn zeroize(&mut self) {
        self.x.zeroize();
        self.y.zeroize();
    }
}

/// A point in homogeneous projective coordinates `(X : Y : Z)`,
/// `x = X/Z`, `y = Y/Z`; the identity is `(0 : 1 : 0)`.
#[derive(Clone, Copy, Debug)]
pub struct Projective {
    x: FieldElement,
    y: FieldElement,
    z: FieldElement,
}

/// A point in Jacobian coordinates `(X : Y : Z)`, `x = X/Z²`, `y = Y/Z³`;
/// the identity has `Z = 0`.
#[derive(Clone, Copy, Debug)]
pub struct Jacobian {
    x: FieldElement,
    y: FieldElement,
    z: FieldElement,
}

impl Jacobian {
    /// The same point in homogeneous coordinates: `(X·Z : Y : Z³)` (for a
    /// point other than the identity, which the comb's Jacobian sums never
    /// are).
    pub fn to_projective(self) -> Projective {
        Projective {
            x: self.x.mul(&self.z),
            y: self.y,
            z: self.z.square().mul(&self.z),
        }
    }
}

/// Per-table constants of the addition formulas.
#[derive(Clone, Copy, Debug)]
pub struct Curve {
    b: FieldElement,
    one: FieldElement,
}

impl Curve {
    pub fn new() -> Self {
        let mut one = [0u8; 32];
        one[31] = 1;
        // Both are below p, so neither default is ever taken (the tests
        // against `p256` would fail if one were).
        Self {
            b: FieldElement::from_bytes(&B).unwrap_or_default(),
            one: FieldElement::from_bytes(&one).unwrap_or_default(),
        }
    }

    pub fn jacobian(&self, q: &Affine) -> Jacobian {
        Jacobian {
            x: q.x,
            y: q.y,
            z: self.one,
        }
    }

    /// `p` in homogeneous coordinates `(x : y : 1)`.
    pub fn projective(&self, p: &Affine) -> Projective {
        Projective {
            x: p.x,
            y: p.y,
            z: self.one,
        }
    }

    /// The identity in homogeneous coordinates, `(0 : 1 : 0)`.
    pub fn identity(&self) -> Projective {
        Projective {
            x: FieldElement::ZERO,
            y: self.one,
            z: FieldElement::ZERO,
        }
    }

    /// `p + q` for `p ≠ ±q` and `p` not the identity (otherwise the result
    /// is wrong, which is why the comb proves both cases away). Jacobian mixed
    /// addition, `madd-2007-bl` of the Explicit-Formulas Database with
    /// `4·H² = (2·H)²` and `Z3 = Z1·2·H`: 8 multiplications, 3 squarings and
    /// 10 additions or subtractions, against [`Self::add_mixed`]'s 13
    /// multiplications and 21 additions or subtractions.
    pub fn add_mixed_unless_equal(&self, p: &Jacobian, q: &Affine) -> Jacobian {
        let z1z1 = p.z.square();
        let u2 = q.x.mul(&z1z1);
        let s2 = q.y.mul(&p.z).mul(&z1z1);
        let h = u2.sub(&p.x);
        let h_doubled = h.add_unreduced(&h);
        let i = h_doubled.square();
        let j = h.mul(&i);
        let r = s2.sub(&p.y);
        let r = r.add_unreduced(&r);
        let v = p.x.mul(&i);
        let x = r.square().sub(&j).sub(&v.double());
        let y = r.mul(&v.sub_unreduced(&x)).sub(&p.y.mul(&j).double());
        let z = p.z.mul(&h_doubled);
        Jacobian { x, y, z }
    }

    /// `p + q`, complete for every `p` (the identity and `p = ±q`
    /// included): Renes, Costello and Batina, "Complete addition formulas
    /// for prime order elliptic curves" (2016), Algorithm 5, mixed addition
    /// for `a = -3`. 13 multiplications.
    pub fn add_mixed(&self, p: &Projective, q: &Affine) -> Projective {
        let xx = p.x.mul(&q.x);
        let yy = p.y.mul(&q.y);
        let xy_cross =
            p.x.add_unreduced(&p.y)
                .mul(&q.x.add_unreduced(&q.y))
                .sub(&xx.add(&yy));
        let yz_cross = q.y.mul(&p.z).add_unreduced(&p.y);
        let xz_cross = q.x.mul(&p.z).add(&p.x);

        let bz3 = triple(&xz_cross.sub(&self.b.mul(&p.z)));
        let yy_minus_bz3 = yy.sub_unreduced(&bz3);
        let yy_plus_bz3 = yy.add_unreduced(&bz3);
        let z3 = triple(&p.z);
        let bxz3 = triple(&self.b.mul(&xz_cross).sub(&z3).sub(&xx));
        let xx3_minus_z3 = triple(&xx).sub_unreduced(&z3);

        Projective {
            x: yy_plus_bz3.mul(&xy_cross).sub(&yz_cross.mul(&bxz3)),
            y: yy_plus_bz3.mul(&yy_minus_bz3).add(&xx3_minus_z3.mul(&bxz3)),
            z: yy_minus_bz3
                .mul(&yz_cross)
                .add(&xy_cross.mul(&xx3_minus_z3)),
        }
    }

    /// Each element replaced by its inverse, with one inversion for all
    /// of them (Montgomery's trick: 3 multiplications an element). Every
    /// element must be nonzero: a zero would zero every inverse.
    pub fn invert_all(&self, elements: &mut [FieldElement]) {
        // prefix[i] = e_0·…·e_(i-1)
        let mut prefix = Vec::with_capacity(elements.len());
        let mut product = self.one;
        for element in elements.iter() {
            prefix.push(product);
            product = product.mul(element);
        }
        let mut inverse = product.invert();
        for (element, before) in elements.iter_mut().zip(&prefix).rev() {
            // inverse = 1/(e_0·…·e_i), so this is 1/e_i.
            let element_inverse = inverse.mul(before);
            inverse = inverse.mul(element);
            *element = element_inverse;
        }
        inverse.zeroize();
        prefix.zeroize();
    }

    /// The same points in affine form, for `p256`, with one inversion for
    /// all of them. The identity comes back as `p256`'s identity.
    pub fn normalize(&self, points: &[Projective]) -> Vec<AffinePoint> {
        // With the identity's Z = 0 taken as 1, every Z is invertible.
        let mut z_inverses: Vec<FieldElement> = points
            .iter()
            .map(|point| FieldElement::conditional_select(&point.z, &self.one, point.z.is_zero()))
            .collect();
        self.invert_all(&mut z_inverses);
        let affine = points
            .iter()
            .zip(&z_inverses)
            .map(|(point, z_inverse)| {
                // The identity stays `p256`'s identity. Whether a point is
                // the identity is no secret (it is for k = 0 only), so this
                // may branch.
                if bool::from(point.z.is_zero()) {
                    return AffinePoint::IDENTITY;
                }
                let encoded = Sec1Point::<NistP256>::from_affine_coordinates(
                    &point.x.mul(z_inverse).to_bytes().into(),
                    &point.y.mul(z_inverse).to_bytes().into(),
                    false,
                );
                // A point off the curve would be a bug in the arithmetic
                // above, which the tests against `p256` would catch; `p256`
                // checks the curve equation here, and such a point would
                // come back as the identity.
                Option::<AffinePoint>::from(AffinePoint::from_sec1_point(&encoded))
                    .unwrap_or(AffinePoint::IDENTITY)
            })
            .collect();
        z_inverses.zeroize();
        affine
    }
}

fn triple(value: &FieldElement) -> FieldElement {
    value.double().add(value)
}

impl Projective {
    /// `-self` if `choice`: `(X : -Y : Z)`.
    pub fn conditional_negate(&mut self, choice: Choice) {
        let negated = self.y.neg();
        self.y.conditional_assign(&negated, choice);
    }
}
