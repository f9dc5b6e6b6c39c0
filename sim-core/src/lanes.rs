//! Lane values: the small numeric interface a branch-free step is written against once, and
//! instantiated twice, as plain scalars that a loop over a chunk's slots turns into SIMD code
//! ([`Scalar`]), and as tensors on a device (`crate::device::Tensors`, with the feature
//! `device`).
//!
//! The style is gymnax's: every branch of the dynamics is computed and its effect chosen with
//! [`select`] (`jnp.where`). A step generic over [`Lanes`] reads like scalar code with masks:
//!
//! ```
//! use sim_core::lanes::{Lanes, Real, Scalar, select};
//!
//! /// A thermostat: heat by `rate` while below `target`, drift down by 1 otherwise.
//! fn step<V: Lanes>(temperature: V::F, target: f32, rate: f32) -> V::F {
//!     let cold = temperature.clone().lt_c(target);
//!     let heated = temperature.clone() + rate;
//!     select(cold, heated, temperature - 1.0)
//! }
//! assert_eq!(step::<Scalar>(18.0, 20.0, 0.5), 18.5);
//! assert_eq!(step::<Scalar>(21.0, 20.0, 0.5), 20.0);
//! ```
//!
//! Values are taken by value, as burn's tensors take them: clone what is used twice (free for
//! scalars). Arithmetic is exactly `f32`/`f64` arithmetic in the order written, so an
//! instantiation on a CPU backend agrees with the scalar form bit for bit. Small integers
//! (steps, counts, GPUs) are `f32` lanes: exact up to 2^24.

use std::ops::{Add, BitAnd, BitOr, Div, Mul, Neg, Not, Sub};

use crate::rng::{bits_to_unit_f32, draw_salt, mix32};

/// An element type of [`Real`] lanes.
pub trait Element: Copy + 'static {
    /// 0.
    const ZERO: Self;
    /// 1.
    const ONE: Self;
}

impl Element for f32 {
    const ZERO: f32 = 0.0;
    const ONE: f32 = 1.0;
}

impl Element for f64 {
    const ZERO: f64 = 0.0;
    const ONE: f64 = 1.0;
}

/// Floating-point lanes with element type `E` (`f32` or `f64`).
pub trait Real<E: Element>:
    Clone
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + Add<E, Output = Self>
    + Sub<E, Output = Self>
    + Mul<E, Output = Self>
    + Div<E, Output = Self>
{
    /// The masks comparisons give.
    type Mask: Mask;
    /// Lanes holding `value`, shaped like `self`.
    fn splat(&self, value: E) -> Self;
    /// `self < other`.
    fn lt(self, other: Self) -> Self::Mask;
    /// `self <= other`.
    fn le(self, other: Self) -> Self::Mask;
    /// `self < c`.
    fn lt_c(self, c: E) -> Self::Mask;
    /// `self <= c`.
    fn le_c(self, c: E) -> Self::Mask;
    /// `self > c`.
    fn gt_c(self, c: E) -> Self::Mask;
    /// `self >= c`.
    fn ge_c(self, c: E) -> Self::Mask;
    /// `self == c`.
    fn eq_c(self, c: E) -> Self::Mask;
    /// `if mask { then } else { otherwise }`, lane by lane.
    fn select(mask: Self::Mask, then: Self, otherwise: Self) -> Self;
    /// `min(self, c)`.
    fn min_c(self, c: E) -> Self;
    /// `max(self, c)`.
    fn max_c(self, c: E) -> Self;
    /// `|self|`.
    fn abs(self) -> Self;
    /// `sin(self)`: the platform's (libm, or the device's), so not for steps that must agree
    /// across platforms in every bit.
    fn sin(self) -> Self;
    /// `cos(self)`, as [`Real::sin`].
    fn cos(self) -> Self;
    /// 1 where `mask` holds, 0 elsewhere, shaped like `self`.
    #[inline(always)]
    fn flag(&self, mask: Self::Mask) -> Self {
        Self::select(mask, self.splat(E::ONE), self.splat(E::ZERO))
    }
}

/// Boolean lanes: `&`, `|` and `!` among masks, and `&`/`|` with a constant (a parameter).
pub trait Mask:
    Clone
    + BitAnd<Output = Self>
    + BitOr<Output = Self>
    + Not<Output = Self>
    + BitAnd<bool, Output = Self>
    + BitOr<bool, Output = Self>
{
    /// `if self { then } else { otherwise }`, lane by lane.
    fn pick(self, then: Self, otherwise: Self) -> Self;
}

/// `if mask { then } else { otherwise }`, lane by lane.
#[inline(always)]
pub fn select<E: Element, R: Real<E>>(mask: R::Mask, then: R, otherwise: R) -> R {
    R::select(mask, then, otherwise)
}

