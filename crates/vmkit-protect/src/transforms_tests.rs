//! Transforms, key chains and virtual-code encryption: every inverse undoes its transform
//! at every width, the native instruction a transform becomes computes exactly what the
//! protector assumed, and encrypted blocks decrypt to what was encrypted.
//!
//! Unit tests, not integration tests: transforms, key chains and the encoder are private
//! to the crate.

use crate::bytecode::{decode_block, encode_block};
use crate::rng::Rng;
use crate::transform::{KeyChain, Transform};
use crate::vop::{VKind, VOp};
use crate::VmProfile;
use proptest::prelude::*;
use vmkit_isa::{Instr, Op, Reg, Size};
use vmkit_machine::{Exit, Machine};

fn size() -> impl Strategy<Value = Size> {
    prop::sample::select(Size::ALL.to_vec())
}

/// Runs one instruction natively with r5 = x; returns r5.
fn native(i: Instr, x: u64) -> u64 {
    let mut m = Machine::new(1 << 16);
    let mut code = i.encode().expect("encodes");
    code.extend(
        Instr::new(Op::Halt, Size::Q, &[])
            .encode()
            .expect("encodes"),
    );
    m.load_bytes(0x1000, &code).expect("loads");
    m.set_ip(0x1000);
    m.set_reg(Reg::r(5), x);
    assert_eq!(m.run_for(10), Exit::Halted);
    m.reg(Reg::r(5))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn inverse_undoes_every_transform_at_every_width(seed: u64, s in size(), x: u64) {
        let t = Transform::random(&mut Rng::new(seed), s);
        let m = s.mask();
        prop_assert_eq!(t.inverse().apply(t.apply(x, s), s), x & m, "{} at {:?}", t, s);
        prop_assert_eq!(t.apply(t.inverse().apply(x, s), s), x & m, "{} at {:?}", t, s);
        prop_assert_eq!(Transform::parse(&t.to_string()), Some(t));
    }

    #[test]
    fn the_native_instruction_computes_the_transform(seed: u64, s in size(), x: u64) {
        let t = Transform::random(&mut Rng::new(seed), s);
        let got = native(t.instr(Reg::r(5), s), x);
        // Low bits transformed, upper bits kept: a sized native write.
        prop_assert_eq!(got & s.mask(), t.apply(x, s), "{} at {:?}", t, s);
        prop_assert_eq!(got & !s.mask(), x & !s.mask());
        let back = Transform::from_instr(&t.instr(Reg::r(5), s));
        prop_assert_eq!(back.map(|(_, _, t)| t.apply(x, s)), Some(t.apply(x, s)));
    }

    #[test]
    fn key_chains_decrypt_what_they_encrypt(seed: u64, s in size(), x: u64, key: u64) {
        let c = KeyChain::random(&mut Rng::new(seed), s);
        let (e, k1) = c.encrypt(x, key);
        let (y, k2) = c.decrypt(e, key);
        prop_assert_eq!(y, x & s.mask());
        prop_assert_eq!(k1, k2);
        prop_assert_eq!(k1 & !s.mask(), key & !s.mask());
    }

    #[test]
    fn blocks_decrypt_to_what_was_encrypted(
        seed: u64,
        picks in prop::collection::vec((any::<prop::sample::Index>(), any::<u64>()), 0..40),
        addr in 0x10000u64..0x20000,
    ) {
        let p = VmProfile::random(&mut Rng::new(seed));
        let kinds: Vec<VKind> = VKind::all().into_iter().filter(|k| !k.ends_block()).collect();
        let mut ops: Vec<VOp> = picks
            .iter()
            .map(|(i, imm)| {
                let kind = *i.get(&kinds);
                let imm = kind.imm_size().map_or(0, |s| imm & s.mask());
                VOp { kind, imm }
            })
            .collect();
        ops.push(VOp { kind: VKind::Jmp, imm: 0 });
        let (lo, bytes) = encode_block(&p, addr, &ops).expect("every kind has a handler");
        let read = |a: u64, n: usize| {
            let off = a.checked_sub(lo)? as usize;
            bytes.get(off..off + n).map(<[u8]>::to_vec)
        };
        let got = decode_block(&p, addr, read).expect("decodes");
        prop_assert_eq!(got.iter().map(|d| d.op).collect::<Vec<_>>(), ops);
    }
}
