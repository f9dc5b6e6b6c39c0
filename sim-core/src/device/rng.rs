//! [`crate::rng::Draws`] as integer tensor operations, bit for bit.
//!
//! A `u32` lives in an `i64` tensor element in `[0, 2^32)`. Every operation keeps every
//! intermediate below `2^50`, so nothing overflows on any backend and no scalar needs more
//! than 16 bits (burn's integer scalars are the backend's `IntElem`, often `i32`):
//! multiplication by a 32-bit constant splits both factors into 16-bit halves and drops the
//! part that lands above bit 63 of the product; reduction modulo `2^32` is `x - (x >> 32 << 32)`.

use crate::rng::{MIX_MULTIPLIERS, StreamKey, draw_salt};
use burn::tensor::backend::Backend;
use burn::tensor::{DType, ElementConversion, Int, Tensor, TensorData};

/// A batch of `u32` values, one per environment, on the device.
pub type Words<B> = Tensor<B, 1, Int>;

fn int<B: Backend>(x: i64) -> B::IntElem {
    x.elem()
}

/// Words from host values.
pub fn words<B: Backend>(values: &[u32], device: &B::Device) -> Words<B> {
    let data: Vec<i64> = values.iter().map(|&v| i64::from(v)).collect();
    Tensor::from_data(TensorData::new(data, [values.len()]), (device, DType::I64))
}

/// `x mod 2^32` for `0 <= x < 2^63`.
fn wrap<B: Backend>(x: Words<B>) -> Words<B> {
    let high = x.clone().bitwise_right_shift_scalar(int::<B>(32)).bitwise_left_shift_scalar(int::<B>(32));
    x - high
}

/// `x * c mod 2^32`.
fn mul_u32<B: Backend>(x: Words<B>, c: u32) -> Words<B> {
    let (c_lo, c_hi) = (i64::from(c & 0xffff), i64::from(c >> 16));
    let lo = x.clone().bitwise_and_scalar(int::<B>(0xffff));
    let hi = x.bitwise_right_shift_scalar(int::<B>(16));
    // x * c = lo*c_lo + (lo*c_hi + hi*c_lo) << 16 + hi*c_hi << 32; the last term is 0 mod 2^32.
    let cross = lo.clone().mul_scalar(c_hi) + hi.mul_scalar(c_lo);
    wrap(lo.mul_scalar(c_lo) + wrap(cross).bitwise_left_shift_scalar(int::<B>(16)))
}

/// `x ^ c` for a 32-bit constant (in halves, so that the scalars fit 16 bits).
pub fn xor_u32<B: Backend>(x: Words<B>, c: u32) -> Words<B> {
    let lo = x.clone().bitwise_and_scalar(int::<B>(0xffff)).bitwise_xor_scalar(int::<B>(i64::from(c & 0xffff)));
    let hi = x.bitwise_right_shift_scalar(int::<B>(16)).bitwise_xor_scalar(int::<B>(i64::from(c >> 16)));
    hi.bitwise_left_shift_scalar(int::<B>(16)) + lo
}

/// `x ^ (x >> s)`.
fn xorshift<B: Backend>(x: Words<B>, s: i64) -> Words<B> {
    x.clone().bitwise_xor(x.bitwise_right_shift_scalar(int::<B>(s)))
}

/// `sim_core::rng::mix32`, elementwise.
pub fn mix32<B: Backend>(x: Words<B>) -> Words<B> {
    let x = mul_u32(xorshift(x, 16), MIX_MULTIPLIERS[0]);
    let x = mul_u32(xorshift(x, 15), MIX_MULTIPLIERS[1]);
    xorshift(x, 16)
}

/// The keys of a batch of streams, as two words per stream.
#[derive(Clone, Debug)]
pub struct Keys<B: Backend> {
    k0: Words<B>,
    k1: Words<B>,
}

impl<B: Backend> Keys<B> {
    /// Uploads `keys`, each first xored with `salt` in its low word (as
    /// `sim_core::runner::reset_draws` does with its reset salt).
    pub fn new(keys: &[StreamKey], salt: u32, device: &B::Device) -> Self {
        let k0: Vec<u32> = keys.iter().map(|k| k.0[0] ^ salt).collect();
        let k1: Vec<u32> = keys.iter().map(|k| k.0[1]).collect();
        Keys { k0: words(&k0, device), k1: words(&k1, device) }
    }

    /// The per-step base words: `Draws::base_of(key, step)` for every stream.
    pub fn base(&self, step: u32) -> Words<B> {
        mix32(mix32(xor_u32(self.k0.clone(), step)).bitwise_xor(self.k1.clone()))
    }
}

/// `Draws::bits(draw)` for every stream, from the per-step base words.
pub fn bits<B: Backend>(base: Words<B>, draw: u32) -> Words<B> {
    mix32(xor_u32(base, draw_salt(draw)))
}

/// `Draws::uniform(draw)` widened to `f64`, for every stream: `(bits >> 8) / 2^24`, exact.
pub fn uniform_f64<B: Backend>(base: Words<B>, draw: u32) -> Tensor<B, 1> {
    bits(base, draw)
        .bitwise_right_shift_scalar(int::<B>(8))
        .cast(burn::tensor::FloatDType::F64)
        .mul_scalar(1.0 / 16_777_216.0)
}

/// `Draws::uniform(draw)` for every stream, in `f32`: `(bits >> 8) / 2^24`, exact.
pub fn uniform_f32<B: Backend>(base: Words<B>, draw: u32) -> Tensor<B, 1> {
    bits(base, draw)
        .bitwise_right_shift_scalar(int::<B>(8))
        .cast(burn::tensor::FloatDType::F32)
        .mul_scalar(1.0f32 / 16_777_216.0)
}

#[cfg(test)]
mod tests {
    use crate::rng::{Draws, mix32 as mix32_host};
    use burn::backend::Flex;

    use super::*;

    fn host(t: Words<Flex>) -> Vec<u32> {
        t.into_data().convert::<i64>().to_vec::<i64>().unwrap().into_iter().map(|v| v as u32).collect()
    }

    #[test]
    fn mix32_and_draws_match_the_host_generator() {
        let device = Default::default();
        let samples: Vec<u32> =
            (0..4096u32).map(|i| i.wrapping_mul(0x9e37_79b9) ^ (i << 7)).chain([0, 1, u32::MAX, 1 << 31]).collect();
        let got = host(mix32::<Flex>(words(&samples, &device)));
        let want: Vec<u32> = samples.iter().map(|&x| mix32_host(x)).collect();
        assert_eq!(got, want);

        let keys: Vec<StreamKey> = (0..300).map(|i| StreamKey::derive(42, 1, i)).collect();
        let device_keys = Keys::<Flex>::new(&keys, 0, &device);
        for step in [0u32, 1, 499, 0xffff_fffe] {
            for draw in [0u32, 3, 17] {
                let got = host(bits(device_keys.base(step), draw));
                let want: Vec<u32> = keys.iter().map(|&k| Draws::new(k, step).bits(draw)).collect();
                assert_eq!(got, want, "step {step}, draw {draw}");
                let got: Vec<f64> = uniform_f64(device_keys.base(step), draw).into_data().to_vec().unwrap();
                let want: Vec<f64> = keys.iter().map(|&k| f64::from(Draws::new(k, step).uniform(draw))).collect();
                assert_eq!(got, want);
            }
        }
    }
}