/// A family of lane types: what a step generic over lanes is written against.
pub trait Lanes: Sized + 'static {
    /// `f32` lanes.
    type F: Real<f32, Mask = Self::M>;
    /// `f64` lanes.
    type D: Real<f64, Mask = Self::M>;
    /// Masks.
    type M: Mask;
    /// Actions (indices of a discrete action space).
    type A: Clone;
    /// The per-step base words of the slots' counter-based streams
    /// ([`crate::rng::Draws::base_of`]).
    type Words: Clone;
    /// Where lanes are made: `()` for scalars, the device for tensors.
    type Context;

    /// Where the action is `action`.
    fn is(actions: &Self::A, action: u32) -> Self::M;
    /// The uniform `f32` of draw `draw` ([`crate::rng::Draws::uniform`], bit for bit).
    fn uniform(words: &Self::Words, draw: u32) -> Self::F;
    /// The uniform of draw `draws[k].1` for the first `k` whose mask holds, else of
    /// `otherwise`: for draws of mutually exclusive events, which a scalar instantiation
    /// evaluates once (its index picked by the masks) and a tensor one evaluates each of.
    fn uniform_of(words: &Self::Words, draws: &[(Self::M, u32)], otherwise: u32) -> Self::F {
        draws.iter().rev().fold(Self::uniform(words, otherwise), |acc, (m, d)| {
            <Self::F as Real<f32>>::select(m.clone(), Self::uniform(words, *d), acc)
        })
    }
    /// `f64` lanes rounded to `f32`.
    fn narrow(d: Self::D) -> Self::F;
    /// `f32` lanes as `f64` (exact).
    fn widen(f: Self::F) -> Self::D;
    /// Lanes holding `values`, one per slot.
    fn floats(cx: &Self::Context, values: Vec<f32>) -> Self::F;
    /// Lanes holding `values`, one per slot.
    fn doubles(cx: &Self::Context, values: Vec<f64>) -> Self::D;
    /// Lanes holding `values`, one per slot.
    fn masks(cx: &Self::Context, values: Vec<bool>) -> Self::M;
    /// The values of `lanes`, one per slot.
    fn read_floats(lanes: &Self::F) -> Vec<f32>;
    /// The values of `lanes`, one per slot.
    fn read_doubles(lanes: &Self::D) -> Vec<f64>;
    /// The values of `lanes`, one per slot.
    fn read_masks(lanes: &Self::M) -> Vec<bool>;
}

/// One slot's values as plain scalars: the lanes of a loop over a chunk's slots, which LLVM
/// vectorises when the step is branch-free.
#[derive(Clone, Copy, Debug)]
pub struct Scalar;

impl Real<f32> for f32 {
    type Mask = bool;
    #[inline(always)]
    fn splat(&self, value: f32) -> f32 {
        value
    }
    #[inline(always)]
    fn lt(self, other: f32) -> bool {
        self < other
    }
    #[inline(always)]
    fn le(self, other: f32) -> bool {
        self <= other
    }
    #[inline(always)]
    fn lt_c(self, c: f32) -> bool {
        self < c
    }
    #[inline(always)]
    fn le_c(self, c: f32) -> bool {
        self <= c
    }
    #[inline(always)]
    fn gt_c(self, c: f32) -> bool {
        self > c
    }
    #[inline(always)]
    fn ge_c(self, c: f32) -> bool {
        self >= c
    }
    #[inline(always)]
    fn eq_c(self, c: f32) -> bool {
        self == c
    }
    #[inline(always)]
    fn select(mask: bool, then: f32, otherwise: f32) -> f32 {
        if mask { then } else { otherwise }
    }
    #[inline(always)]
    fn min_c(self, c: f32) -> f32 {
        self.min(c)
    }
    #[inline(always)]
    fn max_c(self, c: f32) -> f32 {
        self.max(c)
    }
    #[inline(always)]
    fn abs(self) -> f32 {
        f32::abs(self)
    }
    #[inline(always)]
    fn sin(self) -> f32 {
        f32::sin(self)
    }
    #[inline(always)]
    fn cos(self) -> f32 {
        f32::cos(self)
    }
}

