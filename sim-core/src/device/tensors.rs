//! [`Lanes`] as tensors: a batch's lanes are the elements of one-dimensional tensors, and every
//! operation of a step generic over lanes is a tensor operation on the whole batch.

use std::ops::{Add, BitAnd, BitOr, Div, Mul, Neg, Not, Sub};

use burn::tensor::backend::Backend;
use burn::tensor::{Bool, DType, FloatDType, Int, Tensor, TensorData};

use super::rng::{Words, uniform_f32};
use crate::lanes::{Lanes, Mask, Real};

/// The batch's lanes as tensors on `B`'s device.
pub struct Tensors<B: Backend>(std::marker::PhantomData<fn() -> B>);

/// `f32` lanes: a `[N]` float tensor.
#[derive(Clone, Debug)]
pub struct TensorF32<B: Backend>(pub Tensor<B, 1>);

/// `f64` lanes: a `[N]` float tensor of dtype `f64`.
#[derive(Clone, Debug)]
pub struct TensorF64<B: Backend>(pub Tensor<B, 1>);

/// Masks: a `[N]` bool tensor.
#[derive(Clone, Debug)]
pub struct TensorMask<B: Backend>(pub Tensor<B, 1, Bool>);

macro_rules! real_ops {
    ($t:ident, $e:ty) => {
        impl<B: Backend> Add for $t<B> {
            type Output = Self;
            fn add(self, o: Self) -> Self {
                $t(self.0 + o.0)
            }
        }
        impl<B: Backend> Sub for $t<B> {
            type Output = Self;
            fn sub(self, o: Self) -> Self {
                $t(self.0 - o.0)
            }
        }
        impl<B: Backend> Mul for $t<B> {
            type Output = Self;
            fn mul(self, o: Self) -> Self {
                $t(self.0 * o.0)
            }
        }
        impl<B: Backend> Div for $t<B> {
            type Output = Self;
            fn div(self, o: Self) -> Self {
                $t(self.0 / o.0)
            }
        }
        impl<B: Backend> Neg for $t<B> {
            type Output = Self;
            fn neg(self) -> Self {
                $t(self.0.neg())
            }
        }
        impl<B: Backend> Add<$e> for $t<B> {
            type Output = Self;
            fn add(self, c: $e) -> Self {
                $t(self.0.add_scalar(c))
            }
        }
        impl<B: Backend> Sub<$e> for $t<B> {
            type Output = Self;
            fn sub(self, c: $e) -> Self {
                $t(self.0.sub_scalar(c))
            }
        }
        impl<B: Backend> Mul<$e> for $t<B> {
            type Output = Self;
            fn mul(self, c: $e) -> Self {
                $t(self.0.mul_scalar(c))
            }
        }
        impl<B: Backend> Div<$e> for $t<B> {
            type Output = Self;
            fn div(self, c: $e) -> Self {
                $t(self.0.div_scalar(c))
            }
        }
        impl<B: Backend> Real<$e> for $t<B> {
            type Mask = TensorMask<B>;
            fn splat(&self, value: $e) -> Self {
                $t(self.0.full_like(value))
            }
            fn lt(self, o: Self) -> TensorMask<B> {
                TensorMask(self.0.lower(o.0))
            }
            fn le(self, o: Self) -> TensorMask<B> {
                TensorMask(self.0.lower_equal(o.0))
            }
            fn lt_c(self, c: $e) -> TensorMask<B> {
                TensorMask(self.0.lower_elem(c))
            }
            fn le_c(self, c: $e) -> TensorMask<B> {
                TensorMask(self.0.lower_equal_elem(c))
            }
            fn gt_c(self, c: $e) -> TensorMask<B> {
                TensorMask(self.0.greater_elem(c))
            }
            fn ge_c(self, c: $e) -> TensorMask<B> {
                TensorMask(self.0.greater_equal_elem(c))
            }
            fn eq_c(self, c: $e) -> TensorMask<B> {
                TensorMask(self.0.equal_elem(c))
            }
            fn select(mask: TensorMask<B>, then: Self, otherwise: Self) -> Self {
                $t(otherwise.0.mask_where(mask.0, then.0))
            }
            fn min_c(self, c: $e) -> Self {
                $t(self.0.clamp_max(c))
            }
            fn max_c(self, c: $e) -> Self {
                $t(self.0.clamp_min(c))
            }
            fn abs(self) -> Self {
                $t(self.0.abs())
            }
            fn sin(self) -> Self {
                $t(self.0.sin())
            }
            fn cos(self) -> Self {
                $t(self.0.cos())
            }
        }
    };
}

real_ops!(TensorF32, f32);
real_ops!(TensorF64, f64);

