//! The HJ 212-2017 check code.
//!
//! HJ 212 specifies a CRC-16 that is *not* CRC-16/MODBUS, although both use the
//! polynomial 0xA001 and the initial value 0xFFFF: HJ 212 XORs each data byte into the
//! **high** byte position (`reg = (reg >> 8) ^ byte`) before the eight shift/XOR steps,
//! whereas Modbus XORs the byte into the low byte (`reg ^= byte`). Several public
//! implementations use the Modbus routine (or print its bytes swapped) and so reject
//! every frame a real terminal sends. For the data segment `123456789` HJ 212 gives
//! `2F80`; CRC-16/MODBUS gives `4B37`.
//!
//! Two more traps seen in public receivers: Java code that XORs a *signed* `byte` into an
//! `int` register sign-extends every byte ≥ 0x80, so frames whose data segment carries
//! non-ASCII text (a station name in Chinese) fail; and formatting the CRC with
//! `Integer.toHexString` drops leading zeros, producing 3-character check codes. Here the
//! register works on `u8` and the code is always 4 upper-case hex digits.

/// The HJ 212 CRC-16 of `data` (the frame's data segment), bit by bit as the standard
/// describes it.
pub fn crc16_bitwise(data: &[u8]) -> u16 {
    let mut reg: u16 = 0xFFFF;
    for &byte in data {
        reg = (reg >> 8) ^ u16::from(byte);
        for _ in 0..8 {
            let carry = reg & 1;
            reg >>= 1;
            if carry == 1 {
                reg ^= 0xA001;
            }
        }
    }
    reg
}

/// The eight shift/XOR steps applied to each possible byte value.
///
/// After `reg = (reg >> 8) ^ byte` the register is below 256, and the eight steps are a
/// function of that value alone, so one lookup replaces them.
const TABLE: [u16; 256] = {
    let mut t = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        let mut reg = i as u16;
        let mut k = 0;
        while k < 8 {
            let carry = reg & 1;
            reg >>= 1;
            if carry == 1 {
                reg ^= 0xA001;
            }
            k += 1;
        }
        t[i] = reg;
        i += 1;
    }
    t
};

/// `SLICE[j][x]` = g^(j+1)(x), where g(x) = `TABLE[x] >> 8`.
///
/// Only the high byte of the register survives a step (`reg >> 8`), so between bytes
/// the state is one byte `h`, and a step is `h' = g(h ^ byte)`. The shift/XOR steps are
/// linear over GF(2), so g is too, and eight steps unroll to
/// `h8 = g⁸(h ^ b0) ^ g⁷(b1) ^ … ^ g¹(b7)`: one lookup on the dependency chain per eight
/// bytes instead of eight (the classic "slicing" trick, adapted to this CRC).
const SLICE: [[u8; 256]; 8] = {
    let mut s = [[0u8; 256]; 8];
    let mut x = 0;
    while x < 256 {
        let mut v = x as u8;
        let mut j = 0;
        while j < 8 {
            v = (TABLE[v as usize] >> 8) as u8;
            s[j][x] = v;
            j += 1;
        }
        x += 1;
    }
    s
};

/// The HJ 212 CRC-16 of `data` (the frame's data segment).
pub fn crc16(data: &[u8]) -> u16 {
    let Some((&last, body)) = data.split_last() else {
        return 0xFFFF;
    };
    let mut h: u8 = 0xFF;
    let mut chunks = body.chunks_exact(8);
    for c in &mut chunks {
        h = SLICE[7][usize::from(h ^ c[0])]
            ^ SLICE[6][usize::from(c[1])]
            ^ SLICE[5][usize::from(c[2])]
            ^ SLICE[4][usize::from(c[3])]
            ^ SLICE[3][usize::from(c[4])]
            ^ SLICE[2][usize::from(c[5])]
            ^ SLICE[1][usize::from(c[6])]
            ^ SLICE[0][usize::from(c[7])];
    }
    for &b in chunks.remainder() {
        h = SLICE[0][usize::from(h ^ b)];
    }
    TABLE[usize::from(h ^ last)]
}

/// CRC-16/MODBUS, kept only to show in tests and documentation how it differs.
#[cfg(test)]
pub(crate) fn crc16_modbus(data: &[u8]) -> u16 {
    let mut reg: u16 = 0xFFFF;
    for &byte in data {
        reg ^= u16::from(byte);
        for _ in 0..8 {
            let carry = reg & 1;
            reg >>= 1;
            if carry == 1 {
                reg ^= 0xA001;
            }
        }
    }
    reg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_value_of_the_contract() {
        assert_eq!(crc16(b"123456789"), 0x2F80);
        // The Modbus routine gives a different answer on the same bytes.
        assert_eq!(crc16_modbus(b"123456789"), 0x4B37);
        assert_eq!(crc16(b""), 0xFFFF);
    }

    #[test]
    fn table_agrees_with_the_bitwise_definition() {
        let mut data = Vec::new();
        for i in 0..2000u32 {
            data.push((i.wrapping_mul(2_654_435_761) >> 13) as u8);
            assert_eq!(crc16(&data), crc16_bitwise(&data));
        }
    }

    #[test]
    fn check_value_of_a_real_frame() {
        let data = b"ST=22;CN=2011;PW=123456;MN=LB4200001;CP=&&DataTime=20210107140000;a05002-Rtd=16.996,a05002-Flag=N;a34006-Rtd=1074,a34006-Flag=N;a24088-Rtd=5.011,a24088-Flag=N;a21003-Rtd=5.874,a21003-Flag=N;a21004-Rtd=9.194,a21004-Flag=N;a21002-Rtd=18.169,a21002-Flag=N;a34007-Rtd=2743,a34007-Flag=N;a21026-Rtd=1.119,a21026-Flag=N;a34049-Rtd=3817,a34049-Flag=N;a99999-Rtd=22.007,a99999-Flag=N&&";
        assert_eq!(data.len(), 377);
        assert_eq!(crc16(data), 0x7940);
    }
}