impl Real<f64> for f64 {
    type Mask = bool;
    #[inline(always)]
    fn splat(&self, value: f64) -> f64 {
        value
    }
    #[inline(always)]
    fn lt(self, other: f64) -> bool {
        self < other
    }
    #[inline(always)]
    fn le(self, other: f64) -> bool {
        self <= other
    }
    #[inline(always)]
    fn lt_c(self, c: f64) -> bool {
        self < c
    }
    #[inline(always)]
    fn le_c(self, c: f64) -> bool {
        self <= c
    }
    #[inline(always)]
    fn gt_c(self, c: f64) -> bool {
        self > c
    }
    #[inline(always)]
    fn ge_c(self, c: f64) -> bool {
        self >= c
    }
    #[inline(always)]
    fn eq_c(self, c: f64) -> bool {
        self == c
    }
    #[inline(always)]
    fn select(mask: bool, then: f64, otherwise: f64) -> f64 {
        if mask { then } else { otherwise }
    }
    #[inline(always)]
    fn min_c(self, c: f64) -> f64 {
        self.min(c)
    }
    #[inline(always)]
    fn max_c(self, c: f64) -> f64 {
        self.max(c)
    }
    #[inline(always)]
    fn abs(self) -> f64 {
        f64::abs(self)
    }
    #[inline(always)]
    fn sin(self) -> f64 {
        f64::sin(self)
    }
    #[inline(always)]
    fn cos(self) -> f64 {
        f64::cos(self)
    }
}

impl Mask for bool {
    #[inline(always)]
    fn pick(self, then: bool, otherwise: bool) -> bool {
        if self { then } else { otherwise }
    }
}

impl Lanes for Scalar {
    type F = f32;
    type D = f64;
    type M = bool;
    type A = u32;
    type Words = u32;
    type Context = ();

    #[inline(always)]
    fn is(actions: &u32, action: u32) -> bool {
        *actions == action
    }
    #[inline(always)]
    fn uniform(words: &u32, draw: u32) -> f32 {
        bits_to_unit_f32(mix32(*words ^ draw_salt(draw)))
    }
    /// One hash, its salt picked by the masks: the branch-free lane loop stays short.
    #[inline(always)]
    fn uniform_of(words: &u32, draws: &[(bool, u32)], otherwise: u32) -> f32 {
        let salt = draws.iter().rev().fold(draw_salt(otherwise), |acc, &(m, d)| if m { draw_salt(d) } else { acc });
        bits_to_unit_f32(mix32(*words ^ salt))
    }
    #[inline(always)]
    fn narrow(d: f64) -> f32 {
        d as f32
    }
    #[inline(always)]
    fn widen(f: f32) -> f64 {
        f64::from(f)
    }
    fn floats(_: &(), values: Vec<f32>) -> f32 {
        one_value(values)
    }
    fn doubles(_: &(), values: Vec<f64>) -> f64 {
        one_value(values)
    }
    fn masks(_: &(), values: Vec<bool>) -> bool {
        one_value(values)
    }
    fn read_floats(lanes: &f32) -> Vec<f32> {
        vec![*lanes]
    }
    fn read_doubles(lanes: &f64) -> Vec<f64> {
        vec![*lanes]
    }
    fn read_masks(lanes: &bool) -> Vec<bool> {
        vec![*lanes]
    }
}

fn one_value<T>(values: Vec<T>) -> T {
    let [v]: [T; 1] =
        values.try_into().unwrap_or_else(|v: Vec<T>| panic!("scalar lanes hold one value, not {}", v.len()));
    v
}

