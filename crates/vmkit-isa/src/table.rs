//! The instruction table: the single definition of the vmkit ISA.
//!
//! Every other artefact (the [`Op`](crate::Op) enum, opcode numbers, the encoder, the
//! decoder, the text form used by the assembler and disassembler, the interpreter's
//! handler coverage and the reference table in `docs/isa.md`) is derived from the list
//! below. Adding an instruction is one line here plus its semantics in the machine.
//!
//! Each line reads `Name = opcode, "mnemonic", form, [slots];` where
//! - `form` is `plain` (one opcode) or `sized` (four consecutive opcodes starting at
//!   `opcode`, one per operand size: `+0` byte, `+1` word, `+2` dword, `+3` qword);
//! - `slots` are the operand kinds, see [`Slot`](crate::Slot).
//!
//! The doc comment on each line is its one-line pseudo-semantics.

/// Invokes `$m! { ... }` with the whole instruction table.
///
/// The callback receives, for every instruction, its doc comment, name, opcode, mnemonic,
/// form (`plain` or `sized`) and operand slots.
#[macro_export]
macro_rules! for_each_op {
    ($m:ident) => {
        $m! {
            /// do nothing
            Nop = 0x01, "nop", plain, [];
            /// stop the machine normally with exit status 0
            Halt = 0x02, "halt", plain, [];
            /// breakpoint: stop with a breakpoint event; ip points past the instruction
            Brk = 0x03, "brk", plain, [];
            /// sp -= 8; mem64[sp] = flags
            Pushf = 0x04, "pushf", plain, [];
            /// flags = mem64[sp] & 0xF; sp += 8
            Popf = 0x05, "popf", plain, [];
            /// ip = mem64[sp]; sp += 8
            Ret = 0x06, "ret", plain, [];
            /// dst = effective address of mem (64 bits, no memory access)
            Lea = 0x07, "lea", plain, [Dst, Mem];
            /// ip = next_ip + rel
            Jmp = 0x08, "jmp", plain, [Rel];
            /// ip = src (64 bits)
            JmpInd = 0x09, "jmp", plain, [Src];
            /// sp -= 8; mem64[sp] = next_ip; ip = next_ip + rel
            Call = 0x0A, "call", plain, [Rel];
            /// sp -= 8; mem64[sp] = next_ip; ip = src (64 bits)
            CallInd = 0x0B, "call", plain, [Src];
            /// if cond(flags) { ip = next_ip + rel }
            Jcc = 0x0C, "j", plain, [Cond, Rel];
            /// system call number n: arguments in r1..r3, result in r0 (see docs/isa.md)
            Sys = 0x0D, "sys", plain, [U8];
            /// call host function n of the image's import table: arguments r1..r6, result r0
            Hcall = 0x0E, "hcall", plain, [U16];
            /// dst = f64(dst) + f64(src)
            Fadd = 0x10, "fadd", plain, [Dst, Src];
            /// dst = f64(dst) - f64(src)
            Fsub = 0x11, "fsub", plain, [Dst, Src];
            /// dst = f64(dst) * f64(src)
            Fmul = 0x12, "fmul", plain, [Dst, Src];
            /// dst = f64(dst) / f64(src) (IEEE: division by zero gives inf or NaN)
            Fdiv = 0x13, "fdiv", plain, [Dst, Src];
            /// dst = min(f64(dst), f64(src)) (NaN if either is NaN)
            Fmin = 0x14, "fmin", plain, [Dst, Src];
            /// dst = max(f64(dst), f64(src)) (NaN if either is NaN)
            Fmax = 0x15, "fmax", plain, [Dst, Src];
            /// dst = sqrt(f64(src))
            Fsqrt = 0x16, "fsqrt", plain, [Dst, Src];
            /// dst = -f64(src)
            Fneg = 0x17, "fneg", plain, [Dst, Src];
            /// dst = |f64(src)|
            Fabs = 0x18, "fabs", plain, [Dst, Src];
            /// compare f64(a) with f64(b): ZF = a==b, CF = a<b, SF = 0, OF = 0; unordered sets ZF CF OF
            Fcmp = 0x19, "fcmp", plain, [Src, Src];
            /// dst = f64 from signed i64(src) (004's cast int -> float)
            Cvtif = 0x1A, "cvtif", plain, [Dst, Src];
            /// dst = i64 from f64(src), truncating; NaN or out of range gives i64::MIN
            Cvtfi = 0x1B, "cvtfi", plain, [Dst, Src];
            /// dst = src
            Mov = 0x20, "mov", sized, [Dst, Src];
            /// dst (64 bits) = zero-extend src (operand size)
            Movzx = 0x24, "movzx", sized, [Dst, Src];
            /// dst (64 bits) = sign-extend src (operand size)
            Movsx = 0x28, "movsx", sized, [Dst, Src];
            /// swap a and b
            Xchg = 0x2C, "xchg", sized, [Dst, Dst];
            /// sp -= size; mem[sp] = src
            Push = 0x30, "push", sized, [Src];
            /// dst = mem[sp]; sp += size
            Pop = 0x34, "pop", sized, [Dst];
            /// dst = dst + src; sets ZF SF CF OF
            Add = 0x38, "add", sized, [Dst, Src];
            /// dst = dst + src + CF; sets ZF SF CF OF
            Adc = 0x3C, "adc", sized, [Dst, Src];
            /// dst = dst - src; sets ZF SF CF OF
            Sub = 0x40, "sub", sized, [Dst, Src];
            /// dst = dst - src - CF; sets ZF SF CF OF
            Sbb = 0x44, "sbb", sized, [Dst, Src];
            /// dst = low half of dst * src (unsigned); CF = OF = high half != 0; ZF SF from result
            Mul = 0x48, "mul", sized, [Dst, Src];
            /// dst = low half of dst * src (signed); CF = OF = result overflowed; ZF SF from result
            Imul = 0x4C, "imul", sized, [Dst, Src];
            /// dst = high half of dst * src (unsigned); flags unchanged
            Mulh = 0x50, "mulh", sized, [Dst, Src];
            /// dst = high half of dst * src (signed); flags unchanged
            Imulh = 0x54, "imulh", sized, [Dst, Src];
            /// dst = dst / src (unsigned); faults on src == 0; flags unchanged
            Div = 0x58, "div", sized, [Dst, Src];
            /// dst = dst / src (signed, toward zero); faults on src == 0 and MIN / -1
            Idiv = 0x5C, "idiv", sized, [Dst, Src];
            /// dst = dst % src (unsigned); faults on src == 0
            Rem = 0x60, "rem", sized, [Dst, Src];
            /// dst = dst % src (signed, sign of dividend); faults on src == 0 and MIN % -1
            Irem = 0x64, "irem", sized, [Dst, Src];
            /// dst = -dst; sets ZF SF OF, CF = dst != 0
            Neg = 0x68, "neg", sized, [Dst];
            /// dst = !dst; flags unchanged
            Not = 0x6C, "not", sized, [Dst];
            /// dst = dst + 1; sets ZF SF OF, CF unchanged
            Inc = 0x70, "inc", sized, [Dst];
            /// dst = dst - 1; sets ZF SF OF, CF unchanged
            Dec = 0x74, "dec", sized, [Dst];
            /// dst = dst & src; sets ZF SF, clears CF OF
            And = 0x78, "and", sized, [Dst, Src];
            /// dst = dst | src; sets ZF SF, clears CF OF
            Or = 0x7C, "or", sized, [Dst, Src];
            /// dst = dst ^ src; sets ZF SF, clears CF OF
            Xor = 0x80, "xor", sized, [Dst, Src];
            /// dst = dst << (src mod bits); count != 0: ZF SF from result, CF = last bit out, OF = 0
            Shl = 0x84, "shl", sized, [Dst, Src];
            /// dst = dst >> (src mod bits) (logical); count != 0: ZF SF, CF = last bit out, OF = 0
            Shr = 0x88, "shr", sized, [Dst, Src];
            /// dst = dst >> (src mod bits) (arithmetic); count != 0: ZF SF, CF = last bit out, OF = 0
            Sar = 0x8C, "sar", sized, [Dst, Src];
            /// dst = rotate dst left by (src mod bits); count != 0: CF = lowest result bit
            Rol = 0x90, "rol", sized, [Dst, Src];
            /// dst = rotate dst right by (src mod bits); count != 0: CF = highest result bit
            Ror = 0x94, "ror", sized, [Dst, Src];
            /// a - b, result discarded; sets ZF SF CF OF
            Cmp = 0x98, "cmp", sized, [Src, Src];
            /// a & b, result discarded; sets ZF SF, clears CF OF
            Test = 0x9C, "test", sized, [Src, Src];
            /// dst = cond(flags) ? 1 : 0 (written at operand size)
            Setcc = 0xA0, "set", sized, [Cond, Dst];
            /// if cond(flags) { dst = src }
            Cmovcc = 0xA4, "cmov", sized, [Cond, Dst, Src];
            /// dst = dst with its bytes reversed (identity at byte size); flags unchanged
            Bswap = 0xA8, "bswap", sized, [Dst];
        }
    };
}
