//! Condition codes: the sixteen predicates of `jcc`/`setcc`/`cmovcc` over EFLAGS, and how
//! an iced-x86 instruction names them. The reference semantics and the fast engine's
//! micro-op translation both use these, so a condition means the same thing on both paths.

use super::flags::{CF, OF, PF, SF, ZF};
use iced_x86::Mnemonic;

/// Whether condition `cc` holds in `eflags`. `cc` is the 4-bit condition field of
/// `jcc`/`setcc`/`cmovcc` (0 = o, 1 = no, 2 = b, 3 = ae, 4 = e, 5 = ne, 6 = be, 7 = a,
/// 8 = s, 9 = ns, 10 = p, 11 = np, 12 = l, 13 = ge, 14 = le, 15 = g): bit 0 negates.
#[inline]
pub(crate) fn condition(cc: u8, eflags: u32) -> bool {
    let bit = |b: u32| eflags & b != 0;
    let holds = match (cc >> 1) & 7 {
        0 => bit(OF),
        1 => bit(CF),
        2 => bit(ZF),
        3 => eflags & (CF | ZF) != 0,
        4 => bit(SF),
        5 => bit(PF),
        6 => bit(SF) != bit(OF),
        _ => bit(ZF) || (bit(SF) != bit(OF)),
    };
    holds ^ (cc & 1 != 0)
}

/// The 4-bit condition field (see [`condition`]) of a condition code.
pub(crate) fn condition_number(cc: iced_x86::ConditionCode) -> Option<u8> {
    use iced_x86::ConditionCode as C;
    Some(match cc {
        C::o => 0,
        C::no => 1,
        C::b => 2,
        C::ae => 3,
        C::e => 4,
        C::ne => 5,
        C::be => 6,
        C::a => 7,
        C::s => 8,
        C::ns => 9,
        C::p => 10,
        C::np => 11,
        C::l => 12,
        C::ge => 13,
        C::le => 14,
        C::g => 15,
        C::None => return None,
    })
}

/// Whether `m` is one of the sixteen `setcc`.
pub(crate) fn is_setcc(m: Mnemonic) -> bool {
    use Mnemonic as M;
    matches!(
        m,
        M::Seta
            | M::Setae
            | M::Setb
            | M::Setbe
            | M::Sete
            | M::Setne
            | M::Setg
            | M::Setge
            | M::Setl
            | M::Setle
            | M::Seto
            | M::Setno
            | M::Setp
            | M::Setnp
            | M::Sets
            | M::Setns
    )
}

/// Whether `m` is one of the sixteen `cmovcc`.
pub(crate) fn is_cmovcc(m: Mnemonic) -> bool {
    use Mnemonic as M;
    matches!(
        m,
        M::Cmova
            | M::Cmovae
            | M::Cmovb
            | M::Cmovbe
            | M::Cmove
            | M::Cmovne
            | M::Cmovg
            | M::Cmovge
            | M::Cmovl
            | M::Cmovle
            | M::Cmovo
            | M::Cmovno
            | M::Cmovp
            | M::Cmovnp
            | M::Cmovs
            | M::Cmovns
    )
}
