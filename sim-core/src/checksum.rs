//! An order-sensitive 64-bit checksum of everything a run produced (observations, rewards,
//! safety records, network weights), to compare runs bit for bit.

/// Accumulates 32-bit words in four independent lanes (fast), finalised with SplitMix64.
#[derive(Clone, Debug)]
pub struct Checksum {
    lanes: [u64; 4],
    words: u64,
}

impl Default for Checksum {
    fn default() -> Self {
        Checksum {
            lanes: [0x243f_6a88_85a3_08d3, 0x1319_8a2e_0370_7344, 0xa409_3822_299f_31d0, 0x082e_fa98_ec4e_6c89],
            words: 0,
        }
    }
}

impl Checksum {
    /// Adds words in order.
    pub fn add_words(&mut self, words: impl IntoIterator<Item = u32>) {
        for w in words {
            let lane = &mut self.lanes[(self.words & 3) as usize];
            *lane = (*lane ^ u64::from(w)).wrapping_mul(0x0000_0100_0000_01b3).rotate_left(29);
            self.words += 1;
        }
    }

    /// Adds `f32` values by their bits.
    pub fn add_f32(&mut self, values: &[f32]) {
        self.add_words(values.iter().map(|v| v.to_bits()));
    }

    /// Adds flags, 32 to a word.
    pub fn add_flags(&mut self, flags: &[bool]) {
        self.add_words(flags.chunks(32).map(|c| c.iter().enumerate().fold(0u32, |w, (i, &b)| w | (u32::from(b) << i))));
    }

    /// The checksum so far.
    pub fn value(&self) -> u64 {
        let mut h = self.words;
        for lane in self.lanes {
            h = splitmix64(h ^ lane);
        }
        h
    }

    /// The checksum as 16 hexadecimal digits.
    pub fn hex(&self) -> String {
        format!("{:016x}", self.value())
    }
}

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_and_content_change_the_checksum() {
        let sum = |f: &[f32], b: &[bool]| {
            let mut c = Checksum::default();
            c.add_f32(f);
            c.add_flags(b);
            c.hex()
        };
        let base = sum(&[1.0, 2.0, 3.0], &[true, false]);
        assert_eq!(base.len(), 16);
        assert_eq!(base, sum(&[1.0, 2.0, 3.0], &[true, false]));
        assert_ne!(base, sum(&[2.0, 1.0, 3.0], &[true, false]));
        assert_ne!(base, sum(&[1.0, 2.0, 3.0], &[false, false]));
        assert_ne!(base, sum(&[1.0, 2.0, 3.0, 0.0], &[true, false]));
        assert_ne!(sum(&[0.0], &[]), sum(&[-0.0], &[]), "bits, not values");
    }
}