/// Declares a state made of lanes, generic over a [`Lanes`] family, with named `f32`, `f64`
/// and mask fields; `select` (lane by lane, for autoreset), `stack` and `unstack` (to and from
/// one-slot scalar lanes), and a struct-of-arrays block of [`crate::runner::CHUNK`] slots for
/// the CPU loop, whose `lane`/`set_lane` load and store one slot's scalar lanes.
///
/// ```
/// sim_core::lane_state! {
///     /// A cart's state.
///     pub struct CartLanes, block CartBlock {
///         f32 {
///             /// Position.
///             x,
///         }
///         f64 {}
///         mask {
///             /// Braking.
///             braking,
///         }
///     }
/// }
/// use sim_core::lanes::Scalar;
/// let a = CartLanes::<Scalar> { x: 1.0, braking: true };
/// let b = CartLanes::<Scalar> { x: 2.0, braking: false };
/// assert_eq!(CartLanes::select(false, a.clone(), b.clone()).x, 2.0);
/// let mut block = CartBlock::new(3);
/// block.set_lane(2, a);
/// assert!(block.lane(2).braking && !block.lane(0).braking);
/// ```
#[macro_export]
macro_rules! lane_state {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident, block $block:ident {
            f32 { $( $(#[$fm:meta])* $f:ident ),* $(,)? }
            f64 { $( $(#[$dm:meta])* $d:ident ),* $(,)? }
            mask { $( $(#[$mm:meta])* $m:ident ),* $(,)? }
        }
    ) => {
        $(#[$meta])*
        $vis struct $name<V: $crate::lanes::Lanes> {
            $( $(#[$fm])* pub $f: V::F, )*
            $( $(#[$dm])* pub $d: V::D, )*
            $( $(#[$mm])* pub $m: V::M, )*
        }

        impl<V: $crate::lanes::Lanes> Clone for $name<V> {
            fn clone(&self) -> Self {
                $name { $( $f: self.$f.clone(), )* $( $d: self.$d.clone(), )* $( $m: self.$m.clone(), )* }
            }
        }

        #[allow(dead_code)]
        impl<V: $crate::lanes::Lanes> $name<V> {
            /// `if mask { a } else { b }`, field by field and lane by lane.
            #[inline(always)]
            pub fn select(mask: V::M, a: Self, b: Self) -> Self {
                use $crate::lanes::{Mask, Real};
                $name {
                    $( $f: <V::F as Real<f32>>::select(mask.clone(), a.$f, b.$f), )*
                    $( $d: <V::D as Real<f64>>::select(mask.clone(), a.$d, b.$d), )*
                    $( $m: mask.clone().pick(a.$m, b.$m), )*
                }
            }

            /// The slots' one-slot states as lanes of `V`, made in `cx`.
            pub fn stack(cx: &V::Context, slots: &[$name<$crate::lanes::Scalar>]) -> Self {
                $name {
                    $( $f: V::floats(cx, slots.iter().map(|s| s.$f).collect()), )*
                    $( $d: V::doubles(cx, slots.iter().map(|s| s.$d).collect()), )*
                    $( $m: V::masks(cx, slots.iter().map(|s| s.$m).collect()), )*
                }
            }

            /// Every slot's state as one-slot lanes.
            pub fn unstack(&self) -> Vec<$name<$crate::lanes::Scalar>> {
                $( let $f = V::read_floats(&self.$f); )*
                $( let $d = V::read_doubles(&self.$d); )*
                $( let $m = V::read_masks(&self.$m); )*
                let lens = [$( $f.len(), )* $( $d.len(), )* $( $m.len(), )*];
                let n = lens.first().copied().unwrap_or(0);
                (0..n).map(|i| $name { $( $f: $f[i], )* $( $d: $d[i], )* $( $m: $m[i], )* }).collect()
            }
        }

        #[doc = concat!("The states of one chunk of slots as arrays of lanes, one per field of [`", stringify!($name), "`] (the masks packed as the bits of one word per slot, so that every lane is 32 or 64 bits wide and the loop vectorises).")]
        #[derive(Clone)]
        $vis struct $block {
            len: usize,
            $( $f: [f32; $crate::runner::CHUNK], )*
            $( $d: [f64; $crate::runner::CHUNK], )*
            masks: [u32; $crate::runner::CHUNK],
        }

        #[allow(dead_code)]
        impl $block {
            /// A block of `len` slots, every lane zero (or false).
            pub fn new(len: usize) -> Self {
                assert!(len <= $crate::runner::CHUNK, "a block holds at most {} slots", $crate::runner::CHUNK);
                $block {
                    len,
                    $( $f: [0.0; $crate::runner::CHUNK], )*
                    $( $d: [0.0; $crate::runner::CHUNK], )*
                    masks: [0; $crate::runner::CHUNK],
                }
            }

            /// Number of slots.
            #[inline(always)]
            pub fn len(&self) -> usize {
                self.len
            }

            /// Whether the block holds no slot.
            pub fn is_empty(&self) -> bool {
                self.len == 0
            }

            /// Slot `j`'s lanes.
            #[inline(always)]
            pub fn lane(&self, j: usize) -> $name<$crate::lanes::Scalar> {
                #[allow(non_camel_case_types, dead_code)]
                enum Bit { $( $m, )* }
                let w = self.masks[j];
                let _ = w;
                $name { $( $f: self.$f[j], )* $( $d: self.$d[j], )* $( $m: w & (1 << Bit::$m as u32) != 0, )* }
            }

            /// Stores slot `j`'s lanes.
            #[inline(always)]
            pub fn set_lane(&mut self, j: usize, l: $name<$crate::lanes::Scalar>) {
                #[allow(non_camel_case_types, dead_code)]
                enum Bit { $( $m, )* }
                $( self.$f[j] = l.$f; )*
                $( self.$d[j] = l.$d; )*
                self.masks[j] = 0 $( | (u32::from(l.$m) << Bit::$m as u32) )*;
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{Draws, StreamKey};

    #[test]
    fn scalar_uniforms_are_the_generators() {
        let key = StreamKey([11, 22]);
        for step in 0..100 {
            let d = Draws::new(key, step);
            let w = Draws::base_of(key, step);
            for draw in 0..8 {
                assert_eq!(Scalar::uniform(&w, draw).to_bits(), d.uniform(draw).to_bits());
            }
            // The first draw whose mask holds, else the fallback.
            let of = |a, b| Scalar::uniform_of(&w, &[(a, 3), (b, 5)], 7);
            assert_eq!(of(true, true), d.uniform(3));
            assert_eq!(of(false, true), d.uniform(5));
            assert_eq!(of(false, false), d.uniform(7));
        }
    }
}