impl<B: Backend> BitAnd for TensorMask<B> {
    type Output = Self;
    fn bitand(self, o: Self) -> Self {
        TensorMask(self.0.bool_and(o.0))
    }
}
impl<B: Backend> BitOr for TensorMask<B> {
    type Output = Self;
    fn bitor(self, o: Self) -> Self {
        TensorMask(self.0.bool_or(o.0))
    }
}
impl<B: Backend> Not for TensorMask<B> {
    type Output = Self;
    fn not(self) -> Self {
        TensorMask(self.0.bool_not())
    }
}
impl<B: Backend> BitAnd<bool> for TensorMask<B> {
    type Output = Self;
    fn bitand(self, c: bool) -> Self {
        if c { self } else { TensorMask(self.0.clone().bool_and(self.0.bool_not())) }
    }
}
impl<B: Backend> BitOr<bool> for TensorMask<B> {
    type Output = Self;
    fn bitor(self, c: bool) -> Self {
        if c { TensorMask(self.0.clone().bool_or(self.0.bool_not())) } else { self }
    }
}
impl<B: Backend> Mask for TensorMask<B> {
    fn pick(self, then: Self, otherwise: Self) -> Self {
        TensorMask(then.0.bool_and(self.0.clone()).bool_or(otherwise.0.bool_and(self.0.bool_not())))
    }
}

impl<B: Backend> Lanes for Tensors<B> {
    type F = TensorF32<B>;
    type D = TensorF64<B>;
    type M = TensorMask<B>;
    type A = Tensor<B, 1, Int>;
    type Words = Words<B>;
    type Context = B::Device;

    fn is(actions: &Self::A, action: u32) -> TensorMask<B> {
        TensorMask(actions.clone().equal_elem(i64::from(action)))
    }
    fn uniform(words: &Words<B>, draw: u32) -> TensorF32<B> {
        TensorF32(uniform_f32(words.clone(), draw))
    }
    fn narrow(d: TensorF64<B>) -> TensorF32<B> {
        TensorF32(d.0.cast(FloatDType::F32))
    }
    fn widen(f: TensorF32<B>) -> TensorF64<B> {
        TensorF64(f.0.cast(FloatDType::F64))
    }
    fn floats(cx: &B::Device, values: Vec<f32>) -> TensorF32<B> {
        let n = values.len();
        TensorF32(Tensor::from_data(TensorData::new(values, [n]), (cx, DType::F32)))
    }
    fn doubles(cx: &B::Device, values: Vec<f64>) -> TensorF64<B> {
        let n = values.len();
        TensorF64(Tensor::from_data(TensorData::new(values, [n]), (cx, DType::F64)))
    }
    fn masks(cx: &B::Device, values: Vec<bool>) -> TensorMask<B> {
        let n = values.len();
        TensorMask(Tensor::from_data(TensorData::new(values, [n]), cx))
    }
    fn read_floats(lanes: &TensorF32<B>) -> Vec<f32> {
        lanes.0.clone().into_data().convert::<f32>().to_vec().expect("f32 lanes")
    }
    fn read_doubles(lanes: &TensorF64<B>) -> Vec<f64> {
        lanes.0.clone().into_data().convert::<f64>().to_vec().expect("f64 lanes")
    }
    fn read_masks(lanes: &TensorMask<B>) -> Vec<bool> {
        super::read_bools(lanes.0.clone())
    }
}

#[cfg(test)]
mod tests {
    use burn::backend::Flex;

    use super::*;
    use crate::lanes::{Scalar, select};
    use crate::rng::{Draws, StreamKey};

    /// A small step written once, on scalars and on tensors: the same bits.
    fn toy<V: Lanes>(x: V::F, d: V::D, m: V::M, words: &V::Words) -> (V::F, V::D, V::M) {
        let u = V::uniform_of(words, &[(m.clone(), 3)], 5);
        let y = select(x.clone().lt_c(0.5) | m.clone(), (x.clone() * 1.5 + u.clone()) / 3.0, -x.clone().max_c(0.25));
        let e = V::widen(y.clone()) * 0.1 - d.clone().abs().min_c(2.0);
        let n = !(y.clone().le(u) & true) | false;
        (y + V::narrow(e.clone()), e, n)
    }

    #[test]
    fn tensor_lanes_compute_what_scalar_lanes_compute() {
        let device = Default::default();
        let n = 500;
        let xs: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin()).collect();
        let ds: Vec<f64> = (0..n).map(|i| (i as f64 * 0.11).cos() * 3.0).collect();
        let ms: Vec<bool> = (0..n).map(|i| i % 3 == 0).collect();
        let keys: Vec<StreamKey> = (0..n).map(|i| StreamKey::derive(1, 2, i as u64)).collect();
        let words = super::super::rng::Keys::<Flex>::new(&keys, 0, &device).base(9);
        let (y, e, m) = toy::<Tensors<Flex>>(
            Tensors::floats(&device, xs.clone()),
            Tensors::doubles(&device, ds.clone()),
            Tensors::masks(&device, ms.clone()),
            &words,
        );
        let (y, e, m) = (Tensors::read_floats(&y), Tensors::read_doubles(&e), Tensors::read_masks(&m));
        for i in 0..n {
            let w = Draws::base_of(keys[i], 9);
            let (ys, es, msk) = toy::<Scalar>(xs[i], ds[i], ms[i], &w);
            assert_eq!((y[i].to_bits(), e[i].to_bits(), m[i]), (ys.to_bits(), es.to_bits(), msk), "lane {i}");
        }
    }
}
